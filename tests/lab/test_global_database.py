"""Aurora global database in the lab: AWS's states, transitions and errors for managed
failover, switchover and detach-and-promote, and the old primary rejoining."""

from __future__ import annotations

import botocore.exceptions
import pytest

from dr import naming

pytestmark = pytest.mark.lab

EAST, WEST = "us-east-1", "us-west-2"
GLOBAL = naming.global_cluster_id()


def error_of(call, **kwargs) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def global_cluster(client, region=WEST) -> dict:
    return client("rds", region).describe_global_clusters()["GlobalClusters"][0]


def roles(cluster: dict) -> dict[str, tuple[bool, str | None]]:
    """region -> (IsWriter, SynchronizationStatus) of each member."""
    return {m["DBClusterArn"].split(":")[3]: (m["IsWriter"], m.get("SynchronizationStatus"))
            for m in cluster["GlobalClusterMembers"]}


def cluster_status(client, region: str) -> str:
    found = client("rds", region).describe_db_clusters(
        DBClusterIdentifier=naming.cluster_id(region))["DBClusters"]
    return found[0]["Status"]


def test_deployed_global_cluster_has_the_primary_as_writer(module_fresh_lab, client) -> None:
    cluster = global_cluster(client)
    assert cluster["Status"] == "available"
    assert roles(cluster) == {EAST: (True, None), WEST: (False, "connected")}
    assert "FailoverState" not in cluster


def test_failover_errors_name_aws_codes(module_fresh_lab, client, cluster_arns) -> None:
    rds = client("rds", WEST)
    assert error_of(rds.failover_global_cluster, GlobalClusterIdentifier="no-such-global",
                    TargetDbClusterIdentifier=cluster_arns[WEST], AllowDataLoss=True) == (
        "GlobalClusterNotFoundFault", 404)
    assert error_of(rds.failover_global_cluster, GlobalClusterIdentifier=GLOBAL,
                    TargetDbClusterIdentifier="arn:aws:rds:us-west-2:123456789012:cluster:x",
                    AllowDataLoss=True) == ("DBClusterNotFoundFault", 404)
    assert error_of(rds.failover_global_cluster, GlobalClusterIdentifier=GLOBAL,
                    TargetDbClusterIdentifier=cluster_arns[EAST], AllowDataLoss=True) == (
        "InvalidDBClusterStateFault", 400)
    assert error_of(rds.failover_global_cluster, GlobalClusterIdentifier=GLOBAL,
                    TargetDbClusterIdentifier=cluster_arns[WEST], AllowDataLoss=True,
                    Switchover=True) == ("InvalidParameterCombination", 400)
    assert global_cluster(client)["Status"] == "available"


def test_the_writer_cannot_be_detached_while_it_has_secondaries(module_fresh_lab, client,
                                                                cluster_arns) -> None:
    assert error_of(client("rds", EAST).remove_from_global_cluster,
                    GlobalClusterIdentifier=GLOBAL,
                    DbClusterIdentifier=cluster_arns[EAST]) == (
        "InvalidDBClusterStateFault", 400)


def test_switchover_needs_the_primary_region(module_fresh_lab, lab_control, client,
                                             cluster_arns) -> None:
    lab_control.set_fault(EAST, "outage")
    assert error_of(client("rds", WEST).switchover_global_cluster,
                    GlobalClusterIdentifier=GLOBAL,
                    TargetDbClusterIdentifier=cluster_arns[WEST]) == (
        "InvalidDBClusterStateFault", 400)


def test_failover_to_a_cluster_in_a_region_that_is_down_is_refused(
        module_fresh_lab, lab_control, client, cluster_arns) -> None:
    lab_control.set_fault(WEST, "outage")
    assert error_of(client("rds", EAST).failover_global_cluster,
                    GlobalClusterIdentifier=GLOBAL,
                    TargetDbClusterIdentifier=cluster_arns[WEST], AllowDataLoss=True) == (
        "InvalidDBClusterStateFault", 400)


def test_replication_lag_of_the_secondary_is_published_in_its_region(module_fresh_lab, client,
                                                                     poll) -> None:
    from datetime import datetime, timedelta, timezone

    def datapoints():
        now = datetime.now(timezone.utc)
        return client("cloudwatch", WEST).get_metric_statistics(
            Namespace="AWS/RDS", MetricName="AuroraGlobalDBRPOLag",
            Dimensions=[{"Name": "DBClusterIdentifier", "Value": naming.cluster_id(WEST)}],
            StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
            Period=60, Statistics=["Maximum"])["Datapoints"]

    found = poll(datapoints, lambda points: len(points) > 0, timeout_s=20)[-1]
    assert found[0]["Unit"] == "Milliseconds"
    assert found[0]["Maximum"] >= 0


