"""Notifications, read back from an SQS queue subscribed to the topic (moto server)."""

from __future__ import annotations

import json
import socket

import pytest

from dr import naming
from dr.aws import Target
from dr.notify import Notice, Notifier, subject_line

REGION = "us-west-2"


@pytest.fixture
def inbox(engine_moto):
    """The DR topic of us-west-2 with a queue subscribed, as the lab wires them."""
    sns, sqs = engine_moto.client("sns", REGION), engine_moto.client("sqs", REGION)
    topic = sns.create_topic(Name=naming.topic_name(REGION))["TopicArn"]
    queue = sqs.create_queue(QueueName=naming.notification_queue(REGION))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sqs.purge_queue(QueueUrl=queue)
    yield sqs, queue
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    sqs.delete_queue(QueueUrl=queue)
    sns.delete_topic(TopicArn=topic)


def receive(sqs, queue) -> list[dict]:
    reply = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return [json.loads(message["Body"]) for message in reply.get("Messages", [])]


STARTED = Notice(
    kind="started", procedure="failover", run_id="failover-20261204T150000Z-abc123",
    subject="ShopSmart failover started: us-east-1 → us-west-2",
    summary="Failover of ShopSmart from us-east-1 to us-west-2 has started.",
    details=("Triggered by alice@laptop (cli).",), classification="major",
    evidence="3 of 4 signals agree (2 needed)", facts={"failed_region": "us-east-1"},
)


def test_a_started_notice_reaches_the_subscribed_queue_as_a_structured_document(
        engine_moto, inbox):
    delivery = Notifier(REGION, target=engine_moto).publish(STARTED)

    assert delivery.sent and delivery.message_id
    [envelope] = receive(*inbox)
    assert envelope["Subject"] == "ShopSmart failover started: us-east-1 -> us-west-2"
    assert envelope["MessageAttributes"]["kind"]["Value"] == "started"
    assert envelope["MessageAttributes"]["run_id"]["Value"] == STARTED.run_id
    assert json.loads(envelope["Message"]) == {
        "kind": "started", "procedure": "failover", "run_id": STARTED.run_id,
        "subject": "ShopSmart failover started: us-east-1 → us-west-2",
        "summary": "Failover of ShopSmart from us-east-1 to us-west-2 has started.",
        "details": ["Triggered by alice@laptop (cli)."], "classification": "major",
        "evidence": "3 of 4 signals agree (2 needed)", "failing_step": None, "error": None,
        "facts": {"failed_region": "us-east-1"},
    }


def test_a_failed_notice_names_the_failing_step_for_people_and_machines(engine_moto, inbox):
    failed = Notice(kind="failed", procedure="failover", run_id="failover-x",
                    subject="ShopSmart failover FAILED at promote-database",
                    summary="The failover stopped; run it again to resume.",
                    failing_step="promote-database", error="timed out after 600 s")

    Notifier(REGION, target=engine_moto).publish(failed)

    [envelope] = receive(*inbox)
    document = json.loads(envelope["Message"])
    assert (document["kind"], document["failing_step"], document["error"]) == (
        "failed", "promote-database", "timed out after 600 s")
    assert failed.text() == (
        "The failover stopped; run it again to resume.\n\n"
        "Failing step: promote-database\n"
        "Error: timed out after 600 s\n"
        "Run: failover-x (failover)\n"
    )


def test_a_missing_topic_is_recorded_as_not_sent_and_does_not_raise(engine_moto):
    delivery = Notifier("eu-west-1", target=engine_moto).publish(STARTED)

    assert delivery.sent is False
    assert delivery.error == (f"topic {naming.topic_name('eu-west-1')} does not exist in"
                              " eu-west-1; it is part of the region's stack (pulumi up)")


def test_an_unreachable_endpoint_is_recorded_as_not_sent_and_does_not_raise():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    target = Target.lab(f"http://127.0.0.1:{port}", connect_timeout_s=0.5, max_attempts=1)

    delivery = Notifier(REGION, target=target).publish(STARTED)

    assert delivery.sent is False
    assert delivery.error == "the SNS endpoint did not answer (EndpointConnectionError)"


def test_subjects_are_made_acceptable_to_sns():
    assert subject_line("failover → us-west-2 — done\n") == "failover -> us-west-2 - done"
    assert len(subject_line("x" * 300)) == 99
    assert subject_line("x" * 300).endswith("...")
    assert subject_line("café") == "caf?"
