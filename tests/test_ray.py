"""`--ray`: the workers of a pool as Ray actors, on a real local Ray cluster started here.

Ray gives its node the machine's own network address; the scenarios run in a network
namespace of their own whose only interface is loopback, so every byte stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from chunk_truth import SLACK_MS

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

SCENARIO = Path(__file__).with_name("ray_scenario.py")


def _in_loopback_namespace(*command: str) -> subprocess.CompletedProcess:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is needed to keep Ray on loopback")
    script = 'ip link set lo up && exec "$@"'  # a new namespace's loopback starts down
    return subprocess.run(["unshare", "--net", "sh", "-c", script, "sh", *command], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> dict:
    probe = _in_loopback_namespace("true")
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {probe.stderr.strip()[:200]}")
    done = _in_loopback_namespace(sys.executable, str(SCENARIO), str(tmp_path_factory.mktemp("ray")))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_ray_stays_on_loopback(scenario):
    assert scenario["node_address"] == "127.0.0.1"


def test_two_actors_give_the_same_records_and_figures_as_two_processes(scenario):
    processes, actors = scenario["processes"], scenario["ray"]
    for run in (processes, actors):
        assert run["status"] == "completed"
        assert run["succeeded"] == run["total"] == run["ids"] == run["unique_ids"] == run["logged_ids"] == 40
        assert run["workers"] == {"0": 20, "1": 20}
        least, most = run["itl_p50_bounds_ms"]
        assert least - SLACK_MS <= run["itl_p50_ms"] <= most + SLACK_MS
    assert actors["run_started"] == [1] and actors["client_nodes"] == 1


def test_an_actor_killed_mid_level_is_reported_and_its_finished_requests_kept(scenario):
    killed = scenario["killed"]
    assert killed["killed"] == 1
    assert killed["status"] == "failed" and killed["levels"] == 1  # the run stops after the level it lost a worker in
    assert killed["ids"] == killed["unique_ids"] == killed["logged"] == killed["total"]
    assert 0 < killed["by_worker"]["1"] < 200  # what it handed over before it died is kept; not its whole share
    assert any("client worker 2 lost" in w and "finished requests are kept" in w for w in killed["level_warnings"])
    assert any("stopped after losing client worker 2" in w for w in killed["warnings"])
