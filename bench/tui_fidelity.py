"""Does the app distort the figures? TTFT p99 and ITL p99 error against the simulator's log,
with the live screen open and headless, at 64 and 256 concurrent streams.

    python3 bench/tui_fidelity.py [--quick] [--repeats N]

For each number of streams and each mode, a fresh simulator (with its chunk log) serves one
level; the error is the reported p99 minus the p99 of what the simulator logged it did
(TTFT: first chunk's write minus the client's t_start; ITL: gaps between chunk writes). "With
the live screen" runs the real app (headless Textual driver, so the compositor still renders
every frame) on the live-run screen, with the engine in its child process and the app's thread
at a lowered priority, as `llm-loadtest` opens it.

The app must not worsen either error by more than 1 ms: the "app - headless" rows compare
|error| with the screen against |error| headless (medians of --repeats interleaved runs).
"UI CPU s" is this process's CPU time per run (the engine's requests run in its child):
what the app costs, start-up included; "level ms/s" is the part of it spent while the level
ran, per second (what competes with the engine child and the simulator for the cores). The
bench waits on the app with plain sleeps, not the pilot's `pause()`, which makes every widget
process a message: load that a real terminal session never has. "coalesced" (median) counts
the chunks read together with the one before them: on the kernel clock the only way a late
read can move a figure. On a machine with fewer free cores than processes (simulator, engine
child, app) the figures mostly measure the contention. Figures only; the exit status is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_loadtest.engine.controller import RunController  # noqa: E402
from llm_loadtest.engine.events import LevelFinished, LevelStarted  # noqa: E402
from llm_loadtest.model.config import RunConfig  # noqa: E402
from llm_loadtest.simulator.process import SimulatorProcess  # noqa: E402
from llm_loadtest.tui.app import LoadTestApp  # noqa: E402
from llm_loadtest.tui.screens.live_run import LiveRunScreen  # noqa: E402

ALLOWED_WORSENING_MS = 1.0


def make_config(url: str, streams: int, requests: int, output_len: int) -> RunConfig:
    return RunConfig(server=url, model="auto", concurrency=[streams], num_prompts=requests, input_len=64, output_len=output_len, warmup=0)


def new_controller(config: RunConfig, kept: dict) -> RunController:
    controller = RunController(config, gpu=False)

    def listener(event) -> None:
        if isinstance(event, LevelStarted):
            kept["level_cpu"] = (time.process_time(), time.monotonic())
        elif isinstance(event, LevelFinished):
            kept["records"] = event.records
            cpu, wall = kept["level_cpu"]
            kept["level_cpu"] = (time.process_time() - cpu) / max(time.monotonic() - wall, 1e-9)

    controller.subscribe(listener)
    return controller


async def headless(config: RunConfig) -> tuple:
    kept: dict = {}
    result = await new_controller(config, kept).run()
    if not result.levels:
        raise RuntimeError(f"the headless run {result.status}: {'; '.join(result.warnings)}")
    return result.levels[0], kept["records"], None, kept["level_cpu"]


async def with_live_screen(config: RunConfig, size: tuple[int, int]) -> tuple:
    kept: dict = {}
    holder: dict = {}

    def factory(cfg, *, api_key=None, store=None):
        holder["controller"] = new_controller(cfg, kept)
        return holder["controller"]

    # as `run_app` opens it; an in-memory store: the bench keeps nothing
    app = LoadTestApp(db="sqlite://", controller_factory=factory, yield_cpu=True)
    async with app.run_test(size=size):
        app.open_live_run(config, None)
        while not isinstance(app.screen, LiveRunScreen) or app.screen.run_state.phase not in ("finished", "failed"):
            await asyncio.sleep(0.1)
        screen = app.screen
        frames = screen.query_one("#chart-tput").draw_count
        if screen.run_state.phase != "finished":
            raise RuntimeError(f"the run failed: {screen.run_state.message}")
        return screen.run_state.result.levels[0], kept["records"], frames, kept["level_cpu"]


def in_own_thread(coroutine):
    """Run a mode in a thread of its own: the app lowers its thread's priority (as in a real
    session) and that must not reach the simulators this bench starts later."""
    out: dict = {}

    def target() -> None:
        try:
            out["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            out["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def errors(level, records, log) -> tuple[float, float]:
    """Against when the simulator began each write (as clock_bench.py: the kernel delivers
    during the write, and a busy simulator is preempted at its return, not before it)."""
    ok = [r for r in records if r.ok]
    true_ttft = np.array([(log[r.request_id]["chunk_write_ns"][0] - r.t_start_ns) / 1e6 for r in ok])
    true_itl = np.concatenate([np.diff(log[r.request_id]["chunk_write_ns"]) for r in ok]) / 1e6
    return level.ttft_ms.p99 - float(np.percentile(true_ttft, 99)), level.itl_ms.p99 - float(np.percentile(true_itl, 99))


def one(
    mode: str, streams: int, requests: int, output_len: int, folder: Path, size: tuple[int, int]
) -> tuple[float, float, float, float, int | None, int]:
    """(TTFT p99 error, ITL p99 error, CPU seconds of this process, its CPU per second while
    the level ran, chart frames drawn, coalesced chunks)."""
    log_path = folder / f"log-{mode}-{streams}.jsonl"
    log_path.unlink(missing_ok=True)
    with SimulatorProcess(ttft_ms=50, itl_ms=20, step_us_per_seq=10, prefill_us_per_token=0, max_seqs=streams, chunk_log=log_path) as sim:
        config = make_config(sim.url, streams, requests, output_len)
        cpu = time.process_time()
        if mode == "headless":
            level, records, frames, level_cpu = in_own_thread(headless(config))
        else:
            level, records, frames, level_cpu = in_own_thread(with_live_screen(config, size))
        cpu = time.process_time() - cpu
        log = sim.read_chunk_log(*(r.request_id for r in records if r.ok))
    if level.requests.failed:
        print(f"   ({mode}: {level.requests.failed} requests failed)")
    ttft_error, itl_error = errors(level, records, log)
    return ttft_error, itl_error, cpu, level_cpu, frames, level.client.coalesced_chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and shorter outputs")
    parser.add_argument("--repeats", type=int, default=3, help="runs per mode, interleaved (the median error is kept)")
    parser.add_argument("--size", default="120x40", help="terminal size of the app, WxH")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    output_len = 32 if args.quick else 128
    print(
        f"{'streams':>7}  {'mode':<14} {'TTFT p99 err ms':>16} {'ITL p99 err ms':>15} {'UI CPU s':>9} {'level ms/s':>10} {'frames':>7} {'coalesced':>9}  spread (min..max) TTFT / ITL"
    )
    verdicts = []
    modes = ("headless", "live screen")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for streams in (64, 256):
            requests = streams * (2 if args.quick else 4)
            runs: dict[str, list] = {mode: [] for mode in modes}
            for _ in range(args.repeats):  # interleaved, so that a noisy moment hits both modes
                for mode in modes:
                    runs[mode].append(one(mode, streams, requests, output_len, folder, size))
            found: dict[str, tuple[float, float]] = {}
            for mode in modes:
                ttft, itl, cpu, level_cpu = (float(np.median([r[i] for r in runs[mode]])) for i in range(4))
                frames = runs[mode][-1][4]
                coalesced = int(np.median([r[5] for r in runs[mode]]))
                found[mode] = (ttft, itl)
                spread = "  /  ".join(f"{min(r[i] for r in runs[mode]):+.1f}..{max(r[i] for r in runs[mode]):+.1f}" for i in (0, 1))
                print(
                    f"{streams:>7}  {mode:<14} {ttft:>+16.3f} {itl:>+15.3f} {cpu:>9.2f} {level_cpu * 1000:>10.0f} {'' if frames is None else frames:>7} {coalesced:>9}  {spread}",
                    flush=True,
                )
            worse_ttft = abs(found["live screen"][0]) - abs(found["headless"][0])
            worse_itl = abs(found["live screen"][1]) - abs(found["headless"][1])
            ok = worse_ttft <= ALLOWED_WORSENING_MS and worse_itl <= ALLOWED_WORSENING_MS
            verdicts.append(ok)
            print(
                f"{streams:>7}  {'app - headless':<14} {worse_ttft:>+16.3f} {worse_itl:>+15.3f}  {'ok' if ok else 'WORSE by more than 1 ms'}"
            )
    print("within 1 ms at every load" if all(verdicts) else "the app worsened an error by more than 1 ms")


if __name__ == "__main__":
    main()
