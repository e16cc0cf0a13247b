"""The incident record: what happened, who started it, what was decided, RTO and RPO.

Built from the run's journal alone (plus the evidence and RPO the procedure hands over), so
a run resumed after kill -9 gets a record as complete as one that never stopped. Written
next to the journal as ``incidents/<run-id>/incident.json`` and ``incident.md``, each
atomically (temporary file, fsync, rename).

RTO is broken into the phases of ``dr.plan.PHASES``: detection runs from the failure (the
first failed signal, or the fault injection of a drill) to the end of the detection steps
(or the start of the run); every other phase spans its steps, from the first start to the
last end. Steps of a ``Parallel`` group overlap; the record says which and by how much.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from dr import journal as jr
from dr.plan import PHASES

JSON_NAME, MARKDOWN_NAME = "incident.json", "incident.md"


@dataclass(frozen=True)
class Trigger:
    """Who or what started the run: ``cli`` (user@host), ``api`` (the endpoint), ``drill``."""

    kind: str
    who: str
    detail: str = ""

    @classmethod
    def cli(cls, detail: str = "") -> "Trigger":
        return cls("cli", f"{getpass.getuser()}@{socket.gethostname()}", detail)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class TimelineEntry:
    step: str
    status: str  # completed, reconciled, failed, interrupted
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    attempts: int
    group: str | None
    phase: str | None
    result: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    at: str
    step: str
    decision: str
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhaseSpan:
    phase: str
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    steps: tuple[str, ...]


@dataclass(frozen=True)
class Overlap:
    """Steps that ran at the same time, and for how long they overlapped."""

    group: str
    steps: tuple[str, ...]
    overlap_s: float


@dataclass(frozen=True)
class Rto:
    total_s: float | None
    objective_s: float | None
    phases: tuple[PhaseSpan, ...]
    parallel: tuple[Overlap, ...]
    failure_at: str | None
    measured_from: str  # "failure" or "run start" when the failure time is unknown

    @property
    def met(self) -> bool | None:
        if self.total_s is None or self.objective_s is None:
            return None
        return self.total_s <= self.objective_s


@dataclass(frozen=True)
class Rpo:
    """Data lost: writes acknowledged by the old primary and absent from the new one."""

    lost_writes: int | None
    span_s: float | None
    budget_s: float | None = None
    method: str = ""  # "write markers" (drills) or "replication lag at promotion"
    detail: str = ""


@dataclass(frozen=True)
class IncidentRecord:
    run_id: str
    procedure: str
    status: str  # complete, failed, refused, interrupted, running
    trigger: Mapping[str, Any]
    forced: bool
    started_at: str
    ended_at: str | None
    classification: str | None
    timeline: tuple[TimelineEntry, ...]
    evidence: Mapping[str, Any] | None
    decisions: tuple[Decision, ...]
    interruptions: tuple[Mapping[str, Any], ...]
    rto: Rto
    rpo: Rpo | None
    failing_step: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["rto"]["met"] = self.rto.met
        return body

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str) + "\n"

    def to_markdown(self) -> str:
        from dr.report_markdown import render  # kept apart: presentation, not content

        return render(self)


def build_record(records: list[dict[str, Any]], *, forced: bool = False,
                 evidence: Mapping[str, Any] | None = None, classification: str | None = None,
                 failure_epoch: float | None = None, rto_objective_s: float | None = None,
                 rpo: Rpo | None = None) -> IncidentRecord:
    """The record of a run from its journal records (``Run.records()``).

    failure_epoch: when the failure began (first failed signal; a drill's fault injection),
    from the evidence; without it RTO is measured from the start of the run.
    """
    if not records or records[0].get("kind") != jr.RUN_STARTED:
        raise ValueError("a journal starts with run-started; these records do not")
    first = records[0]
    timeline = _timeline(records)
    closed = next((r for r in reversed(records) if r["kind"] == jr.RUN_CLOSED), None)
    stopped = next((r for r in reversed(records) if r["kind"] == jr.RUN_STOPPED), None)
    last = records[-1]
    if closed:
        status, ending = closed["status"], closed
    elif stopped and last["kind"] == jr.RUN_STOPPED:
        status, ending = stopped["status"], stopped
    else:
        status, ending = "running", None
    return IncidentRecord(
        run_id=first["run_id"], procedure=first["procedure"], status=status,
        trigger=first.get("trigger", {}), forced=forced, started_at=first["at"],
        ended_at=ending["at"] if ending else None, classification=classification,
        timeline=timeline, evidence=evidence,
        decisions=tuple(Decision(r["at"], r.get("step", ""), r["decision"], r.get("facts", {}))
                        for r in records if r["kind"] == jr.DECISION),
        interruptions=tuple({"kind": r["kind"], "at": r["at"], "status": r.get("status"),
                             "step": r.get("step"), "trigger": r.get("trigger")}
                            for r in records if r["kind"] in (jr.RUN_STOPPED, jr.RUN_RESUMED)),
        rto=_rto(records, timeline, failure_epoch, rto_objective_s),
        rpo=rpo, failing_step=(ending or {}).get("step") if status != "complete" else None,
        error=(ending or {}).get("error") if status != "complete" else None,
    )


def write_record(record: IncidentRecord, incidents_dir: Path | str) -> tuple[Path, Path]:
    """Write the record as JSON and Markdown beside the run's journal; returns both paths."""
    directory = Path(incidents_dir) / record.run_id
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / JSON_NAME, directory / MARKDOWN_NAME
    for path, text in zip(paths, (record.to_json(), record.to_markdown())):
        temp = path.with_name(f".{path.name}.tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    return paths


def record_run(run: jr.Run, **build: Any) -> tuple[IncidentRecord, tuple[Path, Path]]:
    """Build the record of ``run`` from its journal and write it beside the journal.

    ``build`` takes the keyword arguments of ``build_record`` (evidence, forced, RPO...).
    """
    record = build_record(run.records(), **build)
    return record, write_record(record, run.directory.parent)


# --- inside --------------------------------------------------------------------------------

def _timeline(records: list[dict[str, Any]]) -> tuple[TimelineEntry, ...]:
    entries: dict[str, dict[str, Any]] = {}
    # Plan order, so that steps run in parallel are listed the same way every time.
    outline = next((r.get("outline") or [] for r in records if r["kind"] == jr.PLAN_RECORDED),
                   [])
    names = [n for item in outline for n in (item.get("steps") or [item.get("step")])]
    order = {name: index for index, name in enumerate(names)}
    for record in records:
        name = record.get("step")
        kind = record["kind"]
        if kind == jr.STEP_STARTED:
            entry = entries.setdefault(name, {"attempts": 0})
            entry["attempts"] += 1
            if entry.get("status") in ("completed", "reconciled"):
                # Run again on a resume (the lease): the step's work was done the first
                # time, and its span stays the first one, or the dead time between the
                # interruption and the resume would count towards its phase.
                entry["rerun"] = True
                continue
            entry.update(status="interrupted", started=record["epoch"], ended=None,
                         group=record.get("group"), phase=record.get("phase"), result={},
                         error=None, duration=None)
        elif kind in (jr.STEP_COMPLETED, jr.STEP_RECONCILED, jr.STEP_FAILED) and name:
            entry = entries.setdefault(name, {"attempts": 0, "started": record["epoch"],
                                              "group": record.get("group"), "phase": None})
            if entry.pop("rerun", False) and kind != jr.STEP_FAILED:
                continue
            entry.update(
                status={jr.STEP_COMPLETED: "completed", jr.STEP_RECONCILED: "reconciled",
                        jr.STEP_FAILED: "failed"}[kind],
                ended=record["epoch"], result=record.get("result") or {},
                error=record.get("error"), duration=record.get("duration_s"),
            )
    return tuple(
        TimelineEntry(
            step=name, status=e["status"], started_at=_iso(e.get("started")),
            ended_at=_iso(e.get("ended")),
            duration_s=e.get("duration") if e.get("duration") is not None else _span(
                e.get("started"), e.get("ended")),
            attempts=e["attempts"], group=e.get("group"), phase=e.get("phase"),
            result=e.get("result") or {}, error=e.get("error"),
        )
        for name, e in sorted(entries.items(), key=lambda item: order.get(item[0], len(order)))
    )


def _rto(records: list[dict[str, Any]], timeline: tuple[TimelineEntry, ...],
         failure_epoch: float | None, objective_s: float | None) -> Rto:
    run_start = records[0]["epoch"]
    if failure_epoch is not None:
        # A signal observed during the run cannot date the failure later than the run.
        failure_epoch = min(failure_epoch, run_start)
    epochs: dict[str, float] = {}
    for r in records:  # the first start of each step: its phase began then
        if r["kind"] == jr.STEP_STARTED:
            epochs.setdefault(r["step"], r["epoch"])
    phases = []
    for phase in PHASES:
        steps = [e for e in timeline if e.phase == phase]
        starts = [epochs[e.step] for e in steps if e.step in epochs]
        done = [e for e in steps if e.status in ("completed", "reconciled") and e.ended_at]
        # A phase has ended only when every one of its steps has.
        end = max(_epoch(e.ended_at) for e in done) if steps and len(done) == len(steps) else None
        start = min(starts) if starts else None
        if phase == "detection":
            start = failure_epoch
            end = end if steps else run_start
        phases.append(PhaseSpan(phase, _iso(start), _iso(end), _span(start, end),
                                tuple(e.step for e in steps)))
    verification = next(p for p in phases if p.phase == "verification")
    origin = failure_epoch if failure_epoch is not None else run_start
    served = _epoch(verification.ended_at) if verification.ended_at else None
    return Rto(
        total_s=_span(origin, served), objective_s=objective_s, phases=tuple(phases),
        parallel=_overlaps(timeline), failure_at=_iso(failure_epoch),
        measured_from="failure" if failure_epoch is not None else "run start",
    )


def _overlaps(timeline: tuple[TimelineEntry, ...]) -> tuple[Overlap, ...]:
    groups: dict[str, list[TimelineEntry]] = {}
    for entry in timeline:
        if entry.group:
            groups.setdefault(entry.group, []).append(entry)
    overlaps = []
    for group, members in groups.items():
        spans = [(_epoch(m.started_at), _epoch(m.ended_at)) for m in members
                 if m.started_at and m.ended_at]
        if len(spans) < 2:
            continue
        overlap = min(end for _, end in spans) - max(start for start, _ in spans)
        overlaps.append(Overlap(group, tuple(m.step for m in members),
                                round(max(0.0, overlap), 3)))
    return tuple(overlaps)


def _iso(epoch: float | None) -> str | None:
    return jr.now_iso(epoch) if epoch is not None else None


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _span(start: float | None, end: float | None) -> float | None:
    return round(end - start, 3) if start is not None and end is not None else None
