"""`invoke assess` on the lab: evidence from every source, where a source that cannot be
asked is "no answer", and a classification that only k agreeing signals make major."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dr import naming
from dr.classify import MAJOR, MINOR, assess
from dr.settings import EvidenceRule, load_pair
from dr.signals import (ALARMS, AWS_HEALTH, CLUSTER, DNS, FAILED, NO_ANSWER, PROBE, ROUTE53,
                        collect_evidence)

pytestmark = pytest.mark.lab

PROJECT_DIR = Path(__file__).resolve().parents[2]
EAST, WEST = "us-east-1", "us-west-2"
TWO_OF_FOUR = EvidenceRule(required=2, of=4)


def needs_data_plane(lab) -> None:
    if "dns" not in lab.pids:
        pytest.skip("the lab runs without its data plane (no app stand-ins, no DNS server)")


def settle(target, pair, lab_dir, sources, until=lambda e: not e.failed, timeout_s=20.0):
    """Collect evidence until ``until(evidence)``: just after a deploy or a fault, health
    checks and alarms need a few (scaled) evaluation periods to turn."""
    deadline = time.monotonic() + timeout_s
    while True:
        evidence = collect_evidence(target, pair, timeout_s=2, lab_dir=lab_dir, sources=sources)
        if until(evidence):
            return evidence
        if time.monotonic() > deadline:
            raise AssertionError(f"evidence did not settle in {timeout_s} s: {evidence}")
        time.sleep(0.2)


def serving(target) -> bool:
    """Every instance of the primary's groups is InService (launches take scaled time)."""
    groups = target.client("autoscaling", EAST).describe_auto_scaling_groups(
        AutoScalingGroupNames=naming.asg_names(EAST, 2))["AutoScalingGroups"]
    return all(i["LifecycleState"] == "InService" for g in groups for i in g["Instances"])


