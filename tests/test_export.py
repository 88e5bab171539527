"""Exports read back (json, csv, openpyxl) and compared figure by figure with the result JSON."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import zipfile
from typing import Any

import numpy as np
import openpyxl
import pytest
from storage_samples import FAKE_KEY, make_run, warmup_records

from llm_loadtest.export import to_csv, to_json, to_xlsx, xlsx_export
from llm_loadtest.export.tables import merged_columns
from llm_loadtest.metrics import stats, summarize_level
from llm_loadtest.model.config import GoodputSLO
from llm_loadtest.model.records import Outcome


def leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """The test's own walk of a JSON level: `ttft_ms.p50` -> ("ttft_ms_p50", value)."""
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for key, item in value.items():
            out += leaves(item, f"{path}_{key}" if path else key)
        return out
    return [(path, value)]


COUNT_MAP_PREFIXES = ("requests_errors_", "goodput_by_slo_")


def assert_row_matches_level(row: dict[str, Any], level: dict[str, Any], parse, rel: float = 0.0) -> None:
    """Every figure of the JSON level is in the row (exactly, or to `rel`); nothing is invented
    but the zeros of a count map (an error class or SLO another level has)."""
    seen = {"run_id", "level_index"}
    for key in row:
        if key.startswith("requests_errors_") and key not in dict(leaves(level)):
            assert parse(row[key]) == 0, key
            seen.add(key)
        elif key.startswith("goodput_by_slo_") and key not in dict(leaves(level)):
            assert parse(row[key]) == (0 if level["goodput"] is not None else None), key
            seen.add(key)
    for key, value in leaves(level):
        if value is None or value == {} or value == []:
            # a null statistic: all of its columns are empty (and none claims a value)
            related = [key] if key in row else [c for c in row if c.startswith(key + "_")]
            assert all(parse(row[c]) is None for c in related), key
            seen.update(related)
        elif isinstance(value, list):
            assert parse(row[key]) == "; ".join(map(str, value)), key
            seen.add(key)
        elif isinstance(value, bool):
            assert parse(row[key]) is value, key
            seen.add(key)
        else:
            got = parse(row[key])
            # a number reads back as the same number (openpyxl gives 256.0 back as 256)
            assert not isinstance(got, str) and got == pytest.approx(value, rel=rel, abs=0), (key, got, value)
            seen.add(key)
    assert set(row) == seen, set(row) - seen


def parse_csv_cell(text: str) -> Any:
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@pytest.fixture
def run():
    return make_run()


