"""Runs a ``dr.plan.Plan`` inside a journaled run, and resumes it after an interruption.

Usage (what a procedure such as ``invoke failover`` does)::

    run = dr.journal.open_run(incidents_dir, "failover", trigger, params)  # resume or start
    with run:
        outcome = run_plan(plan, run, services=services, on_progress=echo)
    outcome.raise_for_failure()

Every step runs in a worker thread, so its ``timeout_s`` holds even when a call hangs: the
runner stops waiting, journals the timeout and leaves the thread behind (it is told through
``ctx.abandoned`` and its waits raise). A ``once`` step that was started and did not finish
in an earlier attempt is never simply run again: its ``reconcile`` decides.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

from dr import journal as jr
from dr.plan import (
    Parallel, Plan, PlanError, PlanMismatch, ReconcileFailed, RunInterrupted, Step, StepFailed,
    StepFunction, StepTimedOut,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

COMPLETE, FAILED, REFUSED, INTERRUPTED = "complete", "failed", "refused", "interrupted"


@dataclass(frozen=True)
class StepOutcome:
    """What became of one step in this invocation.

    status: ``completed`` (ran now), ``skipped`` (done before a resume; result as recorded),
    ``reconciled`` (interrupted earlier; reality showed it had happened) or ``failed``.
    """

    name: str
    status: str
    result: dict[str, Any]
    started_epoch: float | None
    ended_epoch: float | None
    duration_s: float | None
    group: str | None
    phase: str | None
    error: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    """The end of ``run_plan``: ``complete``, ``failed`` (run left open: run again to resume)
    or ``refused`` (failed before anything acted; the run is closed)."""

    run_id: str
    procedure: str
    status: str
    resumed: bool
    steps: tuple[StepOutcome, ...]
    error: PlanError | None = None

    @property
    def failed_step(self) -> str | None:
        return getattr(self.error, "step", None)

    def result_of(self, name: str) -> dict[str, Any] | None:
        for step in self.steps:
            if step.name == name and step.status != "failed":
                return step.result
        return None

    def raise_for_failure(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass
class StepContext:
    """The run as one step sees it (see ``dr.plan`` for how steps use it).

    params: the procedure's inputs as recorded when the run started (JSON-able).
    services: live objects the procedure passed to ``run_plan`` (clients, settings...).
    resumed: this invocation resumes an earlier one.
    abandoned: the runner gave up waiting for this step; stop as soon as possible.
    """

    run_id: str
    procedure: str
    step: str
    params: Mapping[str, Any]
    services: Any
    timeout_s: float
    resumed: bool
    _runner: "_Runner" = field(repr=False)
    _started: float = field(default_factory=time.monotonic, repr=False)
    _last_progress: float | None = field(default=None, repr=False)
    abandoned: bool = False

    def result_of(self, step: str) -> dict[str, Any]:
        """The result of an earlier step of this run (also from before a resume)."""
        try:
            return self._runner.results[step]
        except KeyError:
            raise PlanError(
                f"step {self.step} needs the result of {step}, which has not completed"
            ) from None

    def remaining_s(self) -> float:
        return self.timeout_s - (time.monotonic() - self._started)

    def check_deadline(self, waiting_for: str = "working") -> None:
        """Raise ``StepTimedOut`` once the step is past its timeout (or was abandoned)."""
        if self.abandoned or self.remaining_s() <= 0:
            raise StepTimedOut(self.step, self.timeout_s, waiting_for)

    def progress(self, message: str) -> None:
        """Tell the operator where a long wait stands; shown at most every few seconds."""
        now = time.monotonic()
        logger.debug("%s: %s", self.step, message)
        if (self._last_progress is not None
                and now - self._last_progress < self._runner.progress_every_s):
            return
        self._last_progress = now
        logger.info("%s: %s (%.0f s elapsed, %.0f s left)", self.step, message,
                    now - self._started, max(0.0, self.remaining_s()))
        if self._runner.on_progress is not None:
            self._runner.on_progress(self.step, message)

    def wait_for(self, check: Callable[[], T | None], what: str, interval_s: float = 1.0) -> T:
        """Call ``check`` until it returns something truthy, and return that.

        ``what`` names the wait ("shopsmart-db-us-west-2 to become available"); ``check`` may
        call ``progress`` with the state it saw. Raises ``StepTimedOut`` at the deadline.
        """
        while True:
            self.check_deadline(f"waiting for {what}")
            value = check()
            if value:
                return value
            self.progress(f"waiting for {what}")
            time.sleep(max(0.0, min(interval_s, self.remaining_s())))

    def decide(self, decision: str, **facts: Any) -> None:
        """Record a decision and the facts it rested on (they go into the incident record)."""
        logger.info("%s: decided: %s", self.step, decision)
        self._runner.run.journal.append(jr.DECISION, step=self.step, decision=decision,
                                        facts=facts)

    def on_exit(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(status)`` when this process ends the run: ``complete``, ``failed``,
        ``refused`` or ``interrupted`` (e.g. release the lease only when complete)."""
        self._runner.exit_callbacks.append(callback)

    def add_guard(self, guard: Callable[[], None]) -> None:
        """Call ``guard()`` before each later step; it raises to stop the run (lease lost)."""
        self._runner.guards.append(guard)


