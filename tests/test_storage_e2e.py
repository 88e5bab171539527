"""A real headless run against the simulator, with an API key: the key lands nowhere."""

from __future__ import annotations

import zipfile
from pathlib import Path

from cli_helpers import headless
from storage_samples import FAKE_KEY

from llm_loadtest.cli import main
from llm_loadtest.storage import Store


def _contains_key(path: Path) -> bool:
    data = path.read_bytes()
    if FAKE_KEY.encode() in data:
        return True
    if zipfile.is_zipfile(path):  # xlsx: look inside the compressed parts
        with zipfile.ZipFile(path) as book:
            return any(FAKE_KEY.encode() in book.read(name) for name in book.namelist())
    return False


def test_the_api_key_of_a_run_is_in_no_database_byte_export_or_log(simulator, tmp_path, capsys):
    sim = simulator(ttft_ms=3, itl_ms=1, api_key=FAKE_KEY, fail_rate_500=0.1, seed=3)
    db = tmp_path / "db" / "runs.db"
    db.parent.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    code = main(
        headless(
            sim.url,
            "-c",
            "1,2",
            "-n",
            "8",
            "--output-len",
            "6",
            "--api-key",
            FAKE_KEY,
            "--db",
            str(db),
            "-o",
            str(out / "run.json"),
            "--log-file",
            str(out / "run.log"),
            "--in-process",
        )
    )
    assert code == 0
    with Store.open(str(db)) as store:
        [row] = store.list_runs()
        assert row.status == "completed" and row.levels == 2
        assert len(store.get_records(row.run_id)) == 16
    for name, extra in (
        ("levels.csv", []),
        ("requests.csv", ["--requests"]),
        ("run.xlsx", []),
        ("export.json", []),
        ("server.csv", ["--samples", "server"]),
    ):
        assert main(["export", row.run_id[:8], "-o", str(out / name), "--db", str(db), *extra]) == 0
    assert main(["show", row.run_id[:8], "--json", "--goodput", "ttft:20", "--db", str(db)]) == 0
    assert main(["history", "--db", str(db)]) == 0
    printed = capsys.readouterr()

    assert FAKE_KEY not in printed.out + printed.err
    files = [*db.parent.iterdir(), *out.iterdir()]
    assert len(files) >= 7
    assert [f.name for f in files if _contains_key(f)] == []