def test_managed_failover_goes_through_failing_over_and_the_old_primary_rejoins(
        fresh_lab, client, cluster_arns, poll) -> None:
    answer = client("rds", WEST).failover_global_cluster(
        GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=cluster_arns[WEST],
        AllowDataLoss=True)["GlobalCluster"]

    assert answer["Status"] == "failing-over"
    assert answer["FailoverState"] == {
        "Status": "pending", "FromDbClusterArn": cluster_arns[EAST],
        "ToDbClusterArn": cluster_arns[WEST], "IsDataLossAllowed": True,
    }
    states = poll(lambda: (global_cluster(client).get("FailoverState", {}).get("Status"),
                           cluster_status(client, WEST)),
                  lambda s: s == (None, "available"))
    assert ("failing-over", "promoting") in states
    after = poll(lambda: global_cluster(client), lambda g: roles(g)[EAST][1] == "connected")
    assert after[0]["Status"] == "available"
    assert roles(after[0]) in ({EAST: (False, "pending-resync"), WEST: (True, None)},
                               {EAST: (False, "connected"), WEST: (True, None)})
    assert roles(after[-1]) == {EAST: (False, "connected"), WEST: (True, None)}
    assert cluster_status(client, EAST) == "available"


def test_old_primary_in_a_region_that_is_down_rejoins_only_when_the_region_returns(
        fresh_lab, lab_control, client, cluster_arns, poll) -> None:
    lab_control.set_fault(EAST, "outage")
    client("rds", WEST).failover_global_cluster(
        GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=cluster_arns[WEST],
        AllowDataLoss=True)
    poll(lambda: global_cluster(client), lambda g: g["Status"] == "available")
    assert roles(global_cluster(client)) == {EAST: (False, "pending-resync"),
                                             WEST: (True, None)}

    lab_control.clear(EAST)
    poll(lambda: global_cluster(client), lambda g: roles(g)[EAST][1] == "connected")
    assert cluster_status(client, EAST) == "available"


def test_switchover_keeps_data_and_swaps_the_roles(fresh_lab, client, cluster_arns,
                                                   poll) -> None:
    answer = client("rds", EAST).switchover_global_cluster(
        GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=cluster_arns[WEST]
    )["GlobalCluster"]

    assert answer["Status"] == "switching-over"
    assert answer["FailoverState"]["IsDataLossAllowed"] is False
    seen = poll(lambda: (global_cluster(client)["Status"], cluster_status(client, EAST)),
                lambda s: s == ("available", "available") and roles(
                    global_cluster(client))[WEST][0], timeout_s=30)
    assert ("switching-over", "modifying") in seen
    assert roles(global_cluster(client)) == {EAST: (False, "connected"), WEST: (True, None)}


def test_failover_with_switchover_flag_is_a_switchover(fresh_lab, client,
                                                        cluster_arns) -> None:
    answer = client("rds", EAST).failover_global_cluster(
        GlobalClusterIdentifier=GLOBAL, TargetDbClusterIdentifier=cluster_arns[WEST],
        Switchover=True)["GlobalCluster"]
    assert (answer["Status"], answer["FailoverState"]["IsDataLossAllowed"]) == (
        "switching-over", False)


def test_a_second_failover_while_one_runs_is_refused(fresh_lab, client, cluster_arns) -> None:
    rds = client("rds", WEST)
    rds.failover_global_cluster(GlobalClusterIdentifier=GLOBAL,
                                TargetDbClusterIdentifier=cluster_arns[WEST],
                                AllowDataLoss=True)
    assert error_of(rds.failover_global_cluster, GlobalClusterIdentifier=GLOBAL,
                    TargetDbClusterIdentifier=cluster_arns[WEST], AllowDataLoss=True) == (
        "InvalidGlobalClusterStateFault", 400)


def test_failover_to_a_member_on_another_engine_version_is_refused(fresh_lab, client) -> None:
    rds = client("rds", "us-east-2")
    other = rds.create_db_cluster(
        DBClusterIdentifier="shopsmart-db-us-east-2", Engine="aurora-postgresql",
        EngineVersion="14.9", GlobalClusterIdentifier=GLOBAL)["DBCluster"]
    code = error_of(client("rds", WEST).failover_global_cluster,
                    GlobalClusterIdentifier=GLOBAL,
                    TargetDbClusterIdentifier=other["DBClusterArn"], AllowDataLoss=True)
    assert code == ("InvalidDBClusterStateFault", 400)


def test_detaching_the_secondary_while_the_primary_region_is_down_promotes_it(
        fresh_lab, lab_control, client, cluster_arns, poll) -> None:
    lab_control.set_fault(EAST, "outage")
    answer = client("rds", WEST).remove_from_global_cluster(
        GlobalClusterIdentifier=GLOBAL, DbClusterIdentifier=cluster_arns[WEST])["GlobalCluster"]

    assert [m["DBClusterArn"] for m in answer["GlobalClusterMembers"]] == [cluster_arns[EAST]]
    statuses = poll(lambda: cluster_status(client, WEST), lambda s: s == "available")
    assert statuses[0] == "promoting"
    detached = client("rds", WEST).describe_db_clusters(
        DBClusterIdentifier=naming.cluster_id(WEST))["DBClusters"][0]
    assert "GlobalClusterIdentifier" not in detached
