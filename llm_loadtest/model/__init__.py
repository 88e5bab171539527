"""The ground floor: what a run is (configuration), what it records (requests) and what it
yields (results), and the errors every layer raises. Imports nothing else of ours; every
other package builds on it."""
