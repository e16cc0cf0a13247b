"""Procedures as plans of idempotent steps: printed, run, interrupted and resumed.

A ``Plan`` is an ordered list of ``Step``s and ``Parallel`` groups (steps that run at the
same time, such as promoting the database while scaling up). ``dr.runner.run_plan`` executes
a plan inside a ``dr.journal.Run``: it journals every transition, logs each step's start,
result and duration at INFO, and on a resumed run skips what is done and never repeats a
``once`` step (it asks the step's ``reconcile`` what reality says instead). ``Plan.render``
is the dry run: every step and every API call's target, and nothing touched.

Writing a step (for the procedures built on this module):

- ``run(ctx)`` (``ctx`` is a ``dr.runner.StepContext``) does the work and returns a JSON-able
  dict (or None for ``{}``); a ``summary`` key, when present, is the on-call sentence logged
  with the result. Earlier results are in ``ctx.result_of(name)``, the procedure's recorded
  inputs in ``ctx.params``, live objects (clients, settings, a lease) in ``ctx.services``.
- Waits go through ``ctx.wait_for(check, what)`` or call ``ctx.progress(message)`` and
  ``ctx.check_deadline()`` themselves, so ``timeout_s`` is honoured and progress is shown.
- Any exception fails the step: the runner wraps it in ``StepFailed`` (``.cause`` keeps it).
  Raise your own exception types for actionable failures; they survive as the cause.
- Record choices with ``ctx.decide(text, **facts)``; they go into the incident record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

if TYPE_CHECKING:
    from dr.runner import StepContext

# RTO phases of the incident record; a step names the one its time counts towards.
PHASES = ("detection", "decision", "promotion", "capacity", "traffic", "verification")


# --- errors --------------------------------------------------------------------------------

class PlanError(RuntimeError):
    """Base of the runner's errors; each subclass is one thing an operator can act on."""


class InvalidPlan(PlanError):
    """A plan that cannot be run as written (a programming error in a procedure)."""


class StepFailed(PlanError):
    """A step raised; ``step`` names it, ``cause`` is what it raised."""

    def __init__(self, step: str, cause: BaseException | str) -> None:
        self.step = step
        self.cause = cause if isinstance(cause, BaseException) else None
        reason = str(cause) or type(cause).__name__
        super().__init__(f"step {step} failed: {reason}")


class StepTimedOut(StepFailed):
    """A step ran past its ``timeout_s``; ``waiting_for`` says what it was waiting for."""

    def __init__(self, step: str, timeout_s: float, waiting_for: str) -> None:
        self.timeout_s = timeout_s
        self.waiting_for = waiting_for
        super().__init__(
            step, f"timed out after {timeout_s:.0f} s while {waiting_for}; run again to resume"
            " (completed steps are not repeated)",
        )


class ReconcileFailed(StepFailed):
    """After an interruption, the step's reconcile could not tell whether it had happened."""


class PlanMismatch(PlanError):
    """The run being resumed was journaled by a different plan (other steps)."""


class RunInterrupted(PlanError):
    """The run was stopped by Ctrl-C; it stays open and running again resumes it."""


# --- the plan ------------------------------------------------------------------------------

StepFunction = Callable[["StepContext"], "Mapping[str, Any] | None"]


@dataclass(frozen=True)
class Step:
    """One idempotent step.

    name: unique in the plan, kebab-case (``promote-database``); it keys the journal.
    summary: what the step does, in on-call words (shown at start and in the dry run).
    run: ``run(ctx) -> dict | None``, the work; JSON-able result.
    api_targets: the API calls and their targets, for the dry run, e.g.
        ``"rds:FailoverGlobalCluster us-west-2 shopsmart-global → shopsmart-db-us-west-2"``.
    once: must never run twice (a promotion). Needs ``reconcile``.
    reconcile: ``reconcile(ctx) -> dict | None`` after an interrupted attempt: inspect
        reality and return the result if the step's effect already happened, or None when
        running the step again is safe. For other steps it is optional and saves a re-run.
    timeout_s: bound on the step, enforced by ``ctx`` waits and by the runner.
    acts: changes the world (AWS resources, files). A run that fails before any acting step
        started is closed as ``refused`` (the next invocation starts afresh, with fresh
        evidence); once one started, the run stays open and running again resumes it.
    phase: the RTO phase its time counts towards (one of ``PHASES``), or None.
    rerun_on_resume: run again on a resume even though it completed (re-acquiring live
        things such as the lease); the step must be idempotent for the same run id.
    """

    name: str
    summary: str
    run: StepFunction
    api_targets: tuple[str, ...] = ()
    once: bool = False
    reconcile: StepFunction | None = None
    timeout_s: float = 300.0
    acts: bool = True
    phase: str | None = None
    rerun_on_resume: bool = False


@dataclass(frozen=True)
class Parallel:
    """Steps that run at the same time; the group completes when all of them have."""

    name: str
    summary: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Plan:
    procedure: str
    items: tuple[Step | Parallel, ...]

    def __post_init__(self) -> None:
        names = [step.name for step in self.steps()] + [
            item.name for item in self.items if isinstance(item, Parallel)
        ]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InvalidPlan(f"plan {self.procedure}: duplicate names {', '.join(duplicates)}")
        for step in self.steps():
            if step.once and step.reconcile is None:
                raise InvalidPlan(
                    f"step {step.name} is once-only but has no reconcile: after an"
                    " interruption nothing could tell whether it happened"
                )
            if step.phase is not None and step.phase not in PHASES:
                raise InvalidPlan(f"step {step.name}: unknown phase {step.phase!r}")
            if step.timeout_s <= 0:
                raise InvalidPlan(f"step {step.name}: timeout_s must be positive")

    def steps(self) -> Iterator[Step]:
        for item in self.items:
            yield from item.steps if isinstance(item, Parallel) else (item,)

    def step(self, name: str) -> Step:
        for step in self.steps():
            if step.name == name:
                return step
        raise KeyError(name)

    def outline(self) -> list[dict[str, Any]]:
        """The plan's shape as journaled at the start of a run."""
        return [
            {"group": item.name, "steps": [s.name for s in item.steps]}
            if isinstance(item, Parallel) else {"step": item.name}
            for item in self.items
        ]

    def render(self) -> str:
        """The dry run: each step in order, its bounds, and every API call's target."""
        lines = [f"Plan {self.procedure} ({sum(1 for _ in self.steps())} steps):"]
        for number, item in enumerate(self.items, start=1):
            if isinstance(item, Parallel):
                lines.append(f"{number:>3}. {item.name}: {item.summary} (in parallel)")
                for letter, step in zip("abcdefghij", item.steps):
                    lines.extend(_render_step(f"{number}{letter}", step, "     "))
            else:
                lines.extend(_render_step(str(number), item, ""))
        return "\n".join(lines)


def _render_step(label: str, step: Step, indent: str) -> list[str]:
    marks = [f"timeout {step.timeout_s:.0f} s"]
    if step.once:
        marks.append("never repeated")
    if not step.acts:
        marks.append("changes nothing in the shop")
    lines = [f"{indent}{label:>3}. {step.name}: {step.summary} ({', '.join(marks)})"]
    lines.extend(f"{indent}       → {target}" for target in step.api_targets)
    return lines