def first_assessment(target, pair, lab_dir, until, timeout_s=20.0):
    """Assess until ``until(classification)`` or the bound; returns the last one."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = assess(target, pair, timeout_s=2, lab_dir=lab_dir)
        if until(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_an_outage_makes_every_api_source_no_answer_never_failed(fresh_lab, lab_control):
    pair = load_pair(PROJECT_DIR)
    lab_control.set_fault(EAST, "outage")

    evidence = collect_evidence(fresh_lab.target(max_attempts=1), pair, timeout_s=2,
                                lab_dir=fresh_lab.lab_dir,
                                sources=[ROUTE53, ALARMS, CLUSTER, AWS_HEALTH])

    verdicts = {s.source: s.verdict for s in evidence.signals}
    assert (verdicts[ROUTE53], verdicts[CLUSTER], verdicts[AWS_HEALTH]) == (
        NO_ANSWER, NO_ANSWER, NO_ANSWER)
    assert evidence.signal(ROUTE53).detail == "API did not answer (ConnectionClosedError)"
    assert evidence.signal(CLUSTER).detail == (
        "shopsmart-db-us-east-1: API did not answer (ConnectionClosedError); from us-west-2"
        " the global cluster is available, writer shopsmart-db-us-east-1")
    # The alarms are still read where they can be: the survivor's own view of replication.
    alarms = evidence.signal(ALARMS).detail
    assert "us-east-1: API did not answer (ConnectionClosedError)" in alarms
    if verdicts[ALARMS] == FAILED:
        assert alarms.startswith("in ALARM: shopsmart-us-west-2-replication-lag")
    else:
        assert verdicts[ALARMS] == NO_ANSWER
    assert not evidence.meets(EvidenceRule(required=2, of=4))


def test_throttling_past_the_retries_is_no_answer(fresh_lab, lab_control):
    pair = load_pair(PROJECT_DIR)
    lab_control.set_fault(EAST, "throttle")

    evidence = collect_evidence(fresh_lab.target(), pair, timeout_s=2,
                                lab_dir=fresh_lab.lab_dir, sources=[ROUTE53, CLUSTER])

    assert evidence.signal(ROUTE53).verdict == NO_ANSWER
    assert evidence.signal(ROUTE53).detail == "throttled (ThrottlingException) after retries"
    assert evidence.signal(CLUSTER).detail.startswith(
        "shopsmart-db-us-east-1: throttled (ThrottlingException) after retries")


def test_one_failed_signal_does_not_meet_two_of_four(fresh_lab):
    needs_data_plane(fresh_lab)
    pair = load_pair(PROJECT_DIR)
    target = fresh_lab.target()
    sources = [ROUTE53, PROBE, CLUSTER, DNS, AWS_HEALTH]
    settle(target, pair, fresh_lab.lab_dir, sources)
    # Only the evacuation switch is thrown: Route 53 answers with us-west-2 while the
    # us-east-1 endpoint itself stays healthy.
    target.client("cloudwatch", WEST).put_metric_data(
        Namespace=naming.EVACUATION_NAMESPACE, MetricData=[{
            "MetricName": naming.EVACUATION_METRIC, "Value": 1.0,
            "Dimensions": [{"Name": naming.EVACUATION_DIMENSION, "Value": EAST}]}])

    evidence = settle(target, pair, fresh_lab.lab_dir, sources,
                      until=lambda e: e.signal(DNS).failed)

    assert [s.source for s in evidence.failed] == [DNS]
    assert evidence.signal(DNS).detail == (
        "shop.example.com answers 127.0.2.10 (us-west-2): Route 53 judges us-east-1 unhealthy"
        " or evacuated")
    assert evidence.signal(ROUTE53).verdict == "ok"
    assert not evidence.meets(TWO_OF_FOUR)


def test_an_alarm_of_the_primary_in_alarm_fails_the_alarm_signal(fresh_lab):
    pair = load_pair(PROJECT_DIR)
    target = fresh_lab.target()
    # The ALB answers with 5xx: CloudWatch gets the count, and the alarm breaches.
    balancer = target.client("elbv2", EAST).describe_load_balancers(
        Names=[naming.alb_name(EAST)])["LoadBalancers"][0]["LoadBalancerArn"]
    now = datetime.now(timezone.utc)
    target.client("cloudwatch", EAST).put_metric_data(Namespace="AWS/ApplicationELB",
        MetricData=[{"MetricName": "HTTPCode_ELB_5XX_Count", "Value": 50.0, "Timestamp": at,
                     "Dimensions": [{"Name": "LoadBalancer",
                                     "Value": balancer.split(":loadbalancer/")[-1]}]}
                    for at in (now, now - timedelta(seconds=4))])

    evidence = settle(target, pair, fresh_lab.lab_dir, [ALARMS],
                      until=lambda e: "alb-5xx" in e.signal(ALARMS).detail)

    assert evidence.signal(ALARMS).verdict == FAILED
    assert evidence.signal(ALARMS).detail.startswith("in ALARM: shopsmart-us-east-1-alb-5xx")


def test_a_region_outage_is_a_major_incident(fresh_lab, lab_control):
    needs_data_plane(fresh_lab)
    pair = load_pair(PROJECT_DIR)
    settle(fresh_lab.target(), pair, fresh_lab.lab_dir, [PROBE, DNS])
    lab_control.set_fault(EAST, "outage")

    # Route 53 turns the answer once its checkers agree (threshold x interval, scaled).
    result = first_assessment(fresh_lab.target(max_attempts=1), pair, fresh_lab.lab_dir,
                              until=lambda r: r.evidence.signal(DNS).failed)

    assert result.level == MAJOR
    # The survivor's replication-lag alarm may join them as the lag grows.
    assert {DNS, PROBE} <= {s.source for s in result.evidence.failed} <= {DNS, PROBE, ALARMS}
    assert result.evidence.signal(ROUTE53).verdict == NO_ANSWER
    assert result.evidence.signal(DNS).detail.startswith("shop.example.com answers 127.0.2.10")
    assert result.procedure[1].startswith("Start the automated failover to us-west-2")


def test_a_single_stopped_instance_is_a_minor_incident(fresh_lab):
    needs_data_plane(fresh_lab)
    pair = load_pair(PROJECT_DIR)
    target = fresh_lab.target()
    settle(target, pair, fresh_lab.lab_dir, [ROUTE53, ALARMS, PROBE, CLUSTER, DNS],
           until=lambda e: not e.failed and serving(target))
    group = target.client("autoscaling", EAST).describe_auto_scaling_groups(
        AutoScalingGroupNames=[naming.asg_name(EAST, 0)])["AutoScalingGroups"][0]
    stopped = group["Instances"][0]["InstanceId"]
    target.client("ec2", EAST).stop_instances(InstanceIds=[stopped])

    # Alarms on the lab's Route 53 metrics can flap for a moment in scaled time: take the
    # first assessment that sees the stopped instance alone.
    result = first_assessment(target, pair, fresh_lab.lab_dir,
                              until=lambda r: [c.name for c in r.components] == [stopped])

    assert [(c.kind, c.name) for c in result.components] == [("instance", stopped)]
    assert result.level == MINOR
    assert result.evidence.counts[FAILED] == 0
    assert f"`invoke recover --component {stopped}`" in result.procedure[1]
