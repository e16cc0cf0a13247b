"""Resuming a run: after kill -9 nothing done is redone, and a once step never runs twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dr import journal as jr
from dr.plan import Plan, Step
from dr.runner import run_plan

TRIGGER = {"kind": "cli", "who": "oncall@laptop"}

# A procedure in its own process, so it can really be killed with SIGKILL. The "promotion"
# appends a line to a file (its effect in the world) and reconcile reads that file back.
PROCEDURE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from dr import journal as jr
    from dr.plan import Plan, Step
    from dr.runner import run_plan

    incidents, world, kill_at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    def effect(name):
        with open(world, "a") as handle:
            handle.write(name + "\\n")
            handle.flush()
            os.fsync(handle.fileno())

    def act(name, kill_before=False):
        def run(ctx):
            if kill_at == name + ":before":
                os.kill(os.getpid(), signal.SIGKILL)
            effect(name)
            if kill_at == name + ":after":
                os.kill(os.getpid(), signal.SIGKILL)
            return {"summary": name + " done"}
        return run

    def promoted(ctx):
        lines = world.read_text().split() if world.exists() else []
        return {"summary": "writer already promoted"} if "promote" in lines else None

    plan = Plan("failover", (
        Step("evidence", "gather evidence", act("evidence"), acts=False),
        Step("promote", "promote the secondary", act("promote"), once=True,
             reconcile=promoted),
        Step("verify", "verify", act("verify")),
    ))
    with jr.open_run(incidents, "failover", {"kind": "cli", "who": "test"}) as run:
        outcome = run_plan(plan, run)
    print(outcome.status, run.run_id, [(s.name, s.status) for s in outcome.steps])
""")


def run_procedure(tmp_path: Path, kill_at: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROCEDURE, str(tmp_path / "incidents"), str(tmp_path / "world"),
         kill_at],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
    )


@pytest.mark.parametrize("kill_at, statuses", [
    ("evidence:after", "[('evidence', 'completed'), ('promote', 'completed'),"
                       " ('verify', 'completed')]"),
    ("promote:before", "[('evidence', 'skipped'), ('promote', 'completed'),"
                       " ('verify', 'completed')]"),
    ("promote:after", "[('evidence', 'skipped'), ('promote', 'reconciled'),"
                      " ('verify', 'completed')]"),
    ("verify:after", "[('evidence', 'skipped'), ('promote', 'skipped'),"
                     " ('verify', 'completed')]"),
])
def test_after_kill_9_running_again_resumes_and_promotes_exactly_once(tmp_path, kill_at,
                                                                       statuses):
    killed = run_procedure(tmp_path, kill_at)
    assert killed.returncode == -signal.SIGKILL

    resumed = run_procedure(tmp_path)

    assert resumed.returncode == 0, resumed.stderr
    status, run_id, steps = resumed.stdout.split(" ", 2)
    assert status == "complete"
    assert steps.strip() == statuses
    assert (tmp_path / "world").read_text().split().count("promote") == 1
    assert sorted(p.name for p in (tmp_path / "incidents").iterdir()) == [run_id]
    records = jr.read_records(tmp_path / "incidents" / run_id / "journal.jsonl")
    assert [r["kind"] for r in records].count("run-resumed") == 1
    assert records[-1]["kind"] == "run-closed"


def test_a_once_step_whose_effect_did_not_happen_runs_again(tmp_path):
    world: list[str] = []

    def promote(ctx):
        world.append("promote")
        if len(world) == 1:
            raise TimeoutError("FailoverGlobalCluster: read timeout")
        return {"summary": "promoted"}

    plan = Plan("failover", (Step("promote", "promote", promote, once=True,
                                  reconcile=lambda ctx: None),))
    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        assert run_plan(plan, run).status == "failed"
    with jr.Run.resume(tmp_path, run.run_id) as again:
        outcome = run_plan(plan, again)

    assert outcome.status == "complete"
    assert world == ["promote", "promote"]


def test_a_once_step_that_failed_after_taking_effect_is_reconciled_not_repeated(tmp_path):
    world: list[str] = []

    def promote(ctx):
        world.append("promote")
        raise TimeoutError("FailoverGlobalCluster: read timeout after AWS accepted the call")

    reconcile = lambda ctx: {"summary": "already the writer"} if world else None  # noqa: E731
    plan = Plan("failover", (Step("promote", "promote", promote, once=True,
                                  reconcile=reconcile),))
    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        run_plan(plan, run)
    with jr.Run.resume(tmp_path, run.run_id) as again:
        outcome = run_plan(plan, again)

    assert world == ["promote"]
    assert [(s.name, s.status, s.result) for s in outcome.steps] == [
        ("promote", "reconciled", {"summary": "already the writer"})]


def test_a_rerun_on_resume_step_runs_again_on_every_resume(tmp_path):
    taken: list[str] = []

    def lease(ctx):
        taken.append(ctx.run_id)
        return {"holder": "oncall@laptop"}

    def fail_once(ctx):
        if len(taken) == 1:
            raise RuntimeError("region busy")
        return {}

    plan = Plan("failover", (Step("lease", "take the lease", lease, rerun_on_resume=True),
                             Step("promote", "promote", fail_once)))
    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        run_plan(plan, run)
    with jr.Run.resume(tmp_path, run.run_id) as again:
        outcome = run_plan(plan, again)

    assert taken == [run.run_id, run.run_id]
    assert outcome.status == "complete"


