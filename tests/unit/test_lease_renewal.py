"""The lease over a run's life: renewal, loss, bounded holding, and taking it back."""

from __future__ import annotations

import time

import pytest

from dr import journal as jr
from dr.lease import Lease, LeaseLost, lease_step
from dr.plan import Plan, Step
from dr.runner import run_plan

REGION = "us-west-2"


def make(engine_moto, table, run_id, holder="alice@laptop (cli)", **options) -> Lease:
    return Lease(REGION, holder=holder, run_id=run_id, procedure="failover", table=table,
                 target=engine_moto, **options)


def wait_until(condition, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_a_run_whose_lease_was_taken_over_stops_before_its_next_step(engine_moto, table,
                                                                     tmp_path):
    promoted: list[str] = []

    def steal(ctx):
        # Someone takes the lease by force (as after an expiry); renewal must notice.
        client = engine_moto.client("dynamodb", REGION)
        client.update_item(TableName=table, Key={"lease": {"S": "dr-run"}},
                           UpdateExpression="SET run_id = :other, holder = :who",
                           ExpressionAttributeValues={":other": {"S": "failover-api"},
                                                      ":who": {"S": "api (lambda)"}})
        lease = ctx.services["lease"]
        wait_until(lambda: lease.lost is not None)
        return {}

    services: dict = {}

    def build(ctx):
        services["lease"] = make(engine_moto, table, ctx.run_id, renew_every_s=0.1)
        return services["lease"]

    plan = Plan("failover", (lease_step(build), Step("steal", "steal", steal),
                             Step("promote", "promote", lambda c: promoted.append(1) or {})))
    with jr.Run.start(tmp_path, "failover", {"kind": "cli"}) as run:
        outcome = run_plan(plan, run, services=services)

    assert promoted == []
    assert outcome.failed_step == "promote"
    assert isinstance(outcome.error.cause, LeaseLost)
    assert "now held by api (lambda) (run failover-api)" in str(outcome.error)


def test_renewal_stops_by_itself_after_the_longest_hold(engine_moto, table):
    lease = make(engine_moto, table, "failover-1", duration_s=30, renew_every_s=0.05,
                 max_hold_s=0.2)
    lease.acquire()
    lease.start_renewing()

    wait_until(lambda: lease.lost is not None)
    with pytest.raises(LeaseLost, match="renewal of the DR lease stopped after 0 s"):
        lease.check()
    lease.release()


def test_a_failed_run_keeps_its_lease_and_the_resume_takes_it_back(engine_moto, table,
                                                                   tmp_path):
    attempts: list[int] = []

    def promote(ctx):
        attempts.append(1)
        if len(attempts) == 1:
            raise TimeoutError("the promotion did not finish")
        return {}

    plan = Plan("failover", (
        lease_step(lambda ctx: make(engine_moto, table, ctx.run_id)),
        Step("promote", "promote", promote, once=True, reconcile=lambda ctx: None),
    ))
    with jr.Run.start(tmp_path, "failover", {"kind": "cli"}) as run:
        assert run_plan(plan, run).status == "failed"
    held = make(engine_moto, table, "someone-else").current()
    assert held.run_id == run.run_id  # kept: nothing else may start a failover meanwhile

    with jr.Run.resume(tmp_path, run.run_id) as again:
        outcome = run_plan(plan, again)

    assert outcome.status == "complete"
    lease_result = outcome.result_of("lease")
    assert lease_result["resumed"] is True
    assert lease_result["summary"] == "lease taken back by alice@laptop (cli) in us-west-2"
    assert make(engine_moto, table, "someone-else").current() is None  # released at the end


def test_taking_over_a_stale_lease_is_recorded_as_a_decision(engine_moto, table, tmp_path):
    stale = make(engine_moto, table, "failover-old", holder="carol@desk (cli)",
                 duration_s=0.1)
    stale.acquire()
    time.sleep(0.3)

    plan = Plan("failover", (lease_step(lambda ctx: make(engine_moto, table, ctx.run_id)),))
    with jr.Run.start(tmp_path, "failover", {"kind": "cli"}) as run:
        outcome = run_plan(plan, run)

    assert outcome.result_of("lease")["took_over"]["run_id"] == "failover-old"
    [decision] = [r for r in run.records() if r["kind"] == "decision"]
    assert decision["decision"] == ("took over a stale DR lease from carol@desk (cli)"
                                    " (run failover-old)")
