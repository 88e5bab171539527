"""Shared fixtures: a simulator process, and the app's private environment and results store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from tui_helpers import fill_store

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


@pytest.fixture
def tui_env(tmp_path, monkeypatch):
    """A private XDG config/data home, UTC, and no API key from the developer's shell."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for name in ("LLM_LOADTEST_API_KEY", "OPENAI_API_KEY", "LLM_LOADTEST_DB", "DATABASE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def store(tui_env):
    from llm_loadtest.storage.store import Store

    with Store.open(str(tui_env / "runs.db")) as opened:
        yield opened


@pytest.fixture
def filled_store(store):
    fill_store(store)
    return store
