"""CloudWatch alarms in the lab are evaluated from put_metric_data: comparison, periods,
datapoints to alarm, missing data; history; actions published to SNS on state change."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.lab

REGION = "us-west-2"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def put_alarm(client, name: str, metric: str, **spec) -> None:
    values = dict(Namespace="Lab/Test", MetricName=metric, Statistic="Maximum", Period=60,
                  EvaluationPeriods=1, Threshold=5,
                  ComparisonOperator="GreaterThanOrEqualToThreshold")
    values.update(spec)
    client("cloudwatch", REGION).put_metric_alarm(AlarmName=name, **values)


def put_value(client, metric: str, value: float) -> None:
    client("cloudwatch", REGION).put_metric_data(
        Namespace="Lab/Test", MetricData=[{"MetricName": metric, "Value": value}])


def state_of(client, name: str) -> str:
    alarms = client("cloudwatch", REGION).describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return alarms[0]["StateValue"]


def test_a_new_alarm_starts_with_insufficient_data(lab, client) -> None:
    name = unique("fresh")
    put_alarm(client, name, unique("metric"))
    assert state_of(client, name) == "INSUFFICIENT_DATA"


def test_each_comparison_operator_judges_the_datum(lab, client, poll) -> None:
    metric = unique("metric")
    expected = {
        "GreaterThanOrEqualToThreshold": "ALARM", "GreaterThanThreshold": "OK",
        "LessThanThreshold": "OK", "LessThanOrEqualToThreshold": "ALARM",
    }
    names = {op: unique(op) for op in expected}
    for operator, name in names.items():
        put_alarm(client, name, metric, ComparisonOperator=operator)
    put_value(client, metric, 5)

    states = poll(lambda: {op: state_of(client, n) for op, n in names.items()},
                  lambda s: "INSUFFICIENT_DATA" not in s.values())[-1]
    assert states == expected


def test_datapoints_to_alarm_needs_that_many_breaching_periods(lab, client, poll) -> None:
    metric = unique("metric")
    two_of_three = unique("m-of-n")
    one_of_three = unique("one-of-n")
    put_alarm(client, two_of_three, metric, EvaluationPeriods=3, DatapointsToAlarm=2)
    put_alarm(client, one_of_three, metric, EvaluationPeriods=3, DatapointsToAlarm=1)
    put_value(client, metric, 9)

    poll(lambda: state_of(client, one_of_three), lambda s: s == "ALARM")
    assert state_of(client, two_of_three) == "OK"


def test_missing_data_is_treated_as_configured(lab, client, poll) -> None:
    names = {treat: unique(treat) for treat in ("missing", "notBreaching", "breaching")}
    for treat, name in names.items():
        put_alarm(client, name, unique("silent"), TreatMissingData=treat)
    ignored = unique("ignore")
    put_alarm(client, ignored, unique("silent"), TreatMissingData="ignore")

    states = poll(lambda: {t: state_of(client, n) for t, n in names.items()},
                  lambda s: s["notBreaching"] != "INSUFFICIENT_DATA"
                  and s["breaching"] != "INSUFFICIENT_DATA")[-1]
    assert states == {"missing": "INSUFFICIENT_DATA", "notBreaching": "OK",
                      "breaching": "ALARM"}
    assert state_of(client, ignored) == "INSUFFICIENT_DATA"


def test_a_state_change_is_in_the_history_and_published_to_sns(lab, client, poll) -> None:
    sqs, sns = client("sqs", REGION), client("sns", REGION)
    queue = sqs.create_queue(QueueName=unique("inbox"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=unique("topic"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    name, metric = unique("notify"), unique("metric")
    put_alarm(client, name, metric, AlarmActions=[topic])
    put_value(client, metric, 7)

    poll(lambda: state_of(client, name), lambda s: s == "ALARM")
    messages = poll(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get(
        "Messages", []), lambda found: len(found) > 0)[-1]
    notification = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert (notification["AlarmName"], notification["OldStateValue"],
            notification["NewStateValue"]) == (name, "INSUFFICIENT_DATA", "ALARM")
    assert notification["Trigger"]["MetricName"] == metric

    history = client("cloudwatch", REGION).describe_alarm_history(AlarmName=name)[
        "AlarmHistoryItems"]
    summaries = {item["HistoryItemType"]: item["HistorySummary"] for item in history}
    assert summaries["StateUpdate"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert summaries["Action"] == f"Successfully executed action {topic}"


def test_an_action_on_a_topic_in_another_region_fails_as_in_aws(lab, client, poll) -> None:
    foreign = client("sns", "us-east-1").create_topic(Name=unique("elsewhere"))["TopicArn"]
    name, metric = unique("cross-region"), unique("metric")
    put_alarm(client, name, metric, AlarmActions=[foreign])
    put_value(client, metric, 7)

    poll(lambda: state_of(client, name), lambda s: s == "ALARM")
    history = client("cloudwatch", REGION).describe_alarm_history(
        AlarmName=name, HistoryItemType="Action")["AlarmHistoryItems"]
    assert [item["HistorySummary"] for item in history] == [
        f"Failed to execute action {foreign}"]
