"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from llm_loadtest.simulator.process import SimulatorProcess


@pytest.fixture
def simulator(tmp_path) -> Iterator[Callable[..., SimulatorProcess]]:
    """`sim = simulator(itl_ms=5, max_seqs=8)`: a started simulator process with a chunk log
    in tmp_path (`sim.url`, `sim.read_chunk_log()`), stopped at teardown."""
    started: list[SimulatorProcess] = []

    def start(**options: object) -> SimulatorProcess:
        options.setdefault("chunk_log", tmp_path / f"chunks-{len(started)}.jsonl")
        sim = SimulatorProcess(**options)
        started.append(sim)
        return sim.start()

    yield start
    for sim in started:
        sim.stop()
