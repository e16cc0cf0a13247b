"""Each DR invariant of the pack: the shipped stacks keep it, and one deliberate break of the
shipped program (a single resource changed) or of its configuration violates exactly that
policy, with a message that names the resource and the fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infra.offline import run_stack
from policies import check, rules
from recording import add, change, find

PROJECT_DIR = Path(__file__).resolve().parents[2]
RECORD = "aws:route53/record:Record"
CLUSTER = "aws:rds/cluster:Cluster"
GROUP = "aws:autoscaling/group:Group"
ALB = "aws:lb/loadBalancer:LoadBalancer"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"

WEST_TOPIC = "arn:aws:sns:us-west-2:123456789012:shopsmart-dr-us-west-2"


def only(resources, config=None) -> tuple[str, str, str]:
    """The one violation of ``resources``: (policy, resource name, message)."""
    verdict = check.evaluate(resources, config)
    found = [(v.policy, v.resource, v.message) for v in verdict.violations]
    assert len(found) == 1, f"expected exactly one violation, found {found}"
    return found[0]


@pytest.mark.parametrize("stack", ["primary", "secondary"])
def test_the_shipped_stacks_keep_every_invariant(shipped, stack):
    verdict = check.evaluate(shipped[stack], stack=stack)

    assert verdict.violations == ()
    assert verdict.undecided == ()
    assert verdict.policies == tuple(policy.name for policy in rules.POLICIES)


@pytest.mark.parametrize("stack, role", [("primary", "secondary"), ("secondary", "primary")])
def test_the_stacks_keep_every_invariant_once_a_failover_flipped_the_roles(stack, role):
    flipped = run_stack(stack, overrides={"role": role})

    assert check.evaluate(flipped.resources, stack=stack).violations == ()


# --- traffic -------------------------------------------------------------------------------

def test_a_failover_record_without_health_check_is_refused(shipped):
    broken = change(shipped["primary"], RECORD, "dns-record", drop=("healthCheckId",))

    assert only(broken) == (
        "failover-record-has-health-check", "dns-record",
        'Record "dns-record" (shop.example.com) [set us-east-1] is a PRIMARY failover record'
        " with no health check, so Route 53 keeps answering with it while its region is down"
        " (evaluate-target-health alone does not fail over an ALB with no healthy targets)."
        " Set healthCheckId to the region's calculated health check (Name tag"
        " shopsmart-<region>-calculated).",
    )


def test_a_record_with_a_long_ttl_is_refused(shipped):
    broken = change(shipped["secondary"], RECORD, "dns-record", drop=("aliases",),
                    records=["192.0.2.10"], ttl=300)

    assert only(broken) == (
        "dns-ttl-at-most", "dns-record",
        'Record "dns-record" (shop.example.com) [set us-west-2] has TTL 300 s, above the'
        " maximum of 60 s: resolvers would keep sending clients to a failed region for that"
        " long. Lower ttl to at most 60 (shopsmart:dns.ttl in the stack file), or use an alias"
        " record.",
    )


def test_the_ttl_maximum_is_policy_config(shipped):
    record = change(shipped["primary"], RECORD, "dns-record", drop=("aliases",),
                    records=["192.0.2.10"], ttl=60)

    assert check.evaluate(record).violations == ()
    policy, name, message = only(record, {"dns-ttl-at-most": {"maxTtlSeconds": 30}})
    assert (policy, name) == ("dns-ttl-at-most", "dns-record")
    assert "has TTL 60 s, above the maximum of 30 s" in message


def test_an_acm_validation_record_may_keep_a_long_ttl(shipped):
    with_ttl = [r for r in shipped["primary"] if r.type == RECORD and "ttl" in r.inputs]

    assert [(r.inputs["name"], r.inputs["ttl"]) for r in with_ttl] == [
        ("_0ff1ine.shop.example.com.", 300)]
    assert check.evaluate(with_ttl).violations == ()


# --- database ------------------------------------------------------------------------------

def test_stack_files_with_different_engine_versions_are_refused(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    secondary = tmp_path / "Pulumi.secondary.yaml"
    secondary.write_text(secondary.read_text().replace('engineVersion: "15.4"',
                                                       'engineVersion: "15.5"'))

    verdict = check.check_stack("primary", tmp_path)

    assert [(v.policy, v.resource, v.message) for v in verdict.violations] == [(
        "aurora-engine-matches-across-stacks", "(stack)",
        "Pulumi.primary.yaml declares aurora-postgresql 15.4 but Pulumi.secondary.yaml"
        " declares aurora-postgresql 15.5: managed failover needs the same engine and"
        " major/minor version in both regions. Set shopsmart:db.engine and"
        " shopsmart:db.engineVersion to the same values in both stack files.",
    )]


def test_a_cluster_whose_engine_differs_from_the_stack_files_is_refused(shipped):
    broken = change(shipped["secondary"], CLUSTER, "database-cluster", engineVersion="15.3")

    assert only(broken) == (
        "aurora-engine-matches-across-stacks", "database-cluster",
        'Cluster "database-cluster" (shopsmart-db-us-west-2) uses engine aurora-postgresql'
        " 15.3 but both stack files declare aurora-postgresql 15.4: the two regions would run"
        " different engines. Take engine and engine_version from the stack settings"
        " (dr.settings) instead of writing them in the program.",
    )


def test_a_secondary_cluster_with_credentials_is_refused(shipped):
    broken = change(shipped["secondary"], CLUSTER, "database-cluster",
                    databaseName="shopsmart", masterUsername="admin", masterPassword="[secret]")

    assert only(broken) == (
        "secondary-cluster-without-credentials", "database-cluster",
        'Cluster "database-cluster" (shopsmart-db-us-west-2) joins the global database'
        " shopsmart-global from us-west-2, outside its home region us-east-1, but sets"
        " databaseName, masterUsername, masterPassword: a secondary inherits its database and"
        " master user from the global database. Remove them; they belong to the home stack"
        " (shopsmart:db.homeRegion) only.",
    )


def test_stack_files_that_disagree_on_the_home_region_are_refused(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    secondary = tmp_path / "Pulumi.secondary.yaml"
    secondary.write_text(secondary.read_text().replace("homeRegion: us-east-1",
                                                       "homeRegion: us-west-2"))

    verdict = check.check_stack("secondary", tmp_path)

    assert [(v.policy, v.resource, v.message) for v in verdict.violations] == [(
        "secondary-cluster-without-credentials", "database-cluster",
        'Cluster "database-cluster" (shopsmart-db-us-west-2) sets databaseName,'
        " masterUsername, masterPassword, but the stack files disagree on the database's home"
        " (Pulumi.primary.yaml: us-east-1, Pulumi.secondary.yaml: us-west-2): both stacks"
        " would found the global database shopsmart-global. Set shopsmart:db.homeRegion to"
        " the same region in both stack files.",
    )]


def test_the_founding_cluster_carries_the_credentials(shipped):
    founder = [r for r in shipped["primary"] if r.type == CLUSTER][0]

    assert founder.inputs["masterUsername"] == "shopsmart_admin"
    assert founder.inputs["masterPassword"] == "[secret]"
    assert check.evaluate(shipped["primary"]).violations == ()


def test_an_unprotected_cluster_is_refused(shipped):
    broken = change(shipped["primary"], CLUSTER, "database-cluster", protect=False)

    assert only(broken) == (
        "database-protected", "database-cluster",
        'Cluster "database-cluster" (shopsmart-db-us-east-1) is not protected: a replacement'
        " or `pulumi destroy` would delete the shop's data. Declare it with"
        " ResourceOptions(protect=True).",
    )


def test_an_unprotected_global_cluster_is_refused(shipped):
    broken = change(shipped["primary"], "aws:rds/globalCluster:GlobalCluster", "global",
                    protect=False)

    assert only(broken)[:2] == ("database-protected", "database-global")


def test_a_cluster_without_deletion_protection_is_refused(shipped):
    broken = change(shipped["secondary"], CLUSTER, "database-cluster", deletionProtection=False)

    assert only(broken) == (
        "cluster-deletion-protection", "database-cluster",
        'Cluster "database-cluster" (shopsmart-db-us-west-2) has deletionProtection False:'
        " AWS would let anyone with the API delete it. Set deletion_protection=True"
        " (shopsmart:db.deletionProtection).",
    )


def test_a_cluster_with_short_backups_is_refused(shipped):
    broken = change(shipped["primary"], CLUSTER, "database-cluster", backupRetentionPeriod=3)

    assert only(broken) == (
        "cluster-backup-retention", "database-cluster",
        'Cluster "database-cluster" (shopsmart-db-us-east-1) keeps backups 3 days, fewer than'
        " the required 7. Set backup_retention_period to at least 7"
        " (shopsmart:db.backupRetentionDays).",
    )


def test_the_backup_minimum_is_policy_config(shipped):
    policy, name, message = only(shipped["primary"], {"cluster-backup-retention": {
        "minBackupDays": 14}})

    assert (policy, name) == ("cluster-backup-retention", "database-cluster")
    assert "keeps backups 7 days, fewer than the required 14" in message


def test_a_cluster_without_a_kms_key_is_refused(shipped):
    broken = change(shipped["secondary"], CLUSTER, "database-cluster", drop=("kmsKeyId",))

    assert only(broken) == (
        "cluster-encrypted-with-kms", "database-cluster",
        'Cluster "database-cluster" (shopsmart-db-us-west-2) is not encrypted with a KMS key'
        " of its own: set kms_key_id (a key in the cluster's own region, such as"
        " alias/shopsmart-db-<region>).",
    )


def test_a_member_that_would_undo_a_failover_is_refused(shipped):
    broken = change(shipped["secondary"], CLUSTER, "database-cluster",
                    ignore_changes=("engineVersion", "global_cluster_identifier"))

    assert only(broken) == (
        "cluster-ignores-global-membership", "database-cluster",
        'Cluster "database-cluster" (shopsmart-db-us-west-2) is a global database member but'
        " does not ignore changes to replicationSourceIdentifier: after a failover the next"
        " `pulumi up` would try to move it back or detach it. Add them to"
        " ResourceOptions(ignore_changes=[...]).",
    )


# --- compute -------------------------------------------------------------------------------

def test_a_group_on_ec2_health_checks_is_refused(shipped):
    broken = change(shipped["primary"], GROUP, "asg-1", healthCheckType="EC2")

    assert only(broken) == (
        "asg-elb-health-check", "compute-asg-1",
        'Group "compute-asg-1" (shopsmart-app-us-east-1-1): its health check type is EC2, so'
        " an instance whose application fails keeps running and keeps its place; set"
        " health_check_type='ELB'.",
    )


def test_a_group_without_grace_period_is_refused(shipped):
    broken = change(shipped["primary"], GROUP, "asg-0", drop=("healthCheckGracePeriod",))

    assert only(broken)[2] == (
        'Group "compute-asg-0" (shopsmart-app-us-east-1-0): its health check grace period is'
        " not set, so booting instances could be replaced before they serve; set"
        " health_check_grace_period to at least 60."
    )


def test_a_load_balancer_in_one_az_is_refused(shipped):
    broken = change(shipped["secondary"], ALB, "alb", subnets=["shopsmart-us-west-2-public-0"])

    assert only(broken) == (
        "alb-spans-two-azs", "compute-alb",
        'LoadBalancer "compute-alb" (shopsmart-alb-us-west-2) has 1 subnet(s)'
        " (shopsmart-us-west-2-public-0), so it spans fewer than 2 AZs and one AZ outage"
        " takes the region down. Give it one subnet in each of at least 2 usable AZs"
        " (shopsmart:azCount).",
    )


def test_two_groups_in_one_az_are_refused(shipped):
    broken = change(shipped["primary"], GROUP, "asg-1",
                    vpcZoneIdentifiers=["shopsmart-us-east-1-private-0"])

    assert only(broken) == (
        "one-asg-per-az", "compute-asg-1",
        'Group "compute-asg-1" (shopsmart-app-us-east-1-1) launches into'
        ' shopsmart-us-east-1-private-0, which Group "compute-asg-0"'
        " (shopsmart-app-us-east-1-0) already covers: give each AZ exactly one group.",
    )


def test_a_group_spread_over_two_azs_is_refused(shipped):
    broken = change(shipped["primary"], GROUP, "asg-0", vpcZoneIdentifiers=[
        "shopsmart-us-east-1-private-0", "shopsmart-us-east-1-private-1"])

    policy, name, message = only(broken)
    assert (policy, name) == ("one-asg-per-az", "compute-asg-0")
    assert "launches into 2 subnets/AZs" in message


def test_an_az_of_the_load_balancer_without_a_group_is_refused(shipped):
    broken = change(shipped["primary"], ALB, "alb", subnets=[
        "shopsmart-us-east-1-public-0", "shopsmart-us-east-1-public-1",
        "shopsmart-us-east-1-public-2"])

    assert only(broken) == (
        "one-asg-per-az", "compute-alb",
        'LoadBalancer "compute-alb" (shopsmart-alb-us-east-1) spans 3 AZs but the stack'
        " declares 2 Auto Scaling group(s), so some AZ it serves has no capacity of its own:"
        " declare one group per AZ of the load balancer.",
    )


# --- alarms --------------------------------------------------------------------------------

def test_a_route53_alarm_outside_us_east_1_is_refused(shipped):
    broken = change(shipped["secondary"], ALARM, "endpoint-health", region="us-west-2",
                    alarmActions=[WEST_TOPIC], okActions=[WEST_TOPIC])

    assert only(broken) == (
        "route53-alarms-in-us-east-1", "alarms-endpoint-health",
        'MetricAlarm "alarms-endpoint-health" (shopsmart-us-west-2-endpoint-health) watches'
        " AWS/Route53 metrics but is created in us-west-2: Route 53 publishes HealthCheckStatus"
        " only in us-east-1, so the alarm would never leave INSUFFICIENT_DATA. Create it with"
        " a us-east-1 provider.",
    )


def test_an_alarm_notifying_a_topic_of_another_region_is_refused(shipped):
    broken = change(shipped["secondary"], ALARM, "endpoint-health", alarmActions=[WEST_TOPIC])

    assert only(broken) == (
        "alarm-actions-in-alarm-region", "alarms-endpoint-health",
        'MetricAlarm "alarms-endpoint-health" (shopsmart-us-west-2-endpoint-health) in'
        f" us-east-1 notifies {WEST_TOPIC} (alarmActions), a topic in us-west-2: CloudWatch"
        " only delivers to SNS topics of the alarm's own region. Point it at the topic of its"
        " region (for Route 53 alarms, naming.route53_alarm_topic).",
    )


def test_an_alarm_silent_on_missing_data_is_refused(shipped):
    broken = change(shipped["primary"], ALARM, "alb-5xx", drop=("treatMissingData",))

    assert only(broken) == (
        "alarm-treats-missing-data", "alarms-alb-5xx",
        'MetricAlarm "alarms-alb-5xx" (shopsmart-us-east-1-alb-5xx) has treatMissingData'
        " None: when its region goes dark the metric stops and the alarm's state becomes a"
        " matter of defaults. Set treat_missing_data to one of breaching, notBreaching,"
        " ignore, missing on purpose.",
    )


# --- exposure ------------------------------------------------------------------------------

def test_an_unencrypted_topic_is_refused(shipped):
    broken = change(shipped["primary"], "aws:sns/topic:Topic", "alarms-topic",
                    drop=("kmsMasterKeyId",))

    assert only(broken) == (
        "sns-topic-encrypted", "alarms-topic",
        'Topic "alarms-topic" (shopsmart-dr-us-east-1) is not encrypted: incident'
        " notifications name hosts, regions and people. Set kms_master_key_id to a customer"
        " managed key whose policy lets cloudwatch.amazonaws.com use it.",
    )


def test_a_topic_on_the_aws_managed_key_is_refused(shipped):
    broken = change(shipped["secondary"], "aws:sns/topic:Topic", "alarms-route53-topic",
                    kmsMasterKeyId="alias/aws/sns")

    assert only(broken) == (
        "sns-topic-encrypted", "alarms-route53-topic",
        'Topic "alarms-route53-topic" (shopsmart-dr-us-west-2-route53) is encrypted with the'
        " AWS managed key alias/aws/sns, whose key policy does not let CloudWatch use it: every"
        " alarm notification to it would be dropped. Set kms_master_key_id to a customer"
        " managed key whose policy lets cloudwatch.amazonaws.com use it.",
    )


def test_a_launch_template_allowing_imdsv1_is_refused(shipped):
    broken = change(shipped["primary"], "aws:ec2/launchTemplate:LaunchTemplate", "compute-app",
                    metadataOptions={"httpEndpoint": "enabled", "httpTokens": "optional"})

    assert only(broken) == (
        "instances-require-imdsv2", "compute-app",
        'LaunchTemplate "compute-app" (shopsmart-app-us-east-1) allows IMDSv1 (httpTokens'
        " optional): a forged request from the app could read the instance's credentials."
        " Set metadata_options={'http_tokens': 'required'}.",
    )


def test_ssh_open_to_the_world_on_the_app_servers_is_refused(shipped):
    app = [r for r in shipped["primary"] if r.name == "network-app"][0]
    ssh = {"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}
    broken = change(shipped["primary"], SECURITY_GROUP, "network-app",
                    ingress=[*app.inputs["ingress"], ssh])

    assert only(broken) == (
        "no-world-open-ingress", "network-app",
        'SecurityGroup "network-app" (shopsmart-app-us-east-1) opens tcp/22 to 0.0.0.0/0:'
        " only the ALB's group may face the world. Narrow the rule to a security group or a"
        " private range.",
    )


def test_the_alb_may_face_the_world_on_80_and_443_only(shipped):
    alb = [r for r in shipped["secondary"] if r.name == "network-alb"][0]
    app_port = {"protocol": "tcp", "fromPort": 8080, "toPort": 8080, "ipv6CidrBlocks": ["::/0"]}
    broken = change(shipped["secondary"], SECURITY_GROUP, "network-alb",
                    ingress=[*alb.inputs["ingress"], app_port])

    assert only(broken) == (
        "no-world-open-ingress", "network-alb",
        'SecurityGroup "network-alb" (shopsmart-alb-us-west-2) opens tcp/8080 to ::/0: only'
        " tcp/80 and tcp/443 may be open to the world on the ALB's group. Narrow the rule to a"
        " security group or a private range.",
    )


def test_a_failover_method_without_iam_is_refused(shipped):
    broken = change(shipped["secondary"], "aws:apigateway/method:Method", "trigger-post",
                    authorization="NONE")

    assert only(broken) == (
        "failover-api-requires-iam", "trigger-post",
        'Method "trigger-post" of the failover endpoint has authorization NONE: anyone who'
        " finds the URL could start a failover. Set authorization='AWS_IAM' and grant"
        " execute-api:Invoke to the on-call role only.",
    )


def test_a_failover_role_with_a_wildcard_action_is_refused(shipped):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["rds:*", "sns:Publish"], "Resource": "*"}]})
    broken = change(shipped["primary"], "aws:iam/rolePolicy:RolePolicy", "trigger-policy",
                    policy=policy)

    assert only(broken) == (
        "failover-role-no-wildcard-actions", "trigger-role",
        'Role "trigger-role" (shopsmart-failover-us-east-1) is allowed rds:* (in RolePolicy'
        ' "trigger-policy"): the failover role must list the exact actions the engine calls'
        " (rds:FailoverGlobalCluster, cloudwatch:PutMetricData, ...). Replace the wildcards"
        " with those actions.",
    )


def test_a_failover_role_with_broad_managed_or_inline_grants_is_refused(shipped):
    policy = find(shipped["secondary"], "aws:iam/rolePolicy:RolePolicy", "trigger-policy")
    inline = json.dumps({"Statement": [{"Effect": "Allow", "NotAction": "iam:*",
                                        "Resource": "*"}]})
    broken = change(shipped["secondary"], "aws:iam/role:Role", "trigger-role",
                    inlinePolicies=[{"name": "extra", "policy": inline}])
    broken = add(broken, policy, "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                 "trigger-admin", {"role": "shopsmart-failover-us-west-2",
                                   "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})

    policy_name, name, message = only(broken)
    assert (policy_name, name) == ("failover-role-no-wildcard-actions", "trigger-role")
    assert message.startswith(
        'Role "trigger-role" (shopsmart-failover-us-west-2) is allowed everything in the AWS'
        " managed policy AdministratorAccess; NotAction iam:* (in inline policy extra):")


def test_a_failover_role_with_a_partial_wildcard_action_is_refused(shipped):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["rds:Failover*", "sns:Publish"], "Resource": "*"}]})
    broken = change(shipped["primary"], "aws:iam/rolePolicy:RolePolicy", "trigger-policy",
                    policy=policy)

    policy_name, name, message = only(broken)
    assert (policy_name, name) == ("failover-role-no-wildcard-actions", "trigger-role")
    assert message.startswith(
        'Role "trigger-role" (shopsmart-failover-us-east-1) is allowed rds:Failover* (in'
        ' RolePolicy "trigger-policy"):')


def test_a_failover_role_with_a_broad_managed_policy_of_its_own_is_refused(shipped):
    broken = change(shipped["primary"], "aws:iam/role:Role", "trigger-role",
                    managedPolicyArns=["arn:aws:iam::aws:policy/AmazonRDSFullAccess"])

    policy_name, name, message = only(broken)
    assert (policy_name, name) == ("failover-role-no-wildcard-actions", "trigger-role")
    assert message.startswith(
        'Role "trigger-role" (shopsmart-failover-us-east-1) is allowed everything in the AWS'
        " managed policy AmazonRDSFullAccess:")


def test_a_world_open_standalone_ingress_rule_is_refused(shipped):
    app = find(shipped["primary"], SECURITY_GROUP, "network-app")
    rule = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    broken = add(shipped["primary"], app, rule, "network-ssh", {
        "securityGroupId": "shopsmart-app-us-east-1", "ipProtocol": "tcp", "fromPort": 22,
        "toPort": 22, "cidrIpv4": "0.0.0.0/0"})

    assert only(broken) == (
        "no-world-open-ingress", "network-ssh",
        'SecurityGroupIngressRule "network-ssh" opens tcp/22 to 0.0.0.0/0: only the ALB\'s'
        " group may face the world, with its tcp/80 and tcp/443 rules written inline. Narrow"
        " the rule to a security group or a private range.",
    )


def test_the_shipped_failover_role_names_every_action(shipped):
    statements = json.loads([r for r in shipped["primary"] if r.name == "trigger-policy"][0]
                            .inputs["policy"])["Statement"]

    actions = [a for s in statements for a in s["Action"]]
    assert "rds:FailoverGlobalCluster" in actions
    assert [a for a in actions if a == "*" or a.endswith(":*")] == []
