"""The incident record: timeline, decisions, RTO by phase, parallel overlap, RPO, files."""

from __future__ import annotations

import json

from dr import journal as jr
from dr.plan import Parallel, Plan, Step
from dr.report import Rpo, Trigger, build_record, record_run, write_record
from dr.runner import run_plan

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def record(kind: str, at: float, **fields) -> dict:
    return {"kind": kind, "at": jr.now_iso(T0 + at), "epoch": T0 + at, **fields}


# A failover journal with known times: evidence 0-4 s, lease 4-5 s, promotion 6-46 s in
# parallel with scale-up 6-31 s, traffic 46-50 s, verification 50-58 s.
JOURNAL = [
    record("run-started", 0, run_id="failover-1", procedure="failover",
           trigger={"kind": "cli", "who": "alice@laptop"}, params={}),
    record("plan", 0, outline=[]),
    record("step-started", 0, step="gather-evidence", phase="decision", acts=False),
    record("step-completed", 4, step="gather-evidence", result={"summary": "3 of 4 agree"},
           duration_s=4.0),
    record("step-started", 4, step="take-lease", acts=False),
    record("step-completed", 5, step="take-lease", result={"summary": "lease held"},
           duration_s=1.0),
    record("step-started", 6, step="promote-database", group="promote-and-scale",
           phase="promotion", acts=True),
    record("step-started", 6, step="scale-up", group="promote-and-scale", phase="capacity",
           acts=True),
    record("decision", 7, step="promote-database", decision="managed failover with data loss",
           facts={"lag_s": 0.8}),
    record("step-completed", 31, step="scale-up", group="promote-and-scale", result={},
           duration_s=25.0),
    record("step-completed", 46, step="promote-database", group="promote-and-scale",
           result={"summary": "shopsmart-db-us-west-2 is the writer"}, duration_s=40.0),
    record("step-started", 46, step="evacuate-primary", phase="traffic", acts=True),
    record("step-completed", 50, step="evacuate-primary", result={}, duration_s=4.0),
    record("step-started", 50, step="verify", phase="verification", acts=True),
    record("step-completed", 58, step="verify", result={"summary": "HTTP 200 via DNS"},
           duration_s=8.0),
    record("run-closed", 59, status="complete"),
]


def test_rto_is_measured_from_the_failure_and_broken_into_phases():
    incident = build_record(JOURNAL, failure_epoch=T0 - 30, rto_objective_s=900)

    phases = {p.phase: (p.duration_s, p.steps) for p in incident.rto.phases}
    assert phases == {
        "detection": (30.0, ()),
        "decision": (4.0, ("gather-evidence",)),
        "promotion": (40.0, ("promote-database",)),
        "capacity": (25.0, ("scale-up",)),
        "traffic": (4.0, ("evacuate-primary",)),
        "verification": (8.0, ("verify",)),
    }
    assert incident.rto.total_s == 88.0
    assert incident.rto.met is True
    assert incident.rto.measured_from == "failure"


def test_the_record_says_what_ran_in_parallel_and_for_how_long():
    incident = build_record(JOURNAL)

    [overlap] = incident.rto.parallel
    assert (overlap.group, overlap.steps, overlap.overlap_s) == (
        "promote-and-scale", ("promote-database", "scale-up"), 25.0)


def test_without_a_failure_time_rto_runs_from_the_start_of_the_run():
    incident = build_record(JOURNAL)

    assert incident.rto.total_s == 58.0
    assert incident.rto.measured_from == "run start"
    assert incident.rto.phases[0].duration_s is None


def test_the_timeline_and_decisions_come_from_the_journal():
    incident = build_record(JOURNAL, forced=True, classification="major")

    assert [(e.step, e.status, e.duration_s) for e in incident.timeline] == [
        ("gather-evidence", "completed", 4.0), ("take-lease", "completed", 1.0),
        ("promote-database", "completed", 40.0), ("scale-up", "completed", 25.0),
        ("evacuate-primary", "completed", 4.0), ("verify", "completed", 8.0),
    ]
    assert incident.timeline[2].started_at == "2027-01-15T08:00:06.000Z"
    assert [(d.step, d.decision, d.facts) for d in incident.decisions] == [
        ("promote-database", "managed failover with data loss", {"lag_s": 0.8})]
    assert (incident.status, incident.forced, incident.classification) == (
        "complete", True, "major")
    assert incident.trigger == {"kind": "cli", "who": "alice@laptop"}


def test_a_record_of_a_resumed_run_shows_every_attempt_and_the_interruption(tmp_path):
    attempts: list[int] = []

    def promote(ctx):
        attempts.append(1)
        if len(attempts) == 1:
            raise TimeoutError("us-west-2 did not answer")
        return {"summary": "promoted"}

    plan = Plan("failover", (
        Step("evidence", "gather", lambda ctx: {"summary": "2 of 4"}, acts=False),
        Parallel("promote-and-scale", "both", (
            Step("promote", "promote", promote, once=True, reconcile=lambda ctx: None,
                 phase="promotion"),
            Step("scale-up", "scale", lambda ctx: {}, phase="capacity"),
        )),
        Step("verify", "verify", lambda ctx: {}, phase="verification"),
    ))
    with jr.Run.start(tmp_path, "failover", Trigger("api", "lambda").to_dict()) as run:
        run_plan(plan, run)
    with jr.Run.resume(tmp_path, run.run_id, Trigger("cli", "bob@desk").to_dict()) as again:
        run_plan(plan, again)

    incident = build_record(again.records())
    assert incident.status == "complete"
    assert [(e.step, e.status, e.attempts) for e in incident.timeline] == [
        ("evidence", "completed", 1), ("promote", "completed", 2),
        ("scale-up", "completed", 1), ("verify", "completed", 1)]
    assert [(i["kind"], i["status"], i["step"]) for i in incident.interruptions] == [
        ("run-stopped", "failed", "promote"), ("run-resumed", None, None)]
    assert incident.trigger == {"kind": "api", "who": "lambda", "detail": ""}
    assert all(p.duration_s is not None for p in incident.rto.phases if p.steps)