def test_json_is_exactly_results_md(tmp_path, run):
    result, _ = run
    to_json(result, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data == result.to_json_dict()
    assert data["schema"] == "llm-loadtest/result/v1"
    promised = {
        "schema",
        "run_id",
        "status",
        "started_at",
        "finished_at",
        "config",
        "token_source",
        "environment",
        "levels",
        "gpu_samples",
        "server_samples",
    }
    assert promised <= set(data)
    assert data["started_at"].startswith("2026-11-27T12:00:00")
    assert len(data["levels"]) == 3
    for level in data["levels"]:
        assert_level_keeps_results_md(level)
    assert set(data["gpu_samples"][0]) >= {"t", "gpu", "util", "mem_used_mb", "mem_total_mb", "temp_c", "power_w"}
    assert set(data["server_samples"][0]) >= {"t", "running", "waiting", "kv_cache_usage", "prefix_cache_hit_rate"}


# A level of results.md, key by key (written here from the document, not from the model).
RESULTS_MD_LEVEL = (
    "concurrency",
    "request_rate",
    "requests",
    "duration_s",
    "input_tokens",
    "output_tokens",
    "output_throughput",
    "total_throughput",
    "request_rate_achieved",
    "ttft_ms",
    "tpot_ms",
    "itl_ms",
    "itl_per_token_ms",
    "e2e_ms",
    "error_rate",
    "goodput",
    "client",
)
RESULTS_MD_STATS = {"min", "max", "mean", "std", "p50", "p90", "p95", "p99"}


def assert_level_keeps_results_md(level: dict[str, Any]) -> None:
    assert set(RESULTS_MD_LEVEL) <= set(level), set(RESULTS_MD_LEVEL) - set(level)
    assert set(level["requests"]) >= {"total", "succeeded", "failed", "errors"}
    assert all(isinstance(v, int) for v in level["requests"]["errors"].values())
    for name in ("input_tokens", "output_tokens"):
        assert set(level[name]) >= {"total", "mean"}
    for name in ("ttft_ms", "tpot_ms", "itl_ms", "itl_per_token_ms", "e2e_ms"):
        # a statistic with no data is null, never an object of zeros
        assert level[name] is None or set(level[name]) >= RESULTS_MD_STATS, name
    if level["goodput"] is not None:
        assert set(level["goodput"]) >= {"percent", "good", "total", "rate", "by_slo"}
        assert all(set(count) >= {"met", "total"} for count in level["goodput"]["by_slo"].values())
    if level["client"] is not None:
        assert set(level["client"]) >= {"loop_lag_ms", "cpu_percent", "warnings"}
        assert set(level["client"]["loop_lag_ms"]) >= {"p50", "p99", "max"}


def test_every_level_of_every_export_path_keeps_results_md_keys(tmp_path, run):
    result, _ = run
    to_json(result, tmp_path / "r.json")
    levels = json.loads((tmp_path / "r.json").read_text())["levels"]
    # both a level with client health and one without, a goodput and its by_slo counts
    assert [lv["client"] is None for lv in levels] == [True, False, True]
    assert all(lv["goodput"] and lv["goodput"]["by_slo"] for lv in levels)
    assert all(lv["requests"]["errors"] for lv in levels)
    for level in levels:
        assert_level_keeps_results_md(level)
    # and the CSV has a column for each of those figures
    to_csv(result, tmp_path / "levels.csv")
    with open(tmp_path / "levels.csv", newline="") as handle:
        columns = set(next(csv.reader(handle)))
    expected = {
        "concurrency",
        "request_rate",
        "duration_s",
        "output_throughput",
        "total_throughput",
        "request_rate_achieved",
        "error_rate",
        "requests_total",
        "requests_succeeded",
        "requests_failed",
        "input_tokens_total",
        "input_tokens_mean",
        "output_tokens_total",
        "output_tokens_mean",
        "goodput_percent",
        "goodput_good",
        "goodput_total",
        "goodput_rate",
        "client_cpu_percent",
        "client_warnings",
        "requests_errors_http_503",
        "requests_errors_timeout",
        "goodput_by_slo_ttft_met",
        "goodput_by_slo_ttft_total",
        "goodput_by_slo_tpot_met",
    }
    expected |= {f"{name}_{stat}" for name in ("ttft_ms", "tpot_ms", "itl_ms", "itl_per_token_ms", "e2e_ms") for stat in RESULTS_MD_STATS}
    expected |= {f"client_loop_lag_ms_{stat}" for stat in ("p50", "p99", "max")}
    assert expected <= columns, expected - columns


def test_csv_levels_hold_every_figure_of_the_json(tmp_path, run):
    result, _ = run
    to_csv(result, tmp_path / "levels.csv")
    with open(tmp_path / "levels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    levels = result.to_json_dict()["levels"]
    assert len(rows) == len(levels) == 3
    for index, (row, level) in enumerate(zip(rows, levels, strict=True)):
        assert row["run_id"] == result.run_id and row["level_index"] == str(index)
        assert_row_matches_level(row, level, parse_csv_cell)
    # the promised columns are there even where a figure is null (stable columns across runs)
    for column in (
        "ttft_ms_p50",
        "tpot_ms_p99",
        "itl_per_token_ms_p95",
        "e2e_ms_p99",
        "goodput_percent",
        "client_loop_lag_ms_p99",
        "connect_ms_p50",
    ):
        assert column in rows[0]


def test_csv_requests_give_back_the_level_statistics(tmp_path, run):
    result, records = run
    to_csv(
        result, tmp_path / "requests.csv", requests={i: ([*warmup_records(), *recs] if i == 0 else recs) for i, recs in enumerate(records)}
    )
    with open(tmp_path / "requests.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    flat = [r for level in records for r in level]
    assert len(rows) == len(flat)  # warm-up is left out
    for row, record in zip(rows, flat, strict=True):
        assert row["request_id"] == record.request_id
        assert int(row["t_start_ns"]) == record.t_start_ns and int(row["t_end_ns"]) == record.t_end_ns
        assert row["outcome"] == record.outcome.value
        assert int(row["chunks"]) == len(record.chunk_times_ns)
        assert float(row["e2e_ms"]) == record.e2e_ns / 1e6
        assert row["clock"] == record.clock.value
        if record.t_ready_ns is None:
            assert row["send_delay_ms"] == row["t_ready_ns"] == ""
        else:
            assert float(row["send_delay_ms"]) == (record.t_start_ns - record.t_ready_ns) / 1e6
    for index, level in enumerate(result.levels):
        mine = [r for r in rows if r["level_index"] == str(index) and r["outcome"] == "success"]
        for column, figure in (("ttft_ms", level.ttft_ms), ("tpot_ms", level.tpot_ms), ("e2e_ms", level.e2e_ms)):
            values = np.array([float(r[column]) for r in mine if r[column] != ""])
            assert stats(values) == figure, column


@pytest.mark.parametrize("kind", ["gpu", "server"])
def test_csv_samples_give_back_every_sample(tmp_path, run, kind):
    result, _ = run
    result.server_samples[2] = result.server_samples[2].model_copy(update={"prefix_cache_hit_rate": 0.1 + 0.2})
    to_csv(result, tmp_path / f"{kind}.csv", samples=kind)
    with open(tmp_path / f"{kind}.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = result.to_json_dict()[f"{kind}_samples"]
    assert len(rows) == len(expected) == (12 if kind == "gpu" else 6)
    for row, sample in zip(rows, expected, strict=True):
        # every field of results.md's sample, in the same order, and the very same number
        assert list(row) == list(sample)
        assert {k: parse_csv_cell(v) for k, v in row.items()} == sample


def test_csv_samples_of_a_run_without_any_is_the_header(tmp_path):
    result, _ = make_run(samples=False)
    to_csv(result, tmp_path / "gpu.csv", samples="gpu")
    assert (tmp_path / "gpu.csv").read_text().splitlines() == ["t,gpu,util,mem_used_mb,mem_total_mb,temp_c,power_w,power_limit_w"]


def _run_with_differing_counts():
    """Level 0 fails only with 503s, level 1 only with timeouts, level 2 never; the goodput
    SLOs differ by level (stored goodput kept where a re-analysis had no requests), and the
    last level has none."""
    result, records = make_run(samples=False)
    for record in records[0]:
        if record.outcome is Outcome.TIMEOUT:
            record.outcome, record.http_status = Outcome.HTTP_5XX, 503
    for record in records[1]:
        if record.outcome is Outcome.HTTP_5XX:
            record.outcome, record.http_status = Outcome.TIMEOUT, None
    records[2] = [r for r in records[2] if r.ok]
    slos = [GoodputSLO(ttft_ms=300, tpot_ms=40), GoodputSLO(ttft_ms=300, e2e_ms=900), None]
    result.levels = [
        summarize_level(recs, spec, slo, input_len_requested=result.config.input_len)
        for recs, spec, slo in zip(records, result.config.levels(), slos, strict=True)
    ]
    failed = [sum(not r.ok for r in recs) for recs in records]
    assert failed[0] > 0 and failed[1] > 0 and failed[2] == 0
    return result, records, failed


def _met(records, slo: str, limit_ms: float) -> int:
    """metrics.md's per-SLO count, worked out here from the raw times: succeeded and strictly under."""

    def value_ms(r) -> float:
        ttft = int(r.chunk_times_ns[0]) - r.t_start_ns
        if slo == "ttft":
            return ttft / 1e6
        if slo == "e2e":
            return (r.t_end_ns - r.t_start_ns) / 1e6
        assert r.output_tokens >= 2  # storage_samples: every streamed success has 2+ tokens
        return (r.t_end_ns - r.t_start_ns - ttft) / 1e6 / (r.output_tokens - 1)

    return sum(r.ok and value_ms(r) < limit_ms for r in records)


def _check_differing_counts(rows: list[dict[str, Any]], records, failed, parse) -> None:
    got = [{k: parse(v) for k, v in row.items() if k.startswith(COUNT_MAP_PREFIXES)} for row in rows]
    n = [len(recs) for recs in records]
    # counted here from the records themselves, not from the summaries
    assert got[0] == {
        "requests_errors_http_503": failed[0],
        "requests_errors_timeout": 0,
        "goodput_by_slo_ttft_met": _met(records[0], "ttft", 300),
        "goodput_by_slo_ttft_total": n[0],
        "goodput_by_slo_tpot_met": _met(records[0], "tpot", 40),
        "goodput_by_slo_tpot_total": n[0],
        "goodput_by_slo_e2e_met": 0,
        "goodput_by_slo_e2e_total": 0,
    }
    assert got[1] == {
        "requests_errors_http_503": 0,
        "requests_errors_timeout": failed[1],
        "goodput_by_slo_ttft_met": _met(records[1], "ttft", 300),
        "goodput_by_slo_ttft_total": n[1],
        "goodput_by_slo_tpot_met": 0,
        "goodput_by_slo_tpot_total": 0,
        "goodput_by_slo_e2e_met": _met(records[1], "e2e", 900),
        "goodput_by_slo_e2e_total": n[1],
    }
    # no failure at all: zeros; no SLO at all: goodput is null, so are its counts
    assert got[2] == {
        "requests_errors_http_503": 0,
        "requests_errors_timeout": 0,
        **{f"goodput_by_slo_{s}_{c}": None for s in ("ttft", "tpot", "e2e") for c in ("met", "total")},
    }
    # the figures are neither all nor none of the requests, so the counts say something
    assert 0 < got[0]["goodput_by_slo_tpot_met"] < n[0] and 0 < got[1]["goodput_by_slo_e2e_met"] < n[1]


def test_csv_count_maps_are_zero_where_a_level_lacks_a_key(tmp_path):
    result, records, failed = _run_with_differing_counts()
    to_csv(result, tmp_path / "levels.csv")
    with open(tmp_path / "levels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    _check_differing_counts(rows, records, failed, parse_csv_cell)
    for row, level in zip(rows, result.to_json_dict()["levels"], strict=True):
        assert_row_matches_level(row, level, parse_csv_cell)


def test_xlsx_count_maps_are_zero_where_a_level_lacks_a_key(tmp_path):
    result, records, failed = _run_with_differing_counts()
    to_xlsx(result, None, tmp_path / "levels.xlsx")
    _, rows = _summary_levels(openpyxl.load_workbook(tmp_path / "levels.xlsx")["Summary"])
    _check_differing_counts(rows, records, failed, lambda v: v)
    for row, level in zip(rows, result.to_json_dict()["levels"], strict=True):
        assert_row_matches_level(row, level, lambda v: v, rel=1e-15)


def _summary_levels(sheet) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    about: dict[str, Any] = {}
    rows = list(sheet.iter_rows(values_only=True))
    header_at = next(i for i, r in enumerate(rows) if r[:2] == ("run_id", "level_index"))
    for r in rows[2:header_at]:
        if r and r[0] is not None:
            about.setdefault(r[0], r[1])
    header = rows[header_at]
    levels = [dict(zip(header, r, strict=True)) for r in rows[header_at + 1 :] if any(v is not None for v in r)]
    return about, levels


def test_xlsx_summary_requests_samples_and_charts(tmp_path, run):
    result, records = run
    path = tmp_path / "run.xlsx"
    to_xlsx(result, dict(enumerate(records)), path)
    book = openpyxl.load_workbook(path)  # a strict read-back of every part
    assert book.sheetnames == ["Summary", "Requests", "GPU", "Server"]

    about, levels = _summary_levels(book["Summary"])
    assert about["run_id"] == result.run_id and about["status"] == "completed"
    assert about["config.model"] == "sim-model" and about["config.concurrency"] == "1, 4, 16"
    assert about["config.goodput.ttft_ms"] == 300
    assert about["token_source.output"] == "server"
    json_levels = result.to_json_dict()["levels"]
    assert len(levels) == len(json_levels)
    for row, level in zip(levels, json_levels, strict=True):
        # openpyxl writes 16 significant digits ("%.16g"); Excel itself keeps 15
        assert_row_matches_level(row, level, lambda v: v, rel=1e-15)

    charts = book["Summary"]._charts
    titles = [" ".join(run.t for p in c.title.tx.rich.p for run in (p.r or [])) for c in charts]
    assert titles == ["Output throughput by concurrency", "TTFT by concurrency", "E2E latency by concurrency"]
    assert [len(c.series) for c in charts] == [1, 2, 2]

    requests = list(book["Requests"].iter_rows(values_only=True))
    header = requests[0]
    flat = [r for level in records for r in level]
    assert len(requests) == 1 + len(flat)
    for values, record in zip(requests[1:], flat, strict=True):
        row = dict(zip(header, values, strict=True))
        assert row["request_id"] == record.request_id and row["t_start_ns"] == record.t_start_ns
        assert row["e2e_ms"] == pytest.approx(record.e2e_ns / 1e6, rel=1e-15)

    gpu = list(book["GPU"].iter_rows(values_only=True))
    assert gpu[0][:3] == ("t", "gpu", "util") and len(gpu) == 1 + len(result.gpu_samples)
    assert gpu[1][2] == result.gpu_samples[0].util
    assert len(list(book["Server"].iter_rows())) == 1 + len(result.server_samples)


def test_xlsx_without_samples_or_records(tmp_path):
    result, _ = make_run(samples=False, concurrency=(2,))
    result.config.request_rate = [3.5]
    result.levels[0] = result.levels[0].model_copy(update={"request_rate": 3.5, "concurrency": None})
    to_xlsx(result, None, tmp_path / "bare.xlsx")
    book = openpyxl.load_workbook(tmp_path / "bare.xlsx")
    assert book.sheetnames == ["Summary", "Requests"]
    assert len(list(book["Requests"].iter_rows())) == 1
    assert "by request rate" in book["Summary"]._charts[0].title.tx.rich.p[0].r[0].t


def test_xlsx_says_when_excel_row_limit_cut_requests(tmp_path, run, monkeypatch):
    result, records = run
    monkeypatch.setattr(xlsx_export, "MAX_ROWS", 11)
    to_xlsx(result, dict(enumerate(records)), tmp_path / "cut.xlsx")
    book = openpyxl.load_workbook(tmp_path / "cut.xlsx")
    assert len(list(book["Requests"].iter_rows())) == 11
    notes = [r[1] for r in book["Summary"].iter_rows(values_only=True) if r and r[0] == "warning"]
    assert any("first 10 of 180 requests" in n for n in notes)


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_xlsx_cleans_control_characters_and_cuts_strings_excel_cannot_hold(tmp_path):
    result, records = make_run(concurrency=(1,), samples=False)
    level = records[0]
    assert level[5].error and level[7].error  # a 5xx and a timeout (storage_samples)
    level[5].error = "upstream said \x1b[31mboom\x1b[0m\x00\x07 done\ttab"
    level[7].error = "x" * 40_000
    level[18].error = "\U0001f600" * 20_000  # 20,000 characters, 40,000 UTF-16 units for Excel
    result.warnings.append("bell\x07 and " + "w" * 33_000)
    to_xlsx(result, dict(enumerate(records)), tmp_path / "r.xlsx")

    # the raw parts: no control character at all (Excel calls such a file damaged)
    with zipfile.ZipFile(tmp_path / "r.xlsx") as book:
        for name in book.namelist():
            data = book.read(name)
            assert not any(b in data for b in (b"\x1b", b"\x00", b"\x07")), name
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    rows = list(book["Requests"].iter_rows(values_only=True))
    errors = {row[rows[0].index("request_id")]: row[rows[0].index("error")] for row in rows[1:]}
    assert errors[level[5].request_id] == "upstream said [31mboom[0m done\ttab"
    cut = errors[level[7].request_id]
    assert cut == "x" * (xlsx_export.MAX_CELL_CHARS - 1) + xlsx_export.TRUNCATED_MARK
    wide = errors[level[18].request_id]
    assert _utf16_units(wide) <= xlsx_export.MAX_CELL_CHARS and wide.endswith(xlsx_export.TRUNCATED_MARK)
    assert set(wide[:-1]) == {"\U0001f600"} and len(wide) > 16_000
    # an ordinary error is untouched
    assert errors[level[16].request_id] == level[16].error

    warnings = [r[1] for r in book["Summary"].iter_rows(values_only=True) if r and r[0] == "warning"]
    assert warnings[0] == result.warnings[0]
    assert warnings[1].startswith("bell and www") and len(warnings[1]) == xlsx_export.MAX_CELL_CHARS


def test_no_secret_in_any_export(tmp_path):
    result, records = make_run(environment={"api_key": FAKE_KEY, "headers": {"Authorization": f"Bearer {FAKE_KEY}"}})
    result.config.extra_body = {"api_key": FAKE_KEY}
    to_json(result, tmp_path / "r.json")
    to_csv(result, tmp_path / "levels.csv")
    to_csv(result, tmp_path / "requests.csv", requests=dict(enumerate(records)))
    to_xlsx(result, dict(enumerate(records)), tmp_path / "r.xlsx")
    for path in tmp_path.iterdir():
        assert FAKE_KEY.encode() not in path.read_bytes(), path
    with zipfile.ZipFile(tmp_path / "r.xlsx") as book:  # xlsx is compressed: look inside
        for name in book.namelist():
            assert FAKE_KEY.encode() not in book.read(name), name


@pytest.mark.skipif(shutil.which("libreoffice") is None, reason="LibreOffice not installed")
def test_libreoffice_opens_the_xlsx_with_its_charts(tmp_path, run):
    result, records = run
    to_xlsx(result, dict(enumerate(records)), tmp_path / "run.xlsx")
    for target in ("pdf", "ods"):
        subprocess.run(
            [
                "libreoffice",
                "--headless",
                f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                "--convert-to",
                target,
                "--outdir",
                str(tmp_path / "out"),
                str(tmp_path / "run.xlsx"),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    assert (tmp_path / "out" / "run.pdf").stat().st_size > 10_000
    with zipfile.ZipFile(tmp_path / "out" / "run.ods") as ods:
        charts = [n for n in ods.namelist() if n.startswith("Object ") and n.endswith("/content.xml")]
        text = b"".join(ods.read(n) for n in charts)
    assert len(charts) == 3
    assert b"Output throughput by concurrency" in text and b"ttft_ms_p99" in text


def test_columns_first_seen_late_stay_beside_their_group():
    rows = [{"a": 1, "errors_x": 1, "z": 0}, {"a": 1, "errors_x": 1, "errors_y": 2, "z": 0}, {"a": 1, "errors_w": 3, "z": 0}]
    assert merged_columns(rows) == ["a", "errors_w", "errors_x", "errors_y", "z"]


async def test_the_apps_xlsx_export_has_the_same_requests_rows_as_the_clis(tmp_path, monkeypatch):
    """Both read the stored requests through one path: every Requests row names its level."""
    from textual.widgets import RadioButton

    from llm_loadtest.cli import main
    from llm_loadtest.storage import Store
    from llm_loadtest.tui.app import LoadTestApp
    from llm_loadtest.tui.screens.dialogs import ExportDialog
    from llm_loadtest.tui.screens.result_view import ResultScreen

    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "runs.db")
    result, records = make_run(n=12)
    with Store.open(db) as store:
        store.save(result, records)
    assert main(["export", result.run_id[:8], "--db", db, "-o", str(tmp_path / "cli.xlsx")]) == 0

    with Store.open(db) as store:
        app = LoadTestApp(store=store)
        async with app.run_test(size=(100, 32)) as pilot:
            app.open_result(result.run_id)
            while not (isinstance(app.screen, ResultScreen) and app.screen.result is not None):
                await pilot.pause(0.02)
            result_screen = app.screen
            await pilot.press("e")
            while not isinstance(app.screen, ExportDialog):
                await pilot.pause(0.02)
            app.screen.query_one("#fmt-xlsx", RadioButton).value = True
            await pilot.pause()
            await pilot.press("enter")
            while not result_screen.exported:
                await pilot.pause(0.05)
    [from_app] = result_screen.exported

    def request_rows(path) -> list[tuple]:
        return list(openpyxl.load_workbook(path, read_only=True)["Requests"].iter_rows(values_only=True))

    cli_rows, app_rows = request_rows(tmp_path / "cli.xlsx"), request_rows(from_app)
    assert app_rows == cli_rows
    header, *rows = cli_rows
    assert len(rows) == sum(len(level) for level in records)
    index, concurrency = header.index("level_index"), header.index("concurrency")
    assert [(row[index], row[concurrency]) for row in rows] == [
        (level, result.levels[level].concurrency) for level, recs in enumerate(records) for _ in recs
    ]
