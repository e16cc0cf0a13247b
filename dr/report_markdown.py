"""The incident record as Markdown, for people (the JSON beside it is for machines)."""

from __future__ import annotations

import json
from typing import Any, Mapping

from dr.report import IncidentRecord


def render(record: IncidentRecord) -> str:
    lines = [f"# Incident record: {record.procedure} {record.run_id}", ""]
    trigger = record.trigger
    lines += _table(["", ""], [
        ["Status", record.status + (f" at step {record.failing_step}" if record.failing_step
                                    else "")],
        ["Triggered by", f"{trigger.get('who') or trigger.get('by', '?')}"
                         f" ({trigger.get('kind') or trigger.get('via', '?')})"],
        ["Forced (evidence gate skipped)", "yes" if record.forced else "no"],
        ["Classification", record.classification or "not classified"],
        ["Started", record.started_at],
        ["Ended", record.ended_at or "not ended"],
    ])
    if record.error:
        lines += ["", f"**Error:** {record.error}"]
    lines += ["", "## Evidence", ""] + _evidence(record.evidence)
    lines += ["", "## Timeline", ""]
    lines += _table(["Step", "Status", "Started", "Ended", "Duration", "Group", "Result"], [
        [e.step, e.status + (f" ({e.attempts} attempts)" if e.attempts > 1 else ""),
         e.started_at or "", e.ended_at or "", _seconds(e.duration_s), e.group or "",
         e.error or str(e.result.get("summary", ""))]
        for e in record.timeline
    ])
    lines += ["", "## Decisions", ""]
    lines += [f"- {d.at} ({d.step}): {d.decision}" + (f" — {_facts(d.facts)}" if d.facts else "")
              for d in record.decisions] or ["None recorded."]
    lines += ["", "## RTO", ""]
    rto = record.rto
    verdict = {True: "met", False: "MISSED", None: "no objective"}[rto.met]
    lines.append(f"Total: {_seconds(rto.total_s)} measured from the {rto.measured_from}"
                 f" (objective {_seconds(rto.objective_s)}: {verdict}).")
    lines += [""] + _table(["Phase", "Duration", "From", "To", "Steps"], [
        [p.phase, _seconds(p.duration_s), p.started_at or "", p.ended_at or "",
         ", ".join(p.steps)] for p in rto.phases
    ])
    for overlap in rto.parallel:
        lines.append(f"\nIn parallel ({overlap.group}): {', '.join(overlap.steps)}, overlapping"
                     f" {_seconds(overlap.overlap_s)}.")
    lines += ["", "## RPO", ""]
    if record.rpo is None:
        lines.append("Not measured.")
    else:
        rpo = record.rpo
        lost = "unknown" if rpo.lost_writes is None else str(rpo.lost_writes)
        lines.append(f"Writes lost: {lost}; time span: {_seconds(rpo.span_s)}; budget"
                     f" {_seconds(rpo.budget_s)} ({rpo.method or 'method not given'}).")
        if rpo.detail:
            lines.append(rpo.detail)
    if record.interruptions:
        lines += ["", "## Interruptions and resumes", ""]
        lines += [f"- {i['at']}: {i['kind']}" + (f" ({i['status']})" if i.get("status") else "")
                  + (f" at {i['step']}" if i.get("step") else "") for i in record.interruptions]
    return "\n".join(lines) + "\n"


def _evidence(evidence: Mapping[str, Any] | None) -> list[str]:
    if not evidence:
        return ["None recorded."]
    lines = [str(evidence["summary"]), ""] if evidence.get("summary") else []
    signals = evidence.get("signals")
    if isinstance(signals, list) and all(isinstance(s, Mapping) for s in signals):
        lines += _table(["Source", "Verdict", "Detail"], [
            [str(s.get("source", "")), str(s.get("verdict", "")), str(s.get("detail", ""))]
            for s in signals
        ])
        return lines
    return lines + ["```json", json.dumps(dict(evidence), indent=2, default=str), "```"]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cells(row: list[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |"

    return [cells(header), "|" + "|".join("---" for _ in header) + "|"] + [cells(r) for r in rows]


def _facts(facts: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in facts.items())


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f} s"
