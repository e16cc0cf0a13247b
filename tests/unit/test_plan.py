"""The plan runner: order, parallel groups, journaling, timeouts, refusal and dry run."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from dr import journal as jr
from dr.plan import InvalidPlan, Parallel, Plan, PlanMismatch, Step, StepFailed, StepTimedOut
from dr.runner import run_plan

TRIGGER = {"kind": "cli", "who": "oncall@laptop"}


def step(name: str, result: dict | None = None, calls: list | None = None, **options) -> Step:
    def run(ctx):
        if calls is not None:
            calls.append(name)
        return result if result is not None else {"summary": f"{name} ok"}

    return Step(name, f"do {name}", run, **options)


def kinds(run: jr.Run) -> list[tuple[str, str | None]]:
    return [(r["kind"], r.get("step")) for r in run.records()]


def test_steps_run_in_order_and_every_transition_is_journaled(tmp_path):
    calls: list[str] = []
    plan = Plan("drill", (step("first", calls=calls), step("second", calls=calls)))
    with jr.Run.start(tmp_path, "drill", TRIGGER) as run:
        outcome = run_plan(plan, run)

    assert calls == ["first", "second"]
    assert outcome.status == "complete"
    assert [s.status for s in outcome.steps] == ["completed", "completed"]
    assert kinds(run) == [
        ("run-started", None), ("plan", None),
        ("step-started", "first"), ("step-completed", "first"),
        ("step-started", "second"), ("step-completed", "second"),
        ("run-closed", None),
    ]
    assert run.records()[-1]["status"] == "complete"


def test_a_later_step_reads_an_earlier_result_and_the_recorded_params(tmp_path):
    def second(ctx):
        return {"lag_s": ctx.result_of("first")["lag_s"], "planned": ctx.params["planned"]}

    plan = Plan("drill", (step("first", {"lag_s": 0.8}), Step("second", "use it", second)))
    with jr.Run.start(tmp_path, "drill", TRIGGER, {"planned": False}) as run:
        outcome = run_plan(plan, run)

    assert outcome.result_of("second") == {"lag_s": 0.8, "planned": False}


def test_a_parallel_group_runs_its_steps_at_the_same_time(tmp_path):
    both_running = threading.Barrier(2, timeout=5)

    def meet(ctx):
        both_running.wait()  # deadlocks (and times out) unless both run at once
        return {"summary": f"{ctx.step} met its sibling"}

    plan = Plan("failover", (
        Parallel("promote-and-scale", "promote and scale up", (
            Step("promote", "promote", meet, phase="promotion"),
            Step("scale-up", "scale up", meet, phase="capacity"),
        )),
    ))
    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        outcome = run_plan(plan, run)

    assert outcome.status == "complete"
    assert {(s.name, s.group, s.phase) for s in outcome.steps} == {
        ("promote", "promote-and-scale", "promotion"),
        ("scale-up", "promote-and-scale", "capacity"),
    }
    started = [r for r in run.records() if r["kind"] == "step-started"]
    assert {r["group"] for r in started} == {"promote-and-scale"}


def test_a_failing_step_stops_the_run_with_the_step_and_cause_named(tmp_path):
    calls: list[str] = []

    def broken(ctx):
        raise ConnectionError("us-west-2 endpoint refused the connection")

    plan = Plan("drill", (step("scale", calls=calls), Step("promote", "promote", broken),
                          step("verify", calls=calls)))
    with jr.Run.start(tmp_path, "drill", TRIGGER) as run:
        outcome = run_plan(plan, run)

    assert calls == ["scale"]
    assert outcome.status == "failed"
    assert outcome.failed_step == "promote"
    assert isinstance(outcome.error, StepFailed)
    assert isinstance(outcome.error.cause, ConnectionError)
    assert str(outcome.error) == "step promote failed: us-west-2 endpoint refused the connection"
    failed = [r for r in run.records() if r["kind"] == "step-failed"]
    assert failed[0]["error_type"] == "ConnectionError"
    assert run.records()[-1]["kind"] == "run-stopped"  # left open: resumable
    with pytest.raises(StepFailed):
        outcome.raise_for_failure()


def test_a_failure_before_any_acting_step_closes_the_run_as_refused(tmp_path):
    def gate(ctx):
        raise RuntimeError("1 of 4 signals agree; 2 needed")

    plan = Plan("failover", (Step("evidence", "gather", gate, acts=False), step("promote")))
    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        outcome = run_plan(plan, run)

    assert outcome.status == "refused"
    assert run.records()[-1]["kind"] == "run-closed"
    assert run.records()[-1]["status"] == "refused"
    assert jr.find_open_run(tmp_path, "failover") is None


def test_a_hung_step_times_out_and_the_runner_stops_waiting(tmp_path):
    release = threading.Event()

    def hang(ctx):
        release.wait(30)  # ignores its deadline, like a call that never returns
        return {}

    plan = Plan("drill", (Step("switchover", "planned switchover", hang, timeout_s=0.2),))
    with jr.Run.start(tmp_path, "drill", TRIGGER) as run:
        outcome = run_plan(plan, run)
    release.set()

    assert isinstance(outcome.error, StepTimedOut)
    assert outcome.error.step == "switchover"
    assert "timed out after 0 s while planned switchover" in str(outcome.error)
    assert [r["timed_out"] for r in run.records() if r["kind"] == "step-failed"] == [True]


def test_wait_for_returns_the_value_and_times_out_at_the_deadline(tmp_path):
    polls = iter([None, None, {"status": "available"}])

    def wait_available(ctx):
        return ctx.wait_for(lambda: next(polls), "the cluster to be available", 0.01)

    def wait_forever(ctx):
        return ctx.wait_for(lambda: None, "the writer to change", 0.01)

    plan = Plan("drill", (Step("wait", "wait", wait_available),
                          Step("stuck", "wait", wait_forever, timeout_s=0.1)))
    with jr.Run.start(tmp_path, "drill", TRIGGER) as run:
        outcome = run_plan(plan, run)

    assert outcome.result_of("wait") == {"status": "available"}
    assert isinstance(outcome.error, StepTimedOut)
    assert outcome.error.waiting_for == "waiting for the writer to change"


def test_progress_is_logged_at_most_once_per_interval(tmp_path, caplog):
    seen: list[tuple[str, str]] = []

    def chatty(ctx):
        for number in range(50):
            ctx.progress(f"poll {number}")
        return {}

    plan = Plan("drill", (Step("wait", "wait", chatty),))
    with jr.Run.start(tmp_path, "drill", TRIGGER) as run, caplog.at_level(logging.INFO):
        run_plan(plan, run, on_progress=lambda s, m: seen.append((s, m)), progress_every_s=60)

    assert seen == [("wait", "poll 0")]
    assert sum("poll" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO) == 1


def test_each_step_logs_its_start_and_its_result_with_the_duration(tmp_path, caplog):
    plan = Plan("drill", (step("promote", {"summary": "shopsmart-db-us-west-2 is the writer"}),))
    with jr.Run.start(tmp_path, "drill", TRIGGER) as run, caplog.at_level(logging.INFO):
        run_plan(plan, run)

    messages = [r.getMessage() for r in caplog.records if r.name == "dr.runner"]
    assert messages[0] == "promote: do promote"
    assert messages[1].startswith("promote: done in ")
    assert messages[1].endswith(" s: shopsmart-db-us-west-2 is the writer")


def test_decisions_are_journaled_with_their_facts(tmp_path):
    def choose(ctx):
        ctx.decide("detach and promote", reason="global failover refused", lag_s=0.4)
        return {}

    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        run_plan(Plan("failover", (Step("promote", "promote", choose),)), run)

    decision = [r for r in run.records() if r["kind"] == "decision"][0]
    assert (decision["step"], decision["decision"], decision["facts"]) == (
        "promote", "detach and promote", {"reason": "global failover refused", "lag_s": 0.4})


def test_exit_callbacks_hear_the_final_status(tmp_path):
    heard: list[str] = []

    def hold(ctx):
        ctx.on_exit(heard.append)
        return {}

    with jr.Run.start(tmp_path, "drill", TRIGGER) as run:
        run_plan(Plan("drill", (Step("lease", "take the lease", hold),)), run)

    assert heard == ["complete"]


def test_a_guard_that_raises_stops_the_run_before_the_next_step(tmp_path):
    calls: list[str] = []

    def take(ctx):
        ctx.add_guard(lambda: (_ for _ in ()).throw(RuntimeError("lease lost to api@lambda")))
        return {}

    plan = Plan("drill", (Step("lease", "take", take), step("promote", calls=calls)))
    with jr.Run.start(tmp_path, "drill", TRIGGER) as run:
        outcome = run_plan(plan, run)

    assert calls == []
    assert str(outcome.error) == "step promote failed: lease lost to api@lambda"


def test_a_result_that_is_not_json_fails_the_step(tmp_path):
    plan = Plan("drill", (Step("bad", "bad", lambda ctx: {"when": time}),))
    with jr.Run.start(tmp_path, "drill", TRIGGER) as run:
        outcome = run_plan(plan, run)

    assert outcome.failed_step == "bad"
    assert "not JSON" in str(outcome.error)


def test_a_plan_refuses_duplicate_names_and_once_steps_without_reconcile():
    with pytest.raises(InvalidPlan, match="duplicate names promote"):
        Plan("drill", (step("promote"), step("promote")))
    with pytest.raises(InvalidPlan, match="once-only but has no reconcile"):
        Plan("drill", (step("promote", once=True),))


def test_resuming_with_a_different_plan_is_refused_before_anything_runs(tmp_path):
    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        run_plan(Plan("failover", (step("evidence", acts=False), Step(
            "promote", "p", lambda ctx: (_ for _ in ()).throw(RuntimeError("x"))))), run)
    calls: list[str] = []
    with jr.Run.resume(tmp_path, run.run_id) as again, pytest.raises(PlanMismatch):
        run_plan(Plan("failover", (step("switchover", calls=calls),)), again)
    assert calls == []


def test_dry_run_renders_every_step_and_api_target_and_runs_nothing():
    calls: list[str] = []
    plan = Plan("failover", (
        step("evidence", calls=calls, acts=False, timeout_s=30,
             api_targets=("route53:GetHealthCheckStatus shopsmart-us-east-1-endpoint",)),
        Parallel("promote-and-scale", "promote the database and scale up", (
            Step("promote", "promote shopsmart-db-us-west-2", lambda c: {}, once=True,
                 reconcile=lambda c: None, timeout_s=600, api_targets=(
                     "rds:FailoverGlobalCluster us-west-2 shopsmart-global"
                     " → shopsmart-db-us-west-2",)),
            step("scale-up", calls=calls, timeout_s=600),
        )),
    ))

    assert plan.render() == "\n".join([
        "Plan failover (3 steps):",
        "  1. evidence: do evidence (timeout 30 s, changes nothing in the shop)",
        "       → route53:GetHealthCheckStatus shopsmart-us-east-1-endpoint",
        "  2. promote-and-scale: promote the database and scale up (in parallel)",
        "      2a. promote: promote shopsmart-db-us-west-2 (timeout 600 s, never repeated)",
        "            → rds:FailoverGlobalCluster us-west-2 shopsmart-global"
        " → shopsmart-db-us-west-2",
        "      2b. scale-up: do scale-up (timeout 600 s)",
    ])
    assert calls == []


def test_a_failure_inside_a_parallel_group_fails_the_run_after_its_siblings_finish(tmp_path):
    finished: list[str] = []

    def slow(ctx):
        time.sleep(0.2)
        finished.append(ctx.step)
        return {}

    def broken(ctx):
        raise RuntimeError("FailoverGlobalCluster: InvalidGlobalClusterStateFault")

    plan = Plan("failover", (
        Parallel("promote-and-scale", "both", (Step("promote", "promote", broken),
                                                Step("scale-up", "scale", slow))),
        step("verify", calls=finished),
    ))
    with jr.Run.start(tmp_path, "failover", TRIGGER) as run:
        outcome = run_plan(plan, run)

    assert finished == ["scale-up"]
    assert outcome.failed_step == "promote"
    assert [(s.name, s.status) for s in outcome.steps] == [
        ("promote", "failed"), ("scale-up", "completed")]
