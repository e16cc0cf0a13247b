"""Canary for the moto version the lab is built on (pinned >=5.2.5,<5.3).

The lab extends moto by replacing a few of its response methods and reading its models.
If an upgrade changes any behaviour or internal this relies on, these fail first and say
what to re-check, instead of the drills failing in confusing ways later.
"""

from __future__ import annotations

from importlib.metadata import version

import pytest

from dr import naming

pytestmark = pytest.mark.lab

EAST, WEST = "us-east-1", "us-west-2"


def test_moto_is_the_pinned_minor_version() -> None:
    assert version("moto").startswith("5.2."), (
        "moto left 5.2.x: re-run this canary file and review dr/lab/emulator/*/responses.py")


def test_moto_still_lacks_what_the_lab_adds() -> None:
    from moto.cloudwatch.models import Alarm
    from moto.rds.responses import RDSResponse

    assert not hasattr(RDSResponse, "failover_global_cluster"), (
        "moto now implements failover_global_cluster: compare it with dr/lab/emulator/rds")
    assert not hasattr(RDSResponse, "switchover_global_cluster")
    new_alarm = Alarm.__init__.__code__.co_names
    assert "state_value" in new_alarm  # moto sets the initial state itself (to OK)


def test_the_moto_internals_the_extension_reads_are_there() -> None:
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.rds.models import DBCluster, GlobalCluster, rds_backends
    from moto.route53.models import HealthCheck, route53_backends
    from moto.route53.responses import Route53

    assert isinstance(GlobalCluster.global_cluster_members, property)
    assert isinstance(HealthCheck.health_check_config, property)
    assert isinstance(DBCluster.status, property) and DBCluster.status.fset is not None
    for method in (Route53.create_health_check, Route53.update_health_check,
                   Route53.get_health_check_status, CloudWatchResponse.put_metric_alarm):
        assert callable(method)
    assert hasattr(rds_backends[DEFAULT_ACCOUNT_ID]["us-east-1"], "global_clusters")
    assert hasattr(route53_backends[DEFAULT_ACCOUNT_ID]["aws"], "health_checks")
    assert DEFAULT_ACCOUNT_ID == "123456789012"


def test_describe_global_clusters_lists_the_secondary_as_not_writer(lab, client) -> None:
    cluster = client("rds", WEST).describe_global_clusters()["GlobalClusters"][0]
    writers = {m["DBClusterArn"].split(":")[-1]: m["IsWriter"]
               for m in cluster["GlobalClusterMembers"]}
    assert writers == {naming.cluster_id(EAST): True, naming.cluster_id(WEST): False}


def test_failover_record_fields_round_trip(lab, client) -> None:
    route53 = client("route53", EAST)
    zone = route53.list_hosted_zones_by_name(DNSName="shop.example.com")["HostedZones"][0]
    records = route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
    failover = {r["SetIdentifier"]: r for r in records if r.get("Failover")}

    assert zone["Id"] == "/hostedzone/Z00000000EXAMPLE0000"
    assert {k: r["Failover"] for k, r in failover.items()} == {EAST: "PRIMARY",
                                                               WEST: "SECONDARY"}
    for region, record in failover.items():
        assert record["Name"] == "shop.example.com."
        assert record["Type"] == "A"
        assert record["HealthCheckId"]
        assert record["AliasTarget"]["EvaluateTargetHealth"] is True
        assert record["AliasTarget"]["DNSName"].startswith(naming.alb_name(region))
