"""The DR lease against a real DynamoDB API (a moto server process on loopback)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dr import journal as jr
from dr.lease import Lease, LeaseHeld, LeaseLost, LeaseUnavailable, lease_step
from dr.plan import Plan, Step
from dr.runner import run_plan

REGION = "us-west-2"


def lease(engine_moto, table, run_id="failover-1", holder="alice@laptop (cli)", **options):
    return Lease(REGION, holder=holder, run_id=run_id, procedure="failover", table=table,
                 target=engine_moto, **options)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_free_lease_is_acquired_and_stored_with_holder_run_and_expiry(engine_moto, table):
    clock = Clock()
    acquired = lease(engine_moto, table, clock=clock, duration_s=300).acquire()

    assert (acquired.resumed, acquired.took_over) == (False, None)
    stored = lease(engine_moto, table, run_id="other").current()
    assert (stored.holder, stored.run_id, stored.procedure) == (
        "alice@laptop (cli)", "failover-1", "failover")
    assert stored.acquired_at == jr.now_iso(1_800_000_000.0)
    assert stored.expires_at == 1_800_000_300.0


def test_a_held_lease_is_refused_naming_holder_run_and_since_when(engine_moto, table):
    clock = Clock()
    lease(engine_moto, table, clock=clock).acquire()
    clock.now += 10

    with pytest.raises(LeaseHeld) as refused:
        lease(engine_moto, table, run_id="failover-2", holder="api (lambda)",
              clock=clock).acquire()

    message = str(refused.value)
    assert "alice@laptop (cli)" in message
    assert "run failover-1" in message
    assert f"since {jr.now_iso(1_800_000_000.0)}" in message
    assert refused.value.record.run_id == "failover-1"


def test_a_stale_lease_is_taken_over_and_the_displaced_holder_is_reported(engine_moto, table):
    clock = Clock()
    lease(engine_moto, table, clock=clock, duration_s=60).acquire()
    clock.now += 61

    acquired = lease(engine_moto, table, run_id="failover-2", holder="bob@desk (cli)",
                     clock=clock).acquire()

    assert acquired.took_over.run_id == "failover-1"
    assert acquired.took_over.holder == "alice@laptop (cli)"
    assert lease(engine_moto, table).current().run_id == "failover-2"


def test_the_same_run_takes_its_own_lease_back_after_an_interruption(engine_moto, table):
    clock = Clock()
    first = lease(engine_moto, table, clock=clock).acquire()
    clock.now += 30

    again = lease(engine_moto, table, clock=clock, duration_s=300).acquire()

    assert again.resumed and again.took_over is None
    assert again.record.acquired_at == first.record.acquired_at
    assert again.record.expires_at == 1_800_000_330.0


def test_renewal_pushes_the_expiry_and_release_frees_the_lease(engine_moto, table):
    clock = Clock()
    mine = lease(engine_moto, table, clock=clock, duration_s=60)
    mine.acquire()
    clock.now += 50

    assert mine.renew().expires_at == 1_800_000_110.0
    assert mine.release() is True
    assert mine.current() is None


def test_renewing_a_lease_someone_took_over_raises_lease_lost(engine_moto, table):
    clock = Clock()
    mine = lease(engine_moto, table, clock=clock, duration_s=60)
    mine.acquire()
    clock.now += 61
    lease(engine_moto, table, run_id="failover-2", holder="api (lambda)", clock=clock).acquire()

    with pytest.raises(LeaseLost, match=r"now held by api \(lambda\) \(run failover-2\)"):
        mine.renew()
    assert mine.release() is False
    assert mine.current().run_id == "failover-2"


def test_background_renewal_keeps_the_lease_alive_past_its_duration(engine_moto, table):
    mine = lease(engine_moto, table, duration_s=1.0, renew_every_s=0.2)
    with mine as acquired:
        first_expiry = acquired.record.expires_at
        deadline = time.monotonic() + 10
        while mine.current().expires_at <= first_expiry + 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mine.current().expires_at > first_expiry + 0.5
        mine.check()
    assert mine.current() is None


def test_two_threads_acquiring_at_the_same_moment_exactly_one_wins(engine_moto, table):
    start = threading.Barrier(2, timeout=10)
    outcomes: dict[str, str] = {}

    def contend(run_id: str) -> None:
        contender = lease(engine_moto, table, run_id=run_id, holder=run_id)
        start.wait()
        try:
            contender.acquire()
            outcomes[run_id] = "won"
        except LeaseHeld as held:
            outcomes[run_id] = f"refused by {held.record.run_id}"

    threads = [threading.Thread(target=contend, args=(name,)) for name in ("cli", "api")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    winner = lease(engine_moto, table).current().run_id
    loser = "api" if winner == "cli" else "cli"
    assert outcomes == {winner: "won", loser: f"refused by {winner}"}


CONTENDER = """
import json, sys, time
from dr.aws import Target
from dr.lease import Lease, LeaseHeld
endpoint, table, run_id, start_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
lease = Lease("us-west-2", holder=run_id, run_id=run_id, procedure="failover", table=table,
              target=Target.lab(endpoint))
