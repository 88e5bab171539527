"""What a run is asked to do, from wherever it is said: presets, the environment, and the raw
values a front end collected (flags, form inputs), turned into one validated `RunConfig`.

Modules: `env` (the environment variables, read in one place), `presets`, `parse` (text to
field values) and `build` (the one builder the CLI and the app share).
"""