def run_plan(plan: Plan, run: jr.Run, *, services: Any = None,
             on_progress: Callable[[str, str], None] | None = None,
             progress_every_s: float = 5.0) -> RunOutcome:
    """Run (or resume) ``plan`` in ``run``; returns the outcome, raising only on Ctrl-C.

    on_progress: ``on_progress(step, message)`` for the CLI, rate-limited like the log.
    Raises ``PlanMismatch`` (nothing run) when ``run`` was journaled by another plan, and
    ``RunInterrupted`` on Ctrl-C (the run stays open).
    """
    return _Runner(plan, run, services, on_progress, progress_every_s).run_all()


class _Runner:
    def __init__(self, plan: Plan, run: jr.Run, services: Any,
                 on_progress: Callable[[str, str], None] | None,
                 progress_every_s: float) -> None:
        self.plan, self.run, self.services = plan, run, services
        self.on_progress, self.progress_every_s = on_progress, progress_every_s
        self.exit_callbacks: list[Callable[[str], None]] = []
        self.guards: list[Callable[[], None]] = []
        self.outcomes: dict[str, StepOutcome] = {}
        self.history = _history(run.records())
        self.results = {name: h["result"] for name, h in self.history.items() if h["done"]}
        self.acted = any(h["acted"] for h in self.history.values())
        self.current: str | None = None
        self.running: list[str] = []  # steps in progress, in start order (groups run several)

    def run_all(self) -> RunOutcome:
        self._check_outline()
        status, error = COMPLETE, None
        try:
            for item in self.plan.items:
                if isinstance(item, Parallel):
                    self._group(item)
                else:
                    self._execute(item, None)
        except PlanError as failure:
            error = failure
            status = FAILED if self.acted else REFUSED
        except KeyboardInterrupt:
            self.run.journal.append(jr.RUN_STOPPED, status=INTERRUPTED, step=self.current)
            self._exit(INTERRUPTED)
            during = ", ".join(self.running) or self.current or "the run"
            raise RunInterrupted(
                f"interrupted during {during}; run {self.run.run_id} is"
                " open: run the same command again to resume it"
            ) from None
        self._finish(status, error)
        steps = tuple(self.outcomes[s.name] for s in self.plan.steps() if s.name in self.outcomes)
        return RunOutcome(self.run.run_id, self.plan.procedure, status, self.run.resumed, steps,
                          error)

    def _check_outline(self) -> None:
        recorded = [r for r in self.run.records() if r.get("kind") == jr.PLAN_RECORDED]
        if not recorded:
            self.run.journal.append(jr.PLAN_RECORDED, procedure=self.plan.procedure,
                                    outline=self.plan.outline())
        elif recorded[0].get("outline") != self.plan.outline():
            raise PlanMismatch(
                f"run {self.run.run_id} was started with another plan ({recorded[0]['outline']})"
                f"; it cannot be resumed with this one ({self.plan.outline()}). Resume it with"
                " the options it was started with, or close it and start a new run"
            )

    def _finish(self, status: str, error: PlanError | None) -> None:
        fields = {"step": getattr(error, "step", None), "error": str(error)} if error else {}
        if status == FAILED:
            self.run.journal.append(jr.RUN_STOPPED, status=FAILED, **fields)
            logger.error("%s; run %s stays open: run the same command again to resume it",
                         error, self.run.run_id)
        else:
            self.run.close(status, **fields)
            if error is not None:
                logger.error("%s; nothing was changed, run %s is closed", error,
                             self.run.run_id)
            else:
                logger.info("run %s complete", self.run.run_id)
        self._exit(status)

    def _exit(self, status: str) -> None:
        for callback in reversed(self.exit_callbacks):
            try:
                callback(status)
            except Exception:  # an exit hook must not hide the run's own outcome
                logger.exception("exit hook %r failed", callback)

    def _group(self, group: Parallel) -> None:
        logger.info("%s: %s (%d steps in parallel)", group.name, group.summary,
                    len(group.steps))
        errors: dict[str, BaseException] = {}

        def member(step: Step) -> None:
            try:
                self._execute(step, group.name)
            except BaseException as failure:  # re-raised below, in the runner's own thread
                errors[step.name] = failure

        threads = [threading.Thread(target=member, args=(s,), name=f"group-{s.name}",
                                    daemon=True) for s in group.steps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for step in group.steps:  # the first failure in plan order is the run's error
            if step.name in errors:
                raise errors[step.name]

    def _execute(self, step: Step, group: str | None) -> None:
        self.current = step.name
        self.running.append(step.name)
        try:
            self._execute_step(step, group)
        finally:
            self.running.remove(step.name)

    def _execute_step(self, step: Step, group: str | None) -> None:
        prior = self.history.get(step.name)
        if prior and prior["done"] and not (step.rerun_on_resume and self.run.resumed):
            self._record(step, group, "skipped", prior["result"], prior["started"],
                         prior["ended"])
            logger.info("%s: already done before the resume: %s", step.name,
                        _summary(prior["result"]))
            return
        if prior and not prior["done"] and step.reconcile is not None:
            if self._reconciled(step, group):
                return
        for guard in self.guards:
            try:
                guard()
            except Exception as cause:
                raise StepFailed(step.name, cause) from cause
        self._attempt(step, group)

    def _reconciled(self, step: Step, group: str | None) -> bool:
        logger.info("%s: an earlier attempt did not finish; checking whether it took effect",
                    step.name)
        started = time.time()
        try:
            result = self._call(step, step.reconcile, "checking what an earlier attempt did")
        except StepTimedOut:
            raise
        except Exception as cause:
            raise ReconcileFailed(step.name, cause) from cause
        if result is None:
            logger.info("%s: it did not take effect; running it again is safe", step.name)
            return False
        self.run.journal.append(jr.STEP_RECONCILED, step=step.name, group=group, result=result)
        self._record(step, group, "reconciled", result, started, time.time())
        logger.info("%s: had already taken effect: %s", step.name, _summary(result))
        return True

    def _attempt(self, step: Step, group: str | None) -> None:
        attempt = (self.history.get(step.name) or {}).get("attempts", 0) + 1
        self.acted = self.acted or step.acts
        logger.info("%s: %s", step.name, step.summary)
        started, clock = time.time(), time.monotonic()
        self.run.journal.append(jr.STEP_STARTED, step=step.name, group=group, attempt=attempt,
                                acts=step.acts, once=step.once, phase=step.phase)
        try:
            result = self._call(step, step.run, step.summary) or {}
        except Exception as cause:
            failure = cause if isinstance(cause, StepFailed) else StepFailed(step.name, cause)
            self.run.journal.append(
                jr.STEP_FAILED, step=step.name, group=group, error=str(failure),
                error_type=type(cause).__name__, timed_out=isinstance(cause, StepTimedOut),
                duration_s=round(time.monotonic() - clock, 3),
            )
            self._record(step, group, "failed", {}, started, time.time(), str(failure))
            raise failure from cause
        duration = time.monotonic() - clock
        self.run.journal.append(jr.STEP_COMPLETED, step=step.name, group=group, result=result,
                                duration_s=round(duration, 3))
        self._record(step, group, "completed", result, started, time.time(), None, duration)
        logger.info("%s: done in %.1f s: %s", step.name, duration, _summary(result))

    def _call(self, step: Step, function: StepFunction | None, doing: str) -> Any:
        ctx = StepContext(self.run.run_id, self.plan.procedure, step.name, self.run.params,
                          self.services, step.timeout_s, self.run.resumed, self)
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = function(ctx)
            except BaseException as error:  # handed to the runner's thread
                box["error"] = error

        worker = threading.Thread(target=target, name=f"step-{step.name}", daemon=True)
        worker.start()
        worker.join(step.timeout_s + max(1.0, min(10.0, step.timeout_s / 10)))
        if worker.is_alive():
            ctx.abandoned = True
            raise StepTimedOut(step.name, step.timeout_s, doing)
        if "error" in box:
            raise box["error"]
        value = box.get("value")
        if value is not None:
            value = _json_result(step.name, value)
        return value

    def _record(self, step: Step, group: str | None, status: str, result: dict[str, Any],
                started: float | None, ended: float | None, error: str | None = None,
                duration: float | None = None) -> None:
        if status in ("completed", "skipped", "reconciled"):
            self.results[step.name] = result
        if duration is None and started is not None and ended is not None:
            duration = ended - started
        self.outcomes[step.name] = StepOutcome(step.name, status, result, started, ended,
                                               duration, group, step.phase, error)


def _json_result(step: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise StepFailed(step, f"returned {type(value).__name__}, not a dict (a bug in the step)")
    try:
        return json.loads(json.dumps(dict(value)))
    except (TypeError, ValueError) as error:
        raise StepFailed(step, f"returned a result that is not JSON ({error}); a bug in the"
                         " step") from None


def _summary(result: Mapping[str, Any]) -> str:
    return str(result.get("summary") or "ok")


def _history(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per step: done, result, attempts, acted, started/ended epochs, from the journal."""
    history: dict[str, dict[str, Any]] = {}
    for record in records:
        kind, name = record.get("kind"), record.get("step")
        if name is None or kind not in (jr.STEP_STARTED, jr.STEP_COMPLETED, jr.STEP_FAILED,
                                        jr.STEP_RECONCILED):
            continue
        entry = history.setdefault(name, {"done": False, "result": {}, "attempts": 0,
                                          "acted": False, "started": None, "ended": None})
        if kind == jr.STEP_STARTED:
            entry.update(done=False, started=record["epoch"], ended=None)
            entry["attempts"] += 1
            entry["acted"] = entry["acted"] or bool(record.get("acts"))
        elif kind == jr.STEP_FAILED:
            entry.update(done=False, ended=record["epoch"])
        else:
            entry.update(done=True, result=record.get("result") or {}, ended=record["epoch"])
            entry["started"] = entry["started"] or record["epoch"]
    return history