lease.current()  # warm the client so both processes reach the write at the same moment
time.sleep(max(0.0, start_at - time.time()))
try:
    lease.acquire()
    print(json.dumps({"run_id": run_id, "won": True}))
except LeaseHeld as held:
    print(json.dumps({"run_id": run_id, "won": False, "holder": held.record.run_id}))
"""


def test_two_processes_acquiring_at_the_same_moment_exactly_one_wins(engine_moto, table):
    start_at = time.time() + 3.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, engine_moto.endpoint_url, table, run_id,
             str(start_at)],
            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
        )
        for run_id in ("failover-cli", "failover-api")
    ]
    replies = [json.loads(process.communicate(timeout=60)[0]) for process in processes]

    winners = [reply["run_id"] for reply in replies if reply["won"]]
    assert len(winners) == 1
    assert [reply["holder"] for reply in replies if not reply["won"]] == winners
    assert lease(engine_moto, table).current().run_id == winners[0]


def test_a_missing_table_is_reported_as_unavailable_with_what_to_check(engine_moto):
    with pytest.raises(LeaseUnavailable, match="lease table no-such-table in us-west-2"):
        lease(engine_moto, "no-such-table").acquire()


def test_the_lease_step_records_the_holder_and_releases_when_the_run_completes(
        engine_moto, table, tmp_path):
    plan = Plan("failover", (
        lease_step(lambda ctx: lease(engine_moto, table, run_id=ctx.run_id)),
        Step("promote", "promote", lambda ctx: {"held_by": lease(
            engine_moto, table).current().run_id}),
    ))
    with jr.Run.start(tmp_path, "failover", {"kind": "cli"}) as run:
        outcome = run_plan(plan, run)

    assert outcome.status == "complete"
    assert outcome.result_of("promote") == {"held_by": run.run_id}
    assert outcome.result_of("lease")["summary"] == "lease held by alice@laptop (cli) in us-west-2"
    assert lease(engine_moto, table).current() is None


def test_the_lease_step_refuses_the_run_when_another_run_holds_it(engine_moto, table, tmp_path):
    lease(engine_moto, table, run_id="failover-other", holder="api (lambda)").acquire()
    promoted: list[str] = []
    plan = Plan("failover", (
        lease_step(lambda ctx: lease(engine_moto, table, run_id=ctx.run_id)),
        Step("promote", "promote", lambda ctx: promoted.append("x") or {}),
    ))
    with jr.Run.start(tmp_path, "failover", {"kind": "cli"}) as run:
        outcome = run_plan(plan, run)

    assert outcome.status == "refused"
    assert isinstance(outcome.error.cause, LeaseHeld)
    assert "api (lambda), run failover-other" in str(outcome.error)
    assert promoted == []


def test_throttling_is_ridden_out_and_the_lease_still_taken(engine_moto, table):
    from botocore.awsrequest import AWSResponse

    contender = lease(engine_moto, table)
    throttled: list[str] = []

    def throttle_twice(request, **_):
        if len(throttled) < 2:
            throttled.append(request.url)
            body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
            return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "ThrottlingException"},
                               _Raw(body))
        return None

    contender.client.meta.events.register("before-send.dynamodb", throttle_twice)
    acquired = contender.acquire()

    assert len(throttled) == 2
    assert acquired.record.run_id == "failover-1"
    assert lease(engine_moto, table, run_id="x").current().run_id == "failover-1"


def test_an_unreachable_region_is_reported_after_bounded_retries():
    import socket

    from dr.aws import Target

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    target = Target.lab(f"http://127.0.0.1:{port}", connect_timeout_s=0.2, max_attempts=1)

    with pytest.raises(LeaseUnavailable, match=r"failed \(2 attempts\): the region's endpoint"
                                               " did not answer"):
        Lease(REGION, holder="h", run_id="r", procedure="failover", target=target,
              retries=1).acquire()


class _Raw:
    """A raw HTTP body as botocore reads it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_):
        yield self.body

    def read(self, *_):
        body, self.body = self.body, b""
        return body
