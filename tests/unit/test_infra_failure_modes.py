"""The seven known ways a two-region Aurora/Route 53 setup has broken, each pinned down."""

from __future__ import annotations

import pytest

from dr.settings import SettingsError, load_stack_file, pair
from infra.offline import ROOT, Recording, run_stack

CLUSTER = "aws:rds/cluster:Cluster"


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str], Recording]:
    """Each stack in each role."""
    return {(stack, role): run_stack(stack, overrides={"role": role})
            for stack in ("primary", "secondary") for role in ("primary", "secondary")}


# 1. AWS rejects a secondary cluster that carries a database name or master credentials.

def test_1_the_joining_cluster_never_carries_a_database_name_or_credentials(runs):
    for role in ("primary", "secondary"):
        cluster = runs[("secondary", role)].named("database-cluster").inputs
        assert {"databaseName", "masterUsername", "masterPassword"}.isdisjoint(cluster)


def test_1_a_master_password_on_the_joining_stack_is_refused_before_anything_runs():
    with pytest.raises(SettingsError) as caught:
        run_stack("secondary", overrides={"dbMasterPassword": "hunter2-but-longer"})
    assert str(caught.value) == (
        "Pulumi.secondary.yaml: shopsmart:dbMasterPassword: set on a stack that is not the"
        " database's home (us-east-1); a secondary cluster must not carry master credentials"
    )


def test_1_the_home_stack_without_a_password_is_refused_with_the_command_to_fix_it():
    with pytest.raises(SettingsError) as caught:
        run_stack("primary", dummy_password=False)
    assert str(caught.value) == (
        "Pulumi.primary.yaml: shopsmart:dbMasterPassword: required on the database's home"
        " stack; run `pulumi config set --secret -s primary shopsmart:dbMasterPassword"
        " <a long random string>`"
    )


# 2. An inherited attribute that shows as drift replaces the global cluster.

def test_2_inherited_attributes_are_declared_identically_where_declared(runs):
    home = runs[("primary", "primary")]
    global_cluster = home.named("database-global").inputs
    founding = home.named("database-cluster").inputs
    joining = runs[("secondary", "secondary")].named("database-cluster").inputs
    for key in ("engine", "engineVersion"):
        assert global_cluster[key] == founding[key] == joining[key], key
    assert global_cluster["databaseName"] == founding["databaseName"] == "shopsmart"
    assert home.named("database-global").ignore_changes == (
        "engineVersion", "databaseName", "sourceDbClusterIdentifier")


def test_2_stacks_with_different_engine_versions_are_refused():
    primary = load_stack_file(ROOT / "Pulumi.primary.yaml")
    secondary = load_stack_file(ROOT / "Pulumi.secondary.yaml")
    drifted = type(secondary)(**{**secondary.__dict__, "db": type(secondary.db)(
        **{**secondary.db.__dict__, "engine_version": "15.5"})})
    with pytest.raises(SettingsError) as caught:
        pair(primary, drifted)
    assert str(caught.value) == (
        "Pulumi.primary.yaml + Pulumi.secondary.yaml: shopsmart:db.engineVersion: stacks"
        " disagree (15.4 vs 15.5); managed failover needs the same engine and version"
    )


# 3. A joined cluster later showed a plan that would detach it.

def test_3_membership_fields_are_ignored_on_every_cluster_in_every_role(runs):
    for key, run in runs.items():
        cluster = run.named("database-cluster")
        assert {"globalClusterIdentifier", "replicationSourceIdentifier"} <= set(
            cluster.ignore_changes), key
        assert cluster.ignore_changes == (
            "globalClusterIdentifier", "replicationSourceIdentifier", "engineVersion",
            "databaseName", "masterUsername", "sourceRegion")


# 4. A cluster given fewer AZs than AWS assigns was replaced on every update.

def test_4_clusters_pin_no_azs_and_are_protected_with_deletion_protection(runs):
    for key, run in runs.items():
        for cluster in run.of_type(CLUSTER):
            assert "availabilityZones" not in cluster.inputs, key
            assert cluster.protect is True, key
            assert cluster.inputs["deletionProtection"] is True, key
    home = runs[("primary", "secondary")]
    assert home.named("database-global").protect is True
    assert home.named("database-key").protect is True


# 5. Changing the default provider's region stranded resources.

