"""The real program, run offline from the real stack files: what each stack declares."""

from __future__ import annotations

import json

import pytest

from dr import handler
from infra.offline import Recording, run_stack

PRIMARY, SECONDARY = "primary", "secondary"


@pytest.fixture(scope="module")
def runs() -> dict[str, Recording]:
    return {stack: run_stack(stack) for stack in (PRIMARY, SECONDARY)}


def inputs(run: Recording, name: str) -> dict:
    return run.named(name).inputs


def test_each_stack_has_one_explicit_provider_per_region_it_touches(runs):
    for stack in (PRIMARY, SECONDARY):
        providers = {r.name: r.inputs["region"] for r in runs[stack].of_type(
            "pulumi:providers:aws")}
        assert providers == {"aws-us-east-1": "us-east-1", "aws-us-west-2": "us-west-2"}


def test_components_are_one_per_concern_with_their_type_tokens(runs):
    components = [(r.type, r.name) for r in runs[PRIMARY].resources
                  if r.type.startswith("shopsmart:")]
    assert components == [
        ("shopsmart:network:Network", "network"),
        ("shopsmart:database:Database", "database"),
        ("shopsmart:compute:Compute", "compute"),
        ("shopsmart:dns:Dns", "dns"),
        ("shopsmart:alarms:Alarms", "alarms"),
        ("shopsmart:lease:Lease", "lease"),
        ("shopsmart:trigger:Trigger", "trigger"),
    ]
    for resource in runs[PRIMARY].resources:
        if resource.type.startswith("aws:"):
            assert resource.parent.split("::")[-1] == resource.name.split("-")[0]


@pytest.mark.parametrize("stack, region, cidr", [
    (PRIMARY, "us-east-1", "10.10.0.0/16"), (SECONDARY, "us-west-2", "10.11.0.0/16"),
])
def test_network_spans_two_available_azs_with_public_and_private_subnets(runs, stack,
                                                                          region, cidr):
    run = runs[stack]
    assert inputs(run, "network-vpc")["cidrBlock"] == cidr
    subnets = {r.name: (r.inputs["availabilityZone"], r.inputs["cidrBlock"])
               for r in run.of_type("aws:ec2/subnet:Subnet")}
    prefix = cidr.rsplit(".", 2)[0]
    assert subnets == {
        "network-public-0": (f"{region}a", f"{prefix}.0.0/20"),
        "network-public-1": (f"{region}b", f"{prefix}.16.0/20"),
        "network-private-0": (f"{region}a", f"{prefix}.128.0/20"),
        "network-private-1": (f"{region}b", f"{prefix}.144.0/20"),
    }
    assert len(run.of_type("aws:ec2/natGateway:NatGateway")) == 2
    assert run.outputs["zones"] == [f"{region}a", f"{region}b"]


def test_security_groups_open_the_alb_on_80_443_and_chain_app_and_database(runs):
    run = runs[PRIMARY]
    alb = inputs(run, "network-alb")
    assert [(rule["fromPort"], rule["toPort"], rule["cidrBlocks"]) for rule in alb["ingress"]] \
        == [(80, 80, ["0.0.0.0/0"]), (443, 443, ["0.0.0.0/0"])]
    app = inputs(run, "network-app")["ingress"]
    assert [(r["fromPort"], r["securityGroups"]) for r in app] == [
        (8080, ["shopsmart-alb-us-east-1"])]
    db = inputs(run, "network-db")["ingress"]
    assert [(r["fromPort"], r["securityGroups"]) for r in db] == [
        (5432, ["shopsmart-app-us-east-1"])]


