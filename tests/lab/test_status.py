"""`invoke status` on the lab: both regions side by side, drift in words, and a region whose
APIs are down shown as "no answer" while the other one is still read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dr import naming
from dr.settings import load_pair
from dr.status import NO_ANSWER, read_status, render

pytestmark = pytest.mark.lab

PROJECT_DIR = Path(__file__).resolve().parents[2]
EAST, WEST = "us-east-1", "us-west-2"


def wait_for_writer(rds, region: str, timeout_s: float = 30.0) -> None:
    """Until the global cluster, as ``rds`` sees it, names ``region``'s cluster writer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = rds.describe_global_clusters(
            GlobalClusterIdentifier=naming.global_cluster_id())["GlobalClusters"][0]
        writers = [m["DBClusterArn"].split(":")[3] for m in found["GlobalClusterMembers"]
                   if m["IsWriter"]]
        if writers == [region] and found["Status"] == "available":
            return
        time.sleep(0.1)
    raise AssertionError(f"{region} did not become the writer within {timeout_s} s")


def test_fresh_lab_shows_roles_as_configured_and_no_drift(fresh_lab):
    pair = load_pair(PROJECT_DIR)

    status = read_status(fresh_lab.target(), pair, timeout_s=3, lab_dir=fresh_lab.lab_dir)

    east, west = status.region(EAST), status.region(WEST)
    assert (east.config_role, east.reality_role) == ("primary", "primary")
    assert (west.config_role, west.reality_role) == ("secondary", "secondary")
    assert (east.cluster_state, west.cluster_state) == ("available", "available")
    assert [(g.desired, g.min, g.max) for g in east.groups] == [(2, 2, 6), (2, 2, 6)]
    assert [(g.desired, g.min, g.max) for g in west.groups] == [(1, 1, 6), (1, 1, 6)]
    assert status.drift == ()
    assert "drift: none (config and reality agree)" in render(status)


def test_a_failover_in_reality_but_not_in_config_is_drift(fresh_lab):
    pair = load_pair(PROJECT_DIR)
    target = fresh_lab.target()
    rds = target.client("rds", WEST)
    west_arn = rds.describe_db_clusters(
        DBClusterIdentifier=naming.cluster_id(WEST))["DBClusters"][0]["DBClusterArn"]
    rds.failover_global_cluster(GlobalClusterIdentifier=naming.global_cluster_id(),
                                TargetDbClusterIdentifier=west_arn, AllowDataLoss=True)
    wait_for_writer(rds, WEST)

    status = read_status(target, pair, timeout_s=3, lab_dir=fresh_lab.lab_dir)

    assert status.region(WEST).reality_role == "primary"
    assert status.region(WEST).config_role == "secondary"
    assert status.drift[0] == (
        "config says us-east-1 is primary (Pulumi.primary.yaml), but the Aurora writer is"
        " us-west-2's cluster: the stack files were not flipped after a role change; finish"
        " it with `invoke failover` (it resumes) or `invoke failback`")
    assert "config says us-east-1 is primary (Pulumi.primary.yaml)" in render(status)


def test_a_region_whose_apis_are_down_shows_no_answer_and_the_other_is_still_read(
        fresh_lab, lab_control):
    pair = load_pair(PROJECT_DIR)
    lab_control.set_fault(EAST, "outage")

    status = read_status(fresh_lab.target(max_attempts=1), pair, timeout_s=2,
                         lab_dir=fresh_lab.lab_dir)

    east, west = status.region(EAST), status.region(WEST)
    assert (east.reality_role, east.cluster_state, east.alarms, east.groups) == (
        None, None, None, None)
    assert [u.split(":")[0] for u in east.unread] == [
        "database", "replication lag", "alarms", "capacity"]
    assert status.health_checks is None  # Route 53's API lives in us-east-1
    assert west.cluster_state == "available"
    assert west.writer_region == EAST
    assert [g.desired for g in west.groups] == [1, 1]
    shown = render(status)
    assert f"role (reality)        {NO_ANSWER}" in shown
    assert "health checks (Route 53): no answer" in shown


def test_a_calculated_check_is_shown_as_its_children_make_it(fresh_lab, poll):
    # Both children healthy (endpoint answers, no evacuation) make the calculated check
    # healthy, whatever its per-minute metric still remembers of the lab's first seconds.
    pair = load_pair(PROJECT_DIR)
    children = ("shopsmart-us-east-1-endpoint", "shopsmart-us-east-1-evacuation")

    status = poll(lambda: read_status(fresh_lab.target(), pair, timeout_s=3,
                                      lab_dir=fresh_lab.lab_dir),
                  lambda s: all(s.health_checks[c] == "Healthy" for c in children))[-1]

    assert status.health_checks["shopsmart-us-east-1-calculated"] == "Healthy"