@pytest.mark.parametrize("stack, region", [("primary", "us-east-1"), ("secondary", "us-west-2")])
def test_5_every_resource_uses_an_explicit_provider_of_the_stack_region(runs, stack, region):
    # Route 53 metrics live in us-east-1; the evacuation switch lives in the peer region.
    elsewhere = {"dns-evacuate", "alarms-endpoint-health", "alarms-route53-topic"}
    run = runs[(stack, "primary")]
    explicit = {r.urn for r in run.of_type("pulumi:providers:aws")}
    for resource in run.resources:
        if resource.type.startswith("aws:"):
            assert resource.provider in explicit, resource.name
            out_of_region = resource.name in elsewhere or resource.name.startswith(
                "alarms-route53-topic-")
            if not out_of_region:
                assert resource.region == region, resource.name


def test_5_a_role_flip_changes_no_region_provider_or_cluster_identity(runs):
    for stack in ("primary", "secondary"):
        as_primary, as_secondary = runs[(stack, "primary")], runs[(stack, "secondary")]
        placement = {r.urn: (r.region, r.provider) for r in as_primary.resources}
        for resource in as_secondary.resources:
            if resource.urn in placement:
                assert placement[resource.urn] == (resource.region, resource.provider)
        clusters = [(r.urn, r.physical_name) for r in as_primary.of_type(CLUSTER)]
        assert clusters == [(r.urn, r.physical_name) for r in as_secondary.of_type(CLUSTER)]


def test_5_the_providers_take_their_region_from_config_not_from_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    run = run_stack("secondary")
    assert {r.region for r in run.resources if r.type.startswith("aws:")} == {
        "us-west-2", "us-east-1"}


# 6. An Auto Scaling group using EC2 health checks kept instances the ALB marked unhealthy.

def test_6_every_auto_scaling_group_uses_elb_health_checks_with_a_grace_period(runs):
    for key, run in runs.items():
        for group in run.of_type("aws:autoscaling/group:Group"):
            assert group.inputs["healthCheckType"] == "ELB", key
            assert group.inputs["healthCheckGracePeriod"] == 300, key
            assert len(group.inputs["targetGroupArns"]) == 1, key


# 7. An alarm on AWS/Route53 HealthCheckStatus outside us-east-1 stays INSUFFICIENT_DATA.

@pytest.mark.parametrize("stack", ["primary", "secondary"])
def test_7_route53_alarms_live_in_us_east_1_and_notify_a_topic_there(runs, stack):
    run = runs[(stack, stack)]
    route53 = [r for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
               if r.inputs["namespace"] == "AWS/Route53"]
    assert [r.physical_name for r in route53] == [
        f"shopsmart-{run.outputs['region']}-endpoint-health"]
    for alarm in route53:
        assert alarm.region == "us-east-1"
        assert alarm.inputs["alarmActions"] == [run.outputs["route53_alarm_topic_arn"]]
        assert alarm.inputs["alarmActions"][0].startswith("arn:aws:sns:us-east-1:")
    topics = {t.inputs["name"]: t.region for t in run.of_type("aws:sns/topic:Topic")}
    assert topics == (
        {"shopsmart-dr-us-east-1": "us-east-1"} if stack == "primary"
        else {"shopsmart-dr-us-west-2": "us-west-2",
              "shopsmart-dr-us-west-2-route53": "us-east-1"})


# AZs come from the region's available list, never by position in a hard-coded one.

def test_subnets_skip_azs_that_are_not_available_and_opt_in_zones():
    zones = {"us-west-2": [("us-west-2-lax-1a", "available", "opted-in"),
                           ("us-west-2a", "impaired", "opt-in-not-required"),
                           ("us-west-2b", "available", "opt-in-not-required"),
                           ("us-west-2d", "available", "opt-in-not-required")]}
    run = run_stack("secondary", zones=zones)
    assert [s.inputs["availabilityZone"] for s in run.of_type("aws:ec2/subnet:Subnet")] == [
        "us-west-2b", "us-west-2b", "us-west-2d", "us-west-2d"]
    assert run.calls[0].args == {
        "state": "available",
        "filters": [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]}
    assert run.calls[0].region == "us-west-2"


def test_too_few_available_azs_is_a_settings_error_naming_them():
    zones = {"us-west-2": [("us-west-2a", "unavailable", "opt-in-not-required"),
                           ("us-west-2c", "available", "opt-in-not-required")]}
    with pytest.raises(SettingsError) as caught:
        run_stack("secondary", zones=zones)
    assert str(caught.value) == (
        "Pulumi.secondary.yaml: shopsmart:azCount: is 2 but us-west-2 has only 1 available"
        " AZs (us-west-2c); lower azCount or pick another region"
    )