def test_alb_serves_https_with_a_dns_validated_certificate_and_redirects_http(runs):
    run = runs[SECONDARY]
    alb = inputs(run, "compute-alb")
    assert alb["name"] == "shopsmart-alb-us-west-2"
    assert alb["subnets"] == ["shopsmart-us-west-2-public-0", "shopsmart-us-west-2-public-1"]
    assert inputs(run, "compute-cert")["validationMethod"] == "DNS"
    validation = inputs(run, "compute-cert-record")
    assert (validation["zoneId"], validation["type"]) == ("Z00000000EXAMPLE0000", "CNAME")
    https = inputs(run, "compute-https")
    assert (https["port"], https["protocol"]) == (443, "HTTPS")
    assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["defaultActions"][0]["type"] == "forward"
    http = inputs(run, "compute-http")
    assert (http["port"], http["protocol"]) == (80, "HTTP")
    assert http["defaultActions"][0]["redirect"] == {
        "protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}
    assert inputs(run, "compute-tg")["healthCheck"]["path"] == "/health"


def test_launch_template_requires_imdsv2_and_encrypts_volumes(runs):
    template = inputs(runs[PRIMARY], "compute-app")
    assert template["name"] == "shopsmart-app-us-east-1"
    assert (template["imageId"], template["instanceType"]) == ("ami-0123456789abcdef0",
                                                              "t3.small")
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


@pytest.mark.parametrize("stack, region, sizes", [
    (PRIMARY, "us-east-1", (2, 2, 6)), (SECONDARY, "us-west-2", (1, 1, 6)),
])
def test_one_auto_scaling_group_per_az_sized_by_the_role(runs, stack, region, sizes):
    groups = runs[stack].of_type("aws:autoscaling/group:Group")
    assert [g.physical_name for g in groups] == [f"shopsmart-app-{region}-0",
                                                 f"shopsmart-app-{region}-1"]
    for index, group in enumerate(groups):
        got = group.inputs
        assert (got["minSize"], got["desiredCapacity"], got["maxSize"]) == sizes
        assert got["vpcZoneIdentifiers"] == [f"shopsmart-{region}-private-{index}"]
        assert got["targetGroupArns"] == [
            f"arn:aws:lb:{region}:123456789012:shopsmart-tg-{region}"]


def test_home_stack_founds_the_global_database(runs):
    run = runs[PRIMARY]
    assert inputs(run, "database-global") == {
        "globalClusterIdentifier": "shopsmart-global", "engine": "aurora-postgresql",
        "engineVersion": "15.4", "databaseName": "shopsmart", "storageEncrypted": True,
        "deletionProtection": True,
        "tags": {"shopsmart:project": "shopsmart", "shopsmart:region": "us-east-1",
                 "shopsmart:component": "database"},
    }
    cluster = inputs(run, "database-cluster")
    assert cluster["clusterIdentifier"] == "shopsmart-db-us-east-1"
    assert cluster["globalClusterIdentifier"] == "shopsmart-global"
    assert (cluster["databaseName"], cluster["masterUsername"], cluster["masterPassword"]) \
        == ("shopsmart", "shopsmart_admin", "[secret]")
    assert cluster["kmsKeyId"] == (
        "arn:aws:kms:us-east-1:123456789012:key/key-shopsmart-db-us-east-1")
    assert cluster["dbSubnetGroupName"] == "shopsmart-db-us-east-1"
    assert inputs(run, "database-subnets")["subnetIds"] == [
        "shopsmart-us-east-1-private-0", "shopsmart-us-east-1-private-1"]


def test_other_stack_joins_with_a_bare_cluster(runs):
    run = runs[SECONDARY]
    assert run.of_type("aws:rds/globalCluster:GlobalCluster") == []
    cluster = inputs(run, "database-cluster")
    assert cluster["clusterIdentifier"] == "shopsmart-db-us-west-2"
    assert cluster["globalClusterIdentifier"] == "shopsmart-global"
    assert (cluster["engine"], cluster["engineVersion"]) == ("aurora-postgresql", "15.4")
    assert {"databaseName", "masterUsername", "masterPassword"}.isdisjoint(cluster)


@pytest.mark.parametrize("stack, region", [(PRIMARY, "us-east-1"), (SECONDARY, "us-west-2")])
def test_database_instances_and_storage_encryption(runs, stack, region):
    run = runs[stack]
    instances = run.of_type("aws:rds/clusterInstance:ClusterInstance")
    assert [(i.physical_name, i.inputs["instanceClass"]) for i in instances] == [
        (f"shopsmart-db-{region}-0", "db.r6g.large"), (f"shopsmart-db-{region}-1",
                                                       "db.r6g.large")]
    cluster = inputs(run, "database-cluster")
    assert (cluster["storageEncrypted"], cluster["deletionProtection"]) == (True, True)
    assert cluster["backupRetentionPeriod"] == 7
    assert run.named("database-key").inputs["enableKeyRotation"] is True


@pytest.mark.parametrize("stack, region, peer", [
    (PRIMARY, "us-east-1", "us-west-2"), (SECONDARY, "us-west-2", "us-east-1"),
])
def test_dns_checks_and_the_evacuation_switch_in_the_peer_region(runs, stack, region, peer):
    run = runs[stack]
    endpoint = inputs(run, "dns-endpoint")
    assert (endpoint["type"], endpoint["port"], endpoint["resourcePath"]) == ("HTTPS", 443,
                                                                             "/health")
    assert (endpoint["requestInterval"], endpoint["failureThreshold"]) == (10, 3)
    assert endpoint["fqdn"] == f"shopsmart-alb-{region}-1234567890.{region}.elb.amazonaws.com"
    assert endpoint["tags"]["Name"] == f"shopsmart-{region}-endpoint"

    alarm = run.named("dns-evacuate")
    assert (alarm.physical_name, alarm.region) == (f"shopsmart-evacuate-{region}", peer)
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("ShopSmart/DR",
                                                                       "Evacuate")
    assert alarm.inputs["dimensions"] == {"Region": region}
    assert alarm.inputs["treatMissingData"] == "missing"

    evacuation = inputs(run, "dns-evacuation")
    assert (evacuation["type"], evacuation["cloudwatchAlarmName"],
            evacuation["cloudwatchAlarmRegion"], evacuation["insufficientDataHealthStatus"]) \
        == ("CLOUDWATCH_METRIC", f"shopsmart-evacuate-{region}", peer, "LastKnownStatus")
    calculated = inputs(run, "dns-calculated")
    assert (calculated["type"], calculated["childHealthThreshold"]) == ("CALCULATED", 2)
    assert calculated["childHealthchecks"] == [f"shopsmart-{region}-endpoint",
                                               f"shopsmart-{region}-evacuation"]


@pytest.mark.parametrize("stack, region, failover", [
    (PRIMARY, "us-east-1", "PRIMARY"), (SECONDARY, "us-west-2", "SECONDARY"),
])
def test_failover_alias_record_uses_the_calculated_check(runs, stack, region, failover):
    record = inputs(runs[stack], "dns-record")
    assert (record["name"], record["type"], record["setIdentifier"]) == ("shop.example.com",
                                                                         "A", region)
    assert record["failoverRoutingPolicies"] == [{"type": failover}]
    assert record["healthCheckId"] == f"shopsmart-{region}-calculated"
    assert record["aliases"][0]["evaluateTargetHealth"] is True


@pytest.mark.parametrize("stack, alarms", [
    (PRIMARY, ["alb-5xx", "unhealthy-hosts-0", "capacity-0", "unhealthy-hosts-1", "capacity-1",
               "db-writer", "endpoint-health"]),
    (SECONDARY, ["alb-5xx", "unhealthy-hosts-0", "capacity-0", "unhealthy-hosts-1",
                 "capacity-1", "replication-lag", "endpoint-health"]),
])
def test_alarms_of_each_stack_state_how_missing_data_counts(runs, stack, alarms):
    region = runs[stack].outputs["region"]
    found = [r for r in runs[stack].of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
             if r.name.startswith("alarms-")]
    assert [r.physical_name for r in found] == [f"shopsmart-{region}-{a}" for a in alarms]
    assert {r.name: r.inputs["treatMissingData"] for r in found} == {
        "alarms-alb-5xx": "notBreaching",
        "alarms-unhealthy-hosts-0": "notBreaching", "alarms-unhealthy-hosts-1": "notBreaching",
        "alarms-capacity-0": "breaching", "alarms-capacity-1": "breaching",
        ("alarms-db-writer" if stack == PRIMARY else "alarms-replication-lag"): "breaching",
        "alarms-endpoint-health": "breaching",
    }


def test_unhealthy_host_alarms_are_per_az_and_lag_alarm_uses_the_rpo_budget(runs):
    run = runs[SECONDARY]
    assert inputs(run, "alarms-unhealthy-hosts-1")["dimensions"]["AvailabilityZone"] \
        == "us-west-2b"
    lag = inputs(run, "alarms-replication-lag")
    assert (lag["metricName"], lag["threshold"]) == ("AuroraGlobalDBRPOLag", 5000)
    assert lag["dimensions"] == {"DBClusterIdentifier": "shopsmart-db-us-west-2"}


def test_alarm_topic_is_encrypted_and_subscribes_every_contact(runs):
    run = runs[PRIMARY]
    topic = inputs(run, "alarms-topic")
    assert (topic["name"], topic["kmsMasterKeyId"]) == (
        "shopsmart-dr-us-east-1",
        "arn:aws:kms:us-east-1:123456789012:key/key-shopsmart-dr-us-east-1")
    emails = [(r.inputs["protocol"], r.inputs["endpoint"]) for r in run.of_type(
        "aws:sns/topicSubscription:TopicSubscription")]
    assert emails == [("email", "oncall-primary@example.com"),
                      ("email", "oncall-secondary@example.com"),
                      ("email", "eng-manager@example.com"), ("email", "aws-support@example.com")]


def test_alarm_topics_use_keys_of_their_own_region_that_cloudwatch_may_use(runs):
    # The AWS managed key (alias/aws/sns) does not admit CloudWatch: alarms would go unheard.
    run = runs[SECONDARY]
    keys = {r.name: r for r in run.of_type("aws:kms/key:Key")}
    topics = {r.name: r for r in run.of_type("aws:sns/topic:Topic")}
    assert {name: (t.region, t.inputs["kmsMasterKeyId"]) for name, t in topics.items()} == {
        "alarms-topic": (
            "us-west-2", "arn:aws:kms:us-west-2:123456789012:key/key-shopsmart-dr-us-west-2"),
        "alarms-route53-topic": (
            "us-east-1",
            "arn:aws:kms:us-east-1:123456789012:key/key-shopsmart-dr-us-west-2-route53"),
    }
    assert (keys["alarms-topic-key"].region, keys["alarms-route53-topic-key"].region) == (
        "us-west-2", "us-east-1")
    cloudwatch = json.loads(keys["alarms-route53-topic-key"].inputs["policy"])["Statement"][1]
    assert cloudwatch == {
        "Sid": "CloudWatchAlarms", "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"}


def test_the_failover_role_may_publish_to_the_encrypted_topics(runs):
    policy = json.loads(inputs(runs[PRIMARY], "trigger-policy")["policy"])
    statement = next(s for s in policy["Statement"] if s["Sid"] == "EncryptNotifications")
    assert statement == {
        "Sid": "EncryptNotifications", "Effect": "Allow",
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": ["arn:aws:kms:us-east-1:123456789012:key/*",
                     "arn:aws:kms:us-west-2:123456789012:key/*"],
        "Condition": {"StringEquals": {"kms:ViaService": [
            "sns.us-east-1.amazonaws.com", "sns.us-west-2.amazonaws.com"]}}}


def test_dashboard_shows_both_regions_side_by_side(runs):
    body = json.loads(inputs(runs[SECONDARY], "alarms-dashboard")["dashboardBody"])
    titles = [(w["x"], w["y"], w["properties"]["title"]) for w in body["widgets"]]
    assert titles == [
        (0, 0, "Route 53 health checks (1 = healthy)"),
        (0, 6, "us-east-1: replication lag, ms (AuroraGlobalDBRPOLag)"),
        (0, 12, "us-east-1: ALB 5xx per minute"),
        (0, 18, "us-east-1: in-service instances per AZ group"),
        (12, 6, "us-west-2: replication lag, ms (AuroraGlobalDBRPOLag)"),
        (12, 12, "us-west-2: ALB 5xx per minute"),
        (12, 18, "us-west-2: in-service instances per AZ group"),
    ]
    assert inputs(runs[SECONDARY], "alarms-dashboard")["dashboardName"] == "shopsmart-dr-us-west-2"


def test_failover_endpoint_is_an_iam_signed_post_to_the_engine_lambda(runs):
    run = runs[SECONDARY]
    method = inputs(run, "trigger-post")
    assert (method["httpMethod"], method["authorization"]) == ("POST", "AWS_IAM")
    assert inputs(run, "trigger-failover")["pathPart"] == "failover"
    assert inputs(run, "trigger-lambda")["type"] == "AWS_PROXY"
    function = inputs(run, "trigger-function")
    assert (function["name"], function["handler"], function["runtime"]) == (
        "shopsmart-failover-us-west-2", "dr.handler.handle", "python3.12")
    assert function["environment"]["variables"] == {
        "SHOPSMART_TARGET": "aws", "SHOPSMART_PROJECT_DIR": "/var/task",
        "SHOPSMART_INCIDENTS_DIR": "/tmp/incidents"}
    assert run.outputs["failover_url"] == (
        "https://shopsmart-failover-us-west-2.execute-api.us-west-2.amazonaws.com/v1/failover")
    rule = run.named("trigger-dry-run")
    assert (rule.physical_name, rule.inputs["scheduleExpression"]) == (
        "shopsmart-failover-dry-run-us-west-2", "rate(1 hour)")
    event = json.loads(inputs(run, "trigger-dry-run-target")["input"])
    assert json.loads(event["body"]) == {"dry_run": True}
    assert set(json.loads(event["body"])) <= set(handler.OPTIONS)  # what the Lambda accepts


def test_lambda_archive_holds_the_engine_and_stack_files_but_not_the_lab(runs):
    assets = inputs(runs[PRIMARY], "trigger-function")["code"]["assets"]
    assert {"dr/handler.py", "dr/settings.py", "dr/naming.py", "ruamel/yaml/main.py",
            "Pulumi.primary.yaml", "Pulumi.secondary.yaml"} <= set(assets)
    assert assets["dr/naming.py"] == {"path": "dr/naming.py"}
    assert not [name for name in assets if name.startswith("dr/lab/") or "__pycache__" in name]


def test_failover_role_names_every_action_and_never_a_wildcard(runs):
    role = inputs(runs[SECONDARY], "trigger-role")
    assert role["name"] == "shopsmart-failover-us-west-2"
    policy = json.loads(inputs(runs[SECONDARY], "trigger-policy")["policy"])
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    assert not [a for a in actions if "*" in a]
    promote = next(s for s in policy["Statement"] if s["Sid"] == "PromoteDatabase")
    assert promote["Action"] == ["rds:FailoverGlobalCluster", "rds:SwitchoverGlobalCluster",
                                 "rds:RemoveFromGlobalCluster"]
    assert promote["Resource"] == [
        "arn:aws:rds::123456789012:global-cluster:shopsmart-global",
        "arn:aws:rds:us-east-1:123456789012:cluster:shopsmart-db-us-east-1",
        "arn:aws:rds:us-west-2:123456789012:cluster:shopsmart-db-us-west-2"]


def test_lease_table_is_keyed_by_lease(runs):
    table = inputs(runs[PRIMARY], "lease-table")
    assert (table["name"], table["hashKey"]) == ("shopsmart-dr-leases", "lease")
    assert table["attributes"] == [{"name": "lease", "type": "S"}]


@pytest.mark.parametrize("stack", [PRIMARY, SECONDARY])
def test_taggable_resources_carry_the_project_tags_of_their_stack(runs, stack):
    region = runs[stack].outputs["region"]
    for resource in runs[stack].resources:
        tags = resource.inputs.get("tags")
        if isinstance(tags, dict):
            assert tags["shopsmart:project"] == "shopsmart", resource.name
            assert tags["shopsmart:region"] == region, resource.name


def test_stack_outputs_name_what_the_runtime_uses(runs):
    outputs = runs[SECONDARY].outputs
    assert {k: outputs[k] for k in ("region", "role", "is_home", "cluster_id",
                                    "global_cluster_id", "asg_names", "lease_table")} == {
        "region": "us-west-2", "role": "secondary", "is_home": False,
        "cluster_id": "shopsmart-db-us-west-2", "global_cluster_id": "shopsmart-global",
        "asg_names": ["shopsmart-app-us-west-2-0", "shopsmart-app-us-west-2-1"],
        "lease_table": "shopsmart-dr-leases",
    }
    assert outputs["route53_alarm_topic_arn"] == (
        "arn:aws:sns:us-east-1:123456789012:shopsmart-dr-us-west-2-route53")
