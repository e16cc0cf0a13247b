"""The served pack (what `pulumi preview --policy-pack policies` runs) and `invoke policy`
(the offline check) know the same policies and judge a stack the same way."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from policies import check
from recording import change
from served_pack import analyze, info

PROJECT_DIR = Path(__file__).resolve().parents[2]
_LEVELS = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory"}


def test_the_pack_serves_every_rule_invoke_policy_runs(pack):
    served = info(pack)
    offline = check.check_stack("primary", PROJECT_DIR)  # what `invoke policy` calls

    assert served.name == "shopsmart-dr"
    assert [p.name for p in served.policies] == list(offline.policies)
    assert list(offline.policies) == [
        "failover-record-has-health-check", "dns-ttl-at-most",
        "aurora-engine-matches-across-stacks", "secondary-cluster-without-credentials",
        "database-protected", "cluster-deletion-protection", "cluster-backup-retention",
        "cluster-encrypted-with-kms", "cluster-ignores-global-membership",
        "asg-elb-health-check", "alb-spans-two-azs", "one-asg-per-az",
        "route53-alarms-in-us-east-1", "alarm-actions-in-alarm-region",
        "alarm-treats-missing-data", "sns-topic-encrypted", "instances-require-imdsv2",
        "no-world-open-ingress", "failover-api-requires-iam",
        "failover-role-no-wildcard-actions",
    ]


def test_every_served_rule_is_mandatory(pack):
    assert {_LEVELS[p.enforcementLevel] for p in info(pack).policies} == {"mandatory"}


def test_the_pack_declares_its_thresholds_with_their_defaults(pack):
    schemas = {p.name: json_format.MessageToDict(p.configSchema.properties)
               for p in info(pack).policies if p.configSchema.properties}

    assert schemas == {
        "dns-ttl-at-most": {"maxTtlSeconds": {
            "type": "integer", "default": 60.0, "minimum": 1.0,
            "description": "Largest TTL, in seconds, a record may have."}},
        "aurora-engine-matches-across-stacks": {"projectDir": {
            "type": "string", "default": "",
            "description": "Folder of the two stack files; empty: the project around the"
                           " pack."}},
        "secondary-cluster-without-credentials": {"projectDir": {
            "type": "string", "default": "",
            "description": "Folder of the two stack files; empty: the project around the"
                           " pack."}},
        "cluster-backup-retention": {"minBackupDays": {
            "type": "integer", "default": 7.0, "minimum": 1.0, "maximum": 35.0,
            "description": "Fewest days of automated backups."}},
        "asg-elb-health-check": {"minGracePeriodSeconds": {
            "type": "integer", "default": 60.0, "minimum": 1.0,
            "description": "Shortest health check grace period, in seconds."}},
        "alb-spans-two-azs": {"minAvailabilityZones": {
            "type": "integer", "default": 2.0, "minimum": 2.0,
            "description": "Fewest AZs the load balancer spans."}},
    }


def test_the_pack_passes_the_shipped_stacks(pack, shipped):
    assert analyze(pack, shipped["primary"]) == set()
    assert analyze(pack, shipped["secondary"]) == set()


def test_the_pack_and_the_offline_check_find_the_same_violations(pack, shipped):
    broken = change(shipped["secondary"], "aws:rds/cluster:Cluster", "database-cluster",
                    protect=False, masterUsername="admin", drop=("kmsKeyId",))
    broken = change(broken, "aws:cloudwatch/metricAlarm:MetricAlarm", "endpoint-health",
                    region="us-west-2", drop=("treatMissingData",))
    broken = change(broken, "aws:autoscaling/group:Group", "asg-1", healthCheckType="EC2",
                    vpcZoneIdentifiers=["shopsmart-us-west-2-private-0"])

    offline = check.evaluate(broken)
    served = analyze(pack, broken)

    assert served == {(v.policy, v.urn, v.enforcement) for v in offline.violations}
    assert {(policy, urn.rsplit("::", 1)[-1]) for policy, urn, _ in served} == {
        ("database-protected", "database-cluster"),
        ("cluster-encrypted-with-kms", "database-cluster"),
        ("secondary-cluster-without-credentials", "database-cluster"),
        ("route53-alarms-in-us-east-1", "alarms-endpoint-health"),
        ("alarm-actions-in-alarm-region", "alarms-endpoint-health"),
        ("alarm-treats-missing-data", "alarms-endpoint-health"),
        ("asg-elb-health-check", "compute-asg-1"),
        ("one-asg-per-az", "compute-asg-1"),
    }


def test_thresholds_configured_on_the_pack_apply_as_offline(pack, shipped):
    config = {"cluster-backup-retention": {"minBackupDays": 14}}

    served = analyze(pack, shipped["primary"], config)

    assert served == {(v.policy, v.urn, v.enforcement)
                      for v in check.evaluate(shipped["primary"], config).violations}
    assert {policy for policy, _, _ in served} == {"cluster-backup-retention"}


def test_a_value_unknown_before_deployment_leaves_the_rule_undecided(pack, shipped):
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi's sentinel for an unknown string
    broken = change(shipped["primary"], "aws:rds/cluster:Cluster", "database-cluster",
                    kmsKeyId=unknown)
    cluster = [r for r in broken if r.name == "database-cluster"][0]

    offline = check.evaluate(broken, stack="primary")

    assert offline.violations == ()
    assert offline.undecided == ("cluster-encrypted-with-kms on database-cluster",)
    # The CLI reports such a rule as an advisory "can't run during preview" diagnostic.
    assert analyze(pack, broken) == {("cluster-encrypted-with-kms", cluster.urn, "advisory")}
    assert check.render(offline).splitlines()[0] == (
        "primary: cluster-encrypted-with-kms on database-cluster could not decide: a value is"
        " unknown offline")
