"""What `lab.up` deploys beyond names: tags, subscriptions, keys, records, as agreed."""

from __future__ import annotations

import json

import pytest

from dr import naming

pytestmark = pytest.mark.lab

EAST, WEST = "us-east-1", "us-west-2"


def test_health_checks_are_tagged_with_their_name_and_the_project_tags(lab, client) -> None:
    route53 = client("route53", EAST)
    tagged = {}
    for check in route53.list_health_checks()["HealthChecks"]:
        tags = route53.list_tags_for_resource(ResourceType="healthcheck",
                                              ResourceId=check["Id"])["ResourceTagSet"]["Tags"]
        as_dict = {t["Key"]: t["Value"] for t in tags}
        if as_dict.get(f"{naming.PROJECT}:project") == naming.PROJECT:
            tagged[as_dict["Name"]] = as_dict
    assert sorted(tagged) == sorted(
        f(region) for region in (EAST, WEST) for f in (
            naming.endpoint_health_check, naming.evacuation_health_check,
            naming.calculated_health_check))
    assert tagged[naming.endpoint_health_check(WEST)] == {
        "Name": naming.endpoint_health_check(WEST), **naming.tags(WEST, "dns")}


def test_each_topic_delivers_to_the_regions_inbox_without_raw_delivery(lab, client,
                                                                       poll) -> None:
    sns, sqs = client("sns", WEST), client("sqs", WEST)
    topic = f"arn:aws:sns:{WEST}:123456789012:{naming.topic_name(WEST)}"
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    inbox = [s for s in subscriptions if s["Protocol"] == "sqs"]
    assert [s["Endpoint"].split(":")[-1] for s in inbox] == [naming.notification_queue(WEST)]
    attributes = sns.get_subscription_attributes(
        SubscriptionArn=inbox[0]["SubscriptionArn"])["Attributes"]
    assert attributes["RawMessageDelivery"] == "false"

    sns.publish(TopicArn=topic, Subject="lab test", Message="hello inbox")
    queue = sqs.get_queue_url(QueueName=naming.notification_queue(WEST))["QueueUrl"]
    bodies = poll(lambda: [json.loads(m["Body"]) for m in sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])],
        lambda found: any(b.get("Message") == "hello inbox" for b in found))[-1]
    assert any(b["Type"] == "Notification" and b["TopicArn"] == topic for b in bodies)


def test_the_lease_table_is_keyed_by_lease_in_each_region(lab, client) -> None:
    for region in (EAST, WEST):
        table = client("dynamodb", region).describe_table(
            TableName=naming.lease_table())["Table"]
        assert table["KeySchema"] == [{"AttributeName": "lease", "KeyType": "HASH"}]
        assert table["AttributeDefinitions"] == [
            {"AttributeName": "lease", "AttributeType": "S"}]


def test_failover_records_use_the_calculated_checks(lab, client, lab_control) -> None:
    view = lab_control.dns_view()
    records = [r for zone in view["zones"] for r in zone["records"] if r.get("Failover")]
    route53 = client("route53", EAST)
    check_names = {}
    for record in records:
        tags = route53.list_tags_for_resource(
            ResourceType="healthcheck", ResourceId=record["HealthCheckId"])["ResourceTagSet"]
        check_names[record["SetIdentifier"]] = {t["Key"]: t["Value"]
                                                for t in tags["Tags"]}["Name"]
    assert check_names == {EAST: naming.calculated_health_check(EAST),
                           WEST: naming.calculated_health_check(WEST)}


def test_alb_names_resolve_to_the_app_stand_ins_in_the_lab_name_table(lab, lab_control,
                                                                      client) -> None:
    names = lab_control.dns_view()["names"]
    for region in (EAST, WEST):
        balancer = client("elbv2", region).describe_load_balancers(
            Names=[naming.alb_name(region)])["LoadBalancers"][0]
        assert names[balancer["DNSName"]] == lab.region(region).app_host


def test_writer_and_capacity_alarms_settle_ok_on_the_metrics_the_lab_publishes(
        fresh_lab, client, poll) -> None:
    # A fresh lab: a failover run earlier in this session leaves us-east-1 no writer, and
    # its writer alarm rightly in ALARM.
    names = [naming.alarm(EAST, "db-writer"), naming.alarm(EAST, "capacity-0"),
             naming.alarm(WEST, "capacity-1")]

    def states() -> dict[str, str]:
        found = {}
        for region in (EAST, WEST):
            alarms = client("cloudwatch", region).describe_alarms(AlarmNames=names)
            found.update({a["AlarmName"]: a["StateValue"] for a in alarms["MetricAlarms"]})
        return found

    assert poll(states, lambda s: set(s.values()) == {"OK"}, timeout_s=40)[-1] == {
        name: "OK" for name in names}