def test_a_torn_last_journal_line_is_ignored_and_cut_before_the_next_record(tmp_path):
    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        run.journal.append("step-started", step="promote", acts=True)
    with open(run.journal.path, "ab") as handle:
        handle.write(b'{"kind":"step-completed","step":"prom')  # kill -9 mid-write

    assert [r["kind"] for r in jr.read_records(run.journal.path)] == [
        "run-started", "step-started"]
    with jr.Run.resume(tmp_path, run.run_id) as again:
        again.journal.append("step-failed", step="promote")
    assert [r["kind"] for r in jr.read_records(run.journal.path)] == [
        "run-started", "step-started", "run-resumed", "step-failed"]


def test_a_run_held_by_a_live_process_is_not_the_open_run(tmp_path):
    with jr.Run.start(tmp_path, "failover", TRIGGER) as live:
        assert jr.find_open_run(tmp_path, "failover") is None
        with pytest.raises(jr.RunBusy, match=live.run_id):
            jr.Run.resume(tmp_path, live.run_id)
    assert jr.find_open_run(tmp_path, "failover") == live.run_id


def test_the_open_run_is_the_newest_unclosed_run_of_that_procedure(tmp_path):
    with jr.Run.start(tmp_path, "failover", TRIGGER, run_id="failover-20261204T100000Z-aaaaaa"):
        pass
    with jr.Run.start(tmp_path, "failover", TRIGGER,
                      run_id="failover-20261204T110000Z-bbbbbb") as closed:
        closed.close("complete")
    with jr.Run.start(tmp_path, "failback", TRIGGER, run_id="failback-20261204T120000Z-cccccc"):
        pass

    assert jr.find_open_run(tmp_path, "failover") == "failover-20261204T100000Z-aaaaaa"
    assert jr.find_open_run(tmp_path, "failback") == "failback-20261204T120000Z-cccccc"
    assert jr.find_open_run(tmp_path, "drill") is None


def test_resume_keeps_the_params_and_trigger_of_the_first_start(tmp_path):
    with jr.Run.start(tmp_path, "failover", TRIGGER, {"planned": True}):
        pass
    with jr.open_run(tmp_path, "failover", {"kind": "api", "who": "lambda"}, {}) as run:
        assert run.resumed
        assert run.params == {"planned": True}
        assert run.trigger == TRIGGER
    assert os.path.exists(run.journal.path)


INTERRUPTIBLE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dr import journal as jr
    from dr.plan import Plan, Step
    from dr.runner import run_plan
    from dr.plan import RunInterrupted

    def wait(ctx):
        print("waiting", flush=True)
        ctx.on_exit(lambda status: print("exit hook heard", status, flush=True))
        return ctx.wait_for(lambda: None, "a promotion that never ends", 0.05)

    plan = Plan("failover", (Step("promote", "promote", wait, timeout_s=30),))
    with jr.Run.start(Path(sys.argv[1]), "failover", {"kind": "cli"}) as run:
        try:
            run_plan(plan, run)
        except RunInterrupted as stopped:
            print("interrupted:", stopped, flush=True)
            sys.exit(130)
""")


def test_ctrl_c_stops_the_run_open_and_says_how_to_resume(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE, str(tmp_path)],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert process.stdout.readline() == "waiting\n"
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 130
    assert "exit hook heard interrupted" in output
    assert "interrupted: interrupted during promote; run failover-" in output
    assert output.strip().endswith("is open: run the same command again to resume it")
    run_id = jr.find_open_run(tmp_path, "failover")
    records = jr.read_records(tmp_path / run_id / "journal.jsonl")
    assert (records[-1]["kind"], records[-1]["status"], records[-1]["step"]) == (
        "run-stopped", "interrupted", "promote")


def test_an_abandoned_run_is_no_longer_the_open_run(tmp_path):
    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        with pytest.raises(jr.RunBusy):
            jr.abandon_run(tmp_path, run.run_id, "operator started afresh")

    jr.abandon_run(tmp_path, run.run_id, "operator started afresh")

    assert jr.find_open_run(tmp_path, "failover") is None
    last = run.records()[-1]
    assert (last["kind"], last["status"], last["reason"]) == (
        "run-closed", "abandoned", "operator started afresh")


INTERRUPTIBLE_GROUP = textwrap.dedent("""
    import sys
    from pathlib import Path
    from dr import journal as jr
    from dr.plan import Parallel, Plan, Step
    from dr.runner import run_plan
    from dr.plan import RunInterrupted

    def wait(ctx):
        return ctx.wait_for(lambda: None, "a promotion that never ends", 0.05)

    def quick(ctx):
        print("scaled", flush=True)
        return {}

    plan = Plan("failover", (Parallel("promote-and-scale", "both", (
        Step("promote", "promote", wait, timeout_s=30),
        Step("scale-up", "scale", quick))),))
    with jr.Run.start(Path(sys.argv[1]), "failover", {"kind": "cli"}) as run:
        try:
            run_plan(plan, run)
        except RunInterrupted as stopped:
            print("interrupted:", stopped, flush=True)
            sys.exit(130)
""")


def test_ctrl_c_in_a_parallel_group_names_the_step_still_running(tmp_path):
    # scale-up started last and finished; the run was waiting on promote when stopped.
    process = subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE_GROUP, str(tmp_path)],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    assert process.stdout.readline() == "scaled\n"
    for _ in range(200):  # the step prints before its completion is journaled
        if any('"scale-up"' in line and "completed" in line
               for journal in tmp_path.glob("*/journal.jsonl")
               for line in journal.read_text().splitlines()):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 130
    assert "interrupted: interrupted during promote; run failover-" in output