def test_a_failed_run_names_the_failing_step_and_error():
    failed = JOURNAL[:7] + [
        record("step-failed", 20, step="promote-database", error="step promote-database"
               " failed: timed out", group="promote-and-scale"),
        record("run-stopped", 21, status="failed", step="promote-database",
               error="step promote-database failed: timed out"),
    ]

    incident = build_record(failed)

    assert (incident.status, incident.failing_step) == ("failed", "promote-database")
    assert incident.error == "step promote-database failed: timed out"
    assert incident.rto.total_s is None


def test_the_record_is_written_as_json_and_markdown_beside_the_journal(tmp_path):
    rpo = Rpo(lost_writes=3, span_s=0.6, budget_s=5, method="write markers")
    incident = build_record(JOURNAL, failure_epoch=T0 - 30, rto_objective_s=900, rpo=rpo,
                            evidence={"summary": "3 of 4 signals agree", "signals": [
                                {"source": "route53", "verdict": "failed", "detail": "0/16"}]})

    json_path, markdown_path = write_record(incident, tmp_path)

    assert json_path == tmp_path / "failover-1" / "incident.json"
    stored = json.loads(json_path.read_text())
    assert stored["rto"]["total_s"] == 88.0 and stored["rto"]["met"] is True
    assert stored["rpo"] == {"lost_writes": 3, "span_s": 0.6, "budget_s": 5,
                             "method": "write markers", "detail": ""}
    markdown = markdown_path.read_text()
    assert markdown.startswith("# Incident record: failover failover-1\n")
    assert "| route53 | failed | 0/16 |" in markdown
    assert "Total: 88.0 s measured from the failure (objective 900.0 s: met)." in markdown
    assert "| promotion | 40.0 s | 2027-01-15T08:00:06.000Z | 2027-01-15T08:00:46.000Z |" \
           " promote-database |" in markdown
    assert ("In parallel (promote-and-scale): promote-database, scale-up, overlapping 25.0 s."
            in markdown)
    assert "Writes lost: 3; time span: 0.6 s; budget 5.0 s (write markers)." in markdown
    assert sorted(p.name for p in json_path.parent.iterdir()) == ["incident.json",
                                                                  "incident.md"]


def test_record_run_writes_the_record_of_a_real_run_into_its_directory(tmp_path):
    plan = Plan("drill", (Step("verify", "verify", lambda ctx: {"summary": "HTTP 200"},
                               phase="verification"),))
    with jr.Run.start(tmp_path, "drill", Trigger("drill", "bench").to_dict()) as run:
        run_plan(plan, run)

    incident, (json_path, markdown_path) = record_run(run, classification="major")

    assert json_path.parent == run.directory
    assert json.loads(json_path.read_text())["timeline"][0]["result"] == {"summary": "HTTP 200"}
    assert incident.status == "complete"
    assert "| verify | completed |" in markdown_path.read_text()


def test_a_lease_taken_again_on_resume_does_not_stretch_the_decision_or_reorder_steps():
    # kill -9 during promote-and-scale (no run-stopped record), resumed at 100 s: the lease
    # is taken again (a rerun step), the promotion is reconciled. The decision was made by
    # 5 s; the 95 s the run lay dead count towards promotion, not decision. Parallel steps
    # are listed in plan order, whichever thread journaled its start first.
    journal = [
        record("run-started", 0, run_id="failover-2", procedure="failover",
               trigger={"kind": "cli", "who": "alice@laptop"}, params={}),
        record("plan", 0, outline=[{"step": "gather-evidence"}, {"step": "take-lease"},
                                   {"group": "promote-and-scale",
                                    "steps": ["promote-database", "scale-up"]}]),
        record("step-started", 0, step="gather-evidence", phase="decision", acts=False),
        record("step-completed", 4, step="gather-evidence", result={}, duration_s=4.0),
        record("step-started", 4, step="take-lease", phase="decision", acts=False),
        record("step-completed", 5, step="take-lease", result={"summary": "lease held"},
               duration_s=1.0),
        record("step-started", 6, step="scale-up", group="promote-and-scale",
               phase="capacity", acts=True),
        record("step-started", 6, step="promote-database", group="promote-and-scale",
               phase="promotion", acts=True),
        record("step-completed", 20, step="scale-up", group="promote-and-scale", result={},
               duration_s=14.0),
        record("run-resumed", 100, trigger={"kind": "cli", "who": "alice@laptop"}),
        record("step-started", 100, step="take-lease", phase="decision", acts=False),
        record("step-completed", 101, step="take-lease", result={"summary": "taken back"},
               duration_s=1.0),
        record("step-reconciled", 102, step="promote-database", group="promote-and-scale",
               result={"summary": "already the writer"}),
        record("run-closed", 103, status="complete"),
    ]

    incident = build_record(journal)

    assert [(e.step, e.status, e.attempts, e.started_at[-10:]) for e in incident.timeline] == [
        ("gather-evidence", "completed", 1, "00:00.000Z"),
        ("take-lease", "completed", 2, "00:04.000Z"),
        ("promote-database", "reconciled", 1, "00:06.000Z"),
        ("scale-up", "completed", 1, "00:06.000Z"),
    ]
    phases = {p.phase: p.duration_s for p in incident.rto.phases}
    assert phases["decision"] == 5.0
    assert phases["promotion"] == 96.0
