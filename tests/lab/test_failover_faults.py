"""Failover on the lab when things go wrong: the known failure modes of the procedure.

- the planned API during a real outage fails or hangs: clear, bounded error, then the
  disaster path works;
- a detached replica sits in `promoting`: the waiter waits through it;
- a managed failover AWS refuses: detach and promote, recording the rebuild;
(A whole failover with every call to the primary region failing and the survivor's API
throttling is the shared run of test_failover.py.)
"""

from __future__ import annotations

import threading
import time

import pytest

from dr import database
from dr.settings import load_pair
from dr.waiting import Timeouts
from test_failover_support import (  # noqa: F401 - fixtures
    EAST, PROJECT_DIR, WEST, global_members, project, run_engine, wait_for_evidence, wait_for_lag,
    writer_region,
)

pytestmark = pytest.mark.lab

TIMEOUTS = Timeouts().scaled(0.05)  # the lab's time model in these tests
EVIDENCE_RULE = load_pair(PROJECT_DIR).primary.evidence  # 2 of 4


def test_planned_switchover_during_an_outage_is_refused_before_anything_changes(
        fresh_lab, lab_control, project):
    lab_control.set_fault(EAST, "outage")
    before = project.texts()

    result = run_engine(fresh_lab, project, planned=True)

    assert result.outcome.status == "refused"
    assert result.outcome.failed_step == "pre-flight"
    message = str(result.outcome.error.cause)
    assert "the RDS API of us-east-1 did not answer usefully" in message
    assert "run `invoke failover` without --planned" in message
    assert project.texts() == before
    assert global_members(fresh_lab) == {"shopsmart-db-us-east-1": True,
                                         "shopsmart-db-us-west-2": False}


def test_switchover_cut_short_by_an_outage_fails_clearly_and_unplanned_failover_then_works(
        fresh_lab, lab_control, project):
    rds = fresh_lab.target().client("rds", WEST)

    def outage_once_the_switchover_began() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if database.read_global(rds, WEST).operation is not None:
                lab_control.set_fault(EAST, "outage")
                return
            time.sleep(0.05)

    saboteur = threading.Thread(target=outage_once_the_switchover_began, daemon=True)
    saboteur.start()
    planned = run_engine(fresh_lab, project, planned=True)
    saboteur.join(timeout=5)

    assert planned.outcome.status == "failed"
    assert planned.outcome.failed_step == "promote-database"
    message = str(planned.outcome.error.cause)
    assert "switchover of shopsmart-global toward shopsmart-db-us-west-2" in message
    assert "run `invoke failover` without --planned" in message
    assert project.record(planned.outcome.run_id)["status"] == "failed"
    assert wait_for_evidence(fresh_lab).meets(EVIDENCE_RULE)
    assert wait_for_lag(fresh_lab) is not None

    unplanned = run_engine(fresh_lab, project)

    assert unplanned.outcome.status == "complete", unplanned.outcome.error
    assert unplanned.outcome.result_of("take-lease")["took_over"] is None
    assert writer_region(fresh_lab) == WEST


def test_detached_replica_sitting_in_promoting_is_waited_through(fresh_lab):
    target = fresh_lab.target()
    rds = target.client("rds", WEST)
    cluster = database.read_cluster(rds, WEST)
    rds.remove_from_global_cluster(GlobalClusterIdentifier="shopsmart-global",
                                   DbClusterIdentifier=cluster.arn)
    assert database.read_cluster(rds, WEST).status == "promoting"
    seen: list[str] = []

    promotion = database.promote_secondary(target, WEST, planned=False, timeouts=TIMEOUTS,
                                           on_state=seen.append)

    assert promotion.method == "detach-and-promote"
    assert promotion.reconciled is True
    assert promotion.old_primary_must_be_rebuilt is True
    assert seen[0] == "shopsmart-db-us-west-2 promoting, detached"
    assert seen[-1] == "shopsmart-db-us-west-2 available, detached"
    assert database.read_cluster(rds, WEST).status == "available"
    assert writer_region(fresh_lab) == WEST


def test_managed_failover_refused_falls_back_to_detach_and_promote(fresh_lab):
    """A secondary on another minor version cannot take a managed failover (AWS refuses
    it); the engine detaches and promotes it instead and says the old primary must go."""
    target = fresh_lab.target()
    rds = target.client("rds", WEST)
    rds.modify_db_cluster(DBClusterIdentifier="shopsmart-db-us-west-2", EngineVersion="15.5",
                          ApplyImmediately=True)
    assert database.read_cluster(rds, WEST).engine_version == "15.5"

    promotion = database.promote_secondary(target, WEST, planned=False, timeouts=TIMEOUTS)

    assert promotion.method == "detach-and-promote"
    assert promotion.reconciled is False
    assert promotion.fallback_reason.startswith(
        "failover_global_cluster refused: InvalidDBClusterStateFault")
    assert promotion.old_primary_must_be_rebuilt is True
    assert "shopsmart-db-us-west-2 promoting, detached" in promotion.states
    assert global_members(fresh_lab) == {"shopsmart-db-us-east-1": True}


def test_unknown_cluster_state_stops_the_wait_and_names_the_state(fresh_lab):
    """A resumed run finds the detached secondary stopped: not a state a promotion passes
    through, so the waiter stops at once and names it instead of waiting out its bound."""
    target = fresh_lab.target()
    rds = target.client("rds", WEST)
    rds.remove_from_global_cluster(GlobalClusterIdentifier="shopsmart-global",
                                   DbClusterIdentifier=database.read_cluster(rds, WEST).arn)
    database.promote_secondary(target, WEST, planned=False, timeouts=TIMEOUTS)
    rds.stop_db_cluster(DBClusterIdentifier="shopsmart-db-us-west-2")

    with pytest.raises(database.UnknownDatabaseState) as raised:
        database.promote_secondary(target, WEST, planned=False, timeouts=TIMEOUTS)

    assert raised.value.state == "stopped"
    assert "cluster shopsmart-db-us-west-2 is in state 'stopped'" in str(raised.value)
