"""Unit tests of the app's small pure parts."""

from __future__ import annotations

import numpy as np
from tui_helpers import RUN_IDS, fill_store, make_level, sample_results

# --- unit tests of the pure parts -----------------------------------------------------------


def test_downsample_keeps_spikes_and_bounds_points():
    from llm_loadtest.tui.widgets.charts import downsample_minmax

    x = np.arange(100_000, dtype=float)
    y = np.sin(x / 500)
    y[12_345] = 40.0
    y[67_890] = -40.0
    xs, ys = downsample_minmax(x, y, 160)
    assert len(xs) <= 160
    assert ys.max() == 40.0 and ys.min() == -40.0
    assert np.all(np.diff(xs) > 0)
    small_x, small_y = downsample_minmax([1, 2, 3], [3, 2, 1], 160)
    assert list(small_y) == [3, 2, 1]
    nan_x, nan_y = downsample_minmax([1, 2, 3], [1, float("nan"), 3], 160)
    assert list(nan_x) == [1, 3]


def test_figures_pick_without_computing():
    from llm_loadtest.tui import figures

    result = sample_results()[1]
    assert figures.best_throughput_level(result).concurrency == 50
    assert figures.best_ttft_level(result).concurrency == 1
    assert figures.worst_error_level(result).error_rate == 0.1
    assert figures.best_goodput_level(result).goodput.percent == 96.0


def test_level_table_writes_the_figures_as_the_cli_does():
    from llm_loadtest.report.presentation import FIGURES
    from llm_loadtest.tui.widgets.level_table import CLIENT, LevelTable
    from llm_loadtest.tui.widgets.level_table import FIGURES as COLUMNS

    level = make_level(8, 300.0, 30.0, 12.0, rate=5.0)
    cells = [cell.plain if hasattr(cell, "plain") else cell for cell in LevelTable._cells(level)]
    assert cells[0] == "5 req/s (max 8)" == level.label
    assert cells[3 : 3 + len(COLUMNS) + len(CLIENT)] == [f.of(level) for f in COLUMNS + CLIENT]
    assert FIGURES["ttft_p50"].of(level) in cells and FIGURES["tpot_p50"].of(level) in cells


def test_settings_round_trip(tmp_path):
    from llm_loadtest.tui.settings import LIGHT_THEME, UISettings

    path = tmp_path / "x" / "tui.toml"
    assert UISettings.load(path).theme == "textual-dark"
    UISettings(theme=LIGHT_THEME).save(path)
    assert UISettings.load(path).theme == LIGHT_THEME
    path.write_text("theme = [", encoding="utf-8")
    assert UISettings.load(path).theme == "textual-dark"
    path.write_text('theme = "textual-light"\n[keymap]\n"app.quit" = "ctrl+q, ctrl+c"\n"result.export" = 3\n', encoding="utf-8")
    loaded = UISettings.load(path)
    assert loaded.keymap == {"app.quit": "ctrl+q,ctrl+c"}  # a value that names no key is left out
    loaded.save(path)
    assert UISettings.load(path) == loaded


def test_sample_results_store_round_trip(store):
    results = fill_store(store)
    assert [row.run_id for row in store.list_runs()] == [r.run_id for r in reversed(results)]
    assert store.get_result(RUN_IDS[1]).levels[2].output_throughput == 1890.4
