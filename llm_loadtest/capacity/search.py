"""The capacity search: probes the server through the engine's controller, one load level at
a time, until it knows the largest load that meets the goodput target.

Every probe is a run of one level (fresh connections opened before it, warm-up before the
first); the search keeps them together as one run: each probe a level of it, stored as the
probes finish, so that history, show, compare and export work on a search as on any run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from llm_loadtest.capacity.events import ProbeFinished, ProbeStarted, SearchEvent, SearchFinished
from llm_loadtest.capacity.policy import SearchPolicy
from llm_loadtest.capacity.probes import error_stop, expected_rate, load_label, load_of, make_probe, probe_requests, saturation_stop
from llm_loadtest.capacity.recommend import build_answer
from llm_loadtest.engine.controller import RunStartError
from llm_loadtest.engine.events import EngineEvent, LevelFinished
from llm_loadtest.engine.protocols import RunControl
from llm_loadtest.engine.store_writes import write_safely
from llm_loadtest.model.config import RunConfig
from llm_loadtest.model.results import LevelSummary, RunResult, utc_now
from llm_loadtest.model.search import GpuCount, ProbePhase, SearchAnswer, SearchProbe, SearchRecord, SearchTarget, StopReason

CONFIRM_CALIBRATION = 2  # a rate search refuses only when one user missed twice

MakeController = Callable[[RunConfig], RunControl]
Listener = Callable[[SearchEvent | EngineEvent], None]


@dataclass
class _Stop:
    reason: StopReason
    text: str


class CapacitySearch:
    def __init__(
        self,
        config: RunConfig,
        target: SearchTarget,
        *,
        make_controller: MakeController,
        store=None,
        gpus: GpuCount | None = None,
        gpu_note: str | None = None,
    ):
        self.base = config.model_copy(update={"goodput": target.slo}, deep=True)
        self.target = target
        self.run_id = str(uuid.uuid4())
        self.store = store
        self.store_error: str | None = None
        self._make_controller = make_controller
        self._gpus = gpus
        self._gpu_note = gpu_note
        self._listeners: list[Listener] = []
        self._controller: RunControl | None = None
        self._aborted = False
        self._stored_run = False
        self._t0 = time.monotonic()
        self._summaries: dict[int, LevelSummary] = {}
        self._bracket: tuple[float | None, float | None] = (None, None)
        self._unreachable: str | None = None
        self.record = SearchRecord(target=target)
        self.result = RunResult(
            run_id=self.run_id, status="running", started_at=utc_now(), config=self.base.model_copy(deep=True), search=self.record
        )

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def abort(self) -> None:
        """Stop after the probe in flight (itself stopped); every finished probe is kept."""
        self._aborted = True
        if self._controller is not None:
            self._controller.abort()

    @property
    def bracket(self) -> tuple[float | None, float | None]:
        """(the largest load that met the target, the smallest that missed it) so far."""
        return self._bracket

    async def run(self) -> RunResult:
        self._t0 = time.monotonic()
        self.result.started_at = utc_now()
        try:
            for shape in self.target.shapes or [(self.base.input_len, self.base.output_len)]:
                answer = await self._search_shape(shape)
                self.record.answers.append(answer)
                if answer.stop in ("interrupted", "unreachable"):
                    break
        finally:
            await self._finish()
        self._publish(SearchFinished(self.result))
        return self.result

    # ---- one workload shape ----------------------------------------------------------------

    async def _search_shape(self, shape: tuple[int, int]) -> SearchAnswer:
        probes: list[SearchProbe] = []
        policy, stop = await self._policy(shape, probes)
        while stop is None:
            step = policy.next_probe()
            if step is None:
                stop = self._settled(policy, probes)
                break
            if len(self.record.probes) >= self.target.max_probes:
                stop = _Stop("probe_limit", f"the search used its {self.target.max_probes} probes (--max-probes) before the bracket closed")
                break
            concurrency, rate = (int(step.load), None) if policy.integer else (None, step.load)
            probe = await self._probe(shape, concurrency, rate, step.phase, probes)
            if probe is None or self._aborted:  # a probe cut short has no say in the answer
                stop = self._interrupted_or_unreachable()
                break
            policy.record(step.load, probe.passed, probe.slo_pressure)
            self._bracket = (policy.holds, policy.misses)
            self._publish(ProbeFinished(probe, *self._bracket))
            stop = self._early_stop(probe, probes)
        holds, misses = policy.holds, policy.misses
        return build_answer(
            config=self.base,
            target=self.target,
            shape=shape,
            probes=probes,
            summaries=self._summaries,
            holds=holds,
            misses=misses,
            stop=stop.reason,
            reason=stop.text,
            gpus=self._gpus,
            gpu_note=self._gpu_note,
            server_samples=self.result.server_samples,
        )

    async def _policy(self, shape: tuple[int, int], probes: list[SearchProbe]) -> tuple[SearchPolicy, _Stop | None]:
        if self.target.mode == "concurrency":
            return SearchPolicy(start=1, integer=True, cap=self.target.peak_concurrency), None
        # A rate search starts from what one user gets: one user that misses refuses it too.
        calibration = SearchPolicy(start=1, integer=True, cap=1)
        for _ in range(CONFIRM_CALIBRATION):
            probe = await self._probe(shape, 1, None, "calibrate", probes)
            if probe is None or self._aborted:
                return calibration, self._interrupted_or_unreachable()
            calibration.record(1, probe.passed)
            if stop := self._early_stop(probe, probes):
                return calibration, stop
            if probe.passed:
                rate = self._summaries[probe.level_index].request_rate_achieved or 0.1
                return SearchPolicy(start=float(f"{rate:.3g}"), integer=False, cap=self.target.peak_rate), None
        return calibration, self._refused(probes)

    def _settled(self, policy: SearchPolicy, probes: list[SearchProbe]) -> _Stop:
        why = policy.done_because()
        holds, misses = policy.holds, policy.misses
        if why == "refused":
            return self._refused(probes)
        unit = (lambda load: f"c={load:g}") if policy.integer else (lambda load: f"{load:g} req/s")
        assert holds is not None, "a settled search has a load that meets the target"
        if why == "peak_holds":
            return _Stop("peak_holds", f"the peak asked about ({unit(holds)}) meets the target in {len(policy.verdicts[holds])} probes")
        assert misses is not None, "a bracketed search has a load that misses the target"
        return _Stop(
            "bracketed",
            f"{unit(holds)} meets the target and {unit(misses)} misses it "
            f"({len(policy.verdicts[holds])} and {len(policy.verdicts[misses])} probes agree)",
        )

    def _refused(self, probes: list[SearchProbe]) -> _Stop:
        lowest = min(probes, key=load_of)
        return _Stop(
            "refused",
            f"even {load_label(lowest)} misses the target: goodput {lowest.goodput_percent or 0:.1f} % < {self.target.goodput_percent:g} %",
        )

    def _early_stop(self, probe: SearchProbe, probes: list[SearchProbe]) -> _Stop | None:
        summary = self._summaries[probe.level_index]
        if text := error_stop(probe, summary, self.target):
            return _Stop("server_errors", text)
        if probe.phase == "grow" and (text := saturation_stop(probe, probes[:-1])):
            return _Stop("saturated", text)
        return None

    def _interrupted_or_unreachable(self) -> _Stop:
        if self._aborted:
            return _Stop("interrupted", "interrupted: the probes that finished are kept")
        return _Stop("unreachable", self._unreachable or "the server stopped answering")

    # ---- one probe ------------------------------------------------------------------------------

    async def _probe(
        self, shape: tuple[int, int], concurrency: int | None, rate: float | None, phase: ProbePhase, probes: list[SearchProbe]
    ) -> SearchProbe | None:
        self._unreachable = None
        closed = [(p.concurrency, self._summaries[p.level_index]) for p in probes if p.request_rate is None and p.concurrency]
        expected = expected_rate(closed, concurrency) if rate is None and concurrency else None
        requests = probe_requests(self.target, concurrency, rate, expected)
        first_of_shape = not probes
        config = RunConfig.model_validate(
            {
                **self.base.model_dump(),
                "concurrency": [concurrency or 1],
                "request_rate": [rate] if rate is not None else None,
                "num_prompts": requests,
                "duration": None,
                "input_len": shape[0],
                "output_len": shape[1],
                "warmup": self.base.warmup if first_of_shape else 0,  # later probes: the server is warm, connections pre-opened
            }
        )
        self._publish(ProbeStarted(len(self.record.probes) + 1, phase, concurrency if rate is None else None, rate, requests, *shape))
        finished: list[LevelFinished] = []

        def forward(event: EngineEvent) -> None:
            if isinstance(event, LevelFinished):
                finished.append(event)
            self._publish(event)

        controller = self._make_controller(config)
        controller.subscribe(forward)
        self._controller = controller
        offset = time.monotonic() - self._t0
        try:
            result = await controller.run()
        except RunStartError as exc:
            if not self.record.probes:
                raise  # the server cannot be reached at all: the command's exit 3 (or 2)
            self._unreachable = str(exc)
            return None
        finally:
            self._controller = None
        if self.base.model == "auto":
            self.base.model = result.config.model
            self.result.config.model = result.config.model
        if not finished:
            return None
        level = finished[-1]
        index = len(self.result.levels)
        await self._keep(result, level, index, offset)
        probe = make_probe(index, phase, level.summary, self.target, shape[0], shape[1], result.server_samples)
        probes.append(probe)
        self.record.probes.append(probe)
        return probe

    async def _keep(self, result: RunResult, level: LevelFinished, index: int, offset: float) -> None:
        gpu = [s.model_copy(update={"t": s.t + offset}) for s in result.gpu_samples]
        server = [s.model_copy(update={"t": s.t + offset}) for s in result.server_samples]
        self._summaries[index] = level.summary
        self.result.levels.append(level.summary)
        self.result.gpu_samples.extend(gpu)
        self.result.server_samples.extend(server)
        self.result.warnings.extend(f"probe {index + 1} ({level.summary.label}): {w}" for w in result.warnings)
        if not self._stored_run:
            self.result.environment = result.environment
            self.result.token_source = result.token_source
            self._stored_run = await self._store("begin_run", self.result)
        if self._stored_run:
            await self._store("add_level", self.run_id, index, level.summary, level.records)
            await self._store("add_samples", self.run_id, gpu, server)

    # ---- the whole ---------------------------------------------------------------------------

    async def _finish(self) -> None:
        result = self.result
        result.finished_at = utc_now()
        if self.record.answers:
            self.record.answer = self.record.answers[0]
        probes = self.record.probes
        closed = sorted({p.concurrency for p in probes if p.request_rate is None and p.concurrency})
        rates = sorted({p.request_rate for p in probes if p.request_rate is not None})
        result.config = RunConfig.model_validate(
            {**self.base.model_dump(), "concurrency": closed or [1], "request_rate": rates or None, "num_prompts": self.target.min_requests}
        )
        if self._aborted:
            result.status = "aborted"
        elif not result.levels or any(level.requests.succeeded == 0 for level in result.levels):
            result.status = "failed"
        else:
            result.status = "completed"
        if self._stored_run:
            await self._store("finish_run", result)
        if self.store_error:
            result.warnings.append(self.store_error)

    async def _store(self, method: str, *args) -> bool:
        """As the controller does: a failing database never costs the search."""
        written, error = await write_safely(self.store, lambda store: getattr(store, method)(*args))
        self.store_error = self.store_error or error
        return written

    def _publish(self, event: SearchEvent | EngineEvent) -> None:
        for listener in self._listeners:
            listener(event)
