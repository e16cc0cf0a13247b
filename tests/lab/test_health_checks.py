"""Route 53 health checks in the lab are evaluated for real: endpoint probes at the
interval with the failure threshold, inversion, calculated and CloudWatch-alarm checks."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import botocore.exceptions
import pytest

from dr import naming

pytestmark = pytest.mark.lab

EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture
def create_check(client, lab_control):
    """``create_check(**HealthCheckConfig)`` -> ID; deleted again after the test,
    so probes of one test do not load the shared lab during the next."""
    made: list[str] = []

    def create(**config) -> str:
        if config["Type"] not in ("CALCULATED", "CLOUDWATCH_METRIC"):
            config.setdefault("RequestInterval", 10)
        check = client("route53", EAST).create_health_check(
            CallerReference=str(uuid.uuid4()), HealthCheckConfig=config)["HealthCheck"]["Id"]
        made.append(check)
        return check

    yield create
    lab_control.clear()  # Route 53's API must answer for the clean-up
    for check in made:
        client("route53", EAST).delete_health_check(HealthCheckId=check)


def check_id_by_name(client, name: str) -> str:
    route53 = client("route53", EAST)
    for check in route53.list_health_checks()["HealthChecks"]:
        tags = route53.list_tags_for_resource(ResourceType="healthcheck",
                                              ResourceId=check["Id"])["ResourceTagSet"]["Tags"]
        if {"Key": "Name", "Value": name} in tags:
            return check["Id"]
    raise AssertionError(f"no health check tagged Name={name}")


def test_http_check_turns_unhealthy_after_failures_and_back(
        lab, create_check, client, http_endpoint, health, poll) -> None:
    check = create_check(Type="HTTP", IPAddress="127.0.0.1", Port=http_endpoint.port,
                         ResourcePath="/health", FailureThreshold=2)
    poll(lambda: http_endpoint.requests, lambda n: n >= 2)
    assert health(check) is True

    http_endpoint.status = 503
    poll(lambda: health(check), lambda healthy: healthy is False)
    reports = client("route53", EAST).get_health_check_status(
        HealthCheckId=check)["HealthCheckObservations"]
    assert any("HTTP Status Code 503" in r["StatusReport"]["Status"] for r in reports)

    http_endpoint.status = 200
    poll(lambda: health(check), lambda healthy: healthy is True)


def test_https_check_accepts_a_self_signed_certificate(
        lab, create_check, client, https_endpoint, health, poll) -> None:
    check = create_check(Type="HTTPS", IPAddress="127.0.0.1",
                         Port=https_endpoint.port, ResourcePath="/", FailureThreshold=1)
    poll(lambda: https_endpoint.requests, lambda n: n >= 3)
    assert health(check) is True


def test_tcp_check_needs_a_listener(
        lab, create_check, client, http_endpoint, health, poll) -> None:
    listening = create_check(Type="TCP", IPAddress="127.0.0.1",
                             Port=http_endpoint.port, FailureThreshold=1)
    http_endpoint.close()
    closed = create_check(Type="TCP", IPAddress="127.0.0.1", Port=http_endpoint.port,
                          FailureThreshold=1)
    poll(lambda: health(closed), lambda healthy: healthy is False)
    poll(lambda: health(listening), lambda healthy: healthy is False)


def test_inverted_check_is_healthy_when_its_endpoint_fails(
        lab, create_check, client, http_endpoint, health, poll) -> None:
    http_endpoint.status = 500
    check = create_check(Type="HTTP", IPAddress="127.0.0.1", Port=http_endpoint.port,
                         FailureThreshold=1, Inverted=True)
    poll(lambda: http_endpoint.requests, lambda n: n >= 8)
    assert health(check) is True


def test_a_target_outside_loopback_fails_without_being_contacted(
        lab, create_check, client, health, poll) -> None:
    check = create_check(Type="HTTP", IPAddress="192.0.2.10", Port=80,
                         FailureThreshold=1)
    def statuses() -> set[str]:
        reports = client("route53", EAST).get_health_check_status(
            HealthCheckId=check)["HealthCheckObservations"]
        return {r["StatusReport"]["Status"] for r in reports}

    poll(lambda: health(check), lambda healthy: healthy is False)
    outside = "Failure: 192.0.2.10 is outside 127.0.0.0/8; the lab contacts nothing but loopback."
    assert poll(statuses, lambda seen: seen == {outside})[-1] == {outside}


def test_status_has_one_observation_per_checker_region(
        lab, create_check, client, http_endpoint, poll) -> None:
    check = create_check(Type="HTTP", IPAddress="127.0.0.1", Port=http_endpoint.port)
    poll(lambda: http_endpoint.requests, lambda n: n >= 8)
    reports = client("route53", EAST).get_health_check_status(
        HealthCheckId=check)["HealthCheckObservations"]
    assert sorted(r["Region"] for r in reports) == sorted([
        "us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1",
        "ap-southeast-2", "ap-northeast-1", "sa-east-1"])
    assert all(r["StatusReport"]["Status"].startswith("Success: HTTP Status Code 200")
               for r in reports)


def test_calculated_check_counts_healthy_children_and_keeps_an_explicit_zero(
        lab, create_check, client, http_endpoint, health, poll) -> None:
    up = create_check(Type="HTTP", IPAddress="127.0.0.1", Port=http_endpoint.port,
                      FailureThreshold=1)
    down = create_check(Type="HTTP", IPAddress="192.0.2.10", Port=80,
                        FailureThreshold=1)
    both = create_check(Type="CALCULATED", ChildHealthChecks=[up, down],
                        HealthThreshold=2)
    one = create_check(Type="CALCULATED", ChildHealthChecks=[up, down],
                       HealthThreshold=1)
    zero = create_check(Type="CALCULATED", ChildHealthChecks=[down],
                        HealthThreshold=0)
    poll(lambda: health(down), lambda healthy: healthy is False)
    poll(lambda: health(both), lambda healthy: healthy is False)
    assert (health(one), health(zero)) == (True, True)
    stored = client("route53", EAST).get_health_check(HealthCheckId=zero)["HealthCheck"]
    assert stored["HealthCheckConfig"]["HealthThreshold"] == 0


def test_status_of_a_calculated_check_is_refused_as_by_aws(lab, create_check, client) -> None:
    check = create_check(Type="CALCULATED", ChildHealthChecks=[], HealthThreshold=0)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        client("route53", EAST).get_health_check_status(HealthCheckId=check)
    assert raised.value.response["Error"]["Code"] == "InvalidInput"


def test_metric_check_insufficient_data_follows_its_setting(
        lab, create_check, client, health, poll) -> None:
    cloudwatch = client("cloudwatch", WEST)
    alarm = f"lab-test-{uuid.uuid4().hex[:8]}"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm, Namespace="Lab/Test", MetricName="Nothing", Statistic="Maximum",
        Period=10, EvaluationPeriods=1, Threshold=1, TreatMissingData="missing",
        ComparisonOperator="GreaterThanOrEqualToThreshold")
    checks = {
        setting: create_check(Type="CLOUDWATCH_METRIC",
                              AlarmIdentifier={"Region": WEST, "Name": alarm},
                              InsufficientDataHealthStatus=setting)
        for setting in ("Healthy", "Unhealthy", "LastKnownStatus")
    }
    poll(lambda: health(checks["Unhealthy"]), lambda healthy: healthy is False)
    assert health(checks["Healthy"]) is True
    assert health(checks["LastKnownStatus"]) is True

    def statuses() -> dict[str, set[str]]:
        return {setting: {r["StatusReport"]["Status"] for r in client(
            "route53", EAST).get_health_check_status(HealthCheckId=check)[
                "HealthCheckObservations"]} for setting, check in checks.items()}

    insufficient = f"the CloudWatch alarm {alarm} in {WEST} has insufficient data"
    expected = {
        "Healthy": {f"Success: {insufficient}; the check is set to healthy."},
        "Unhealthy": {f"Failure: {insufficient}; the check is set to unhealthy."},
        "LastKnownStatus": {f"Success: {insufficient};"
                            " the last known status (healthy) applies."}}
    assert poll(statuses, lambda seen: seen == expected)[-1] == expected
    stored = client("route53", EAST).get_health_check(
        HealthCheckId=checks["Unhealthy"])["HealthCheck"]["HealthCheckConfig"]
    assert stored["AlarmIdentifier"] == {"Region": WEST, "Name": alarm}
    assert stored["InsufficientDataHealthStatus"] == "Unhealthy"


def test_evacuating_a_region_fails_its_calculated_check_and_the_evacuation_sticks(
        fresh_lab, lab_control, client, health, poll) -> None:
    evacuation = check_id_by_name(client, naming.evacuation_health_check(EAST))
    calculated = check_id_by_name(client, naming.calculated_health_check(EAST))
    alarm = naming.evacuation_alarm(EAST)
    cloudwatch = client("cloudwatch", WEST)  # the peer region holds the switch
    cloudwatch.put_metric_data(Namespace=naming.EVACUATION_NAMESPACE, MetricData=[{
        "MetricName": naming.EVACUATION_METRIC, "Value": 1,
        "Dimensions": [{"Name": naming.EVACUATION_DIMENSION, "Value": EAST}]}])

    poll(lambda: health(evacuation), lambda healthy: healthy is False)
    assert health(calculated) is False
    poll(lambda: cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
         ["StateValue"], lambda state: state == "INSUFFICIENT_DATA")
    assert health(evacuation) is False
    # The checkers report what the check evaluates to, not a placeholder.
    insufficient_since = datetime.now(timezone.utc) - timedelta(seconds=1)  # whole seconds

    def observed() -> list[dict]:
        return client("route53", EAST).get_health_check_status(
            HealthCheckId=evacuation)["HealthCheckObservations"]

    expected = {f"Failure: the CloudWatch alarm {alarm} in {WEST} has insufficient data;"
                " the last known status (unhealthy) applies."}
    reports = poll(observed, lambda seen: {r["StatusReport"]["Status"] for r in seen}
                   == expected)[-1]
    assert all(r["StatusReport"]["CheckedTime"] >= insufficient_since for r in reports)
    assert lab_control.dns_view()["health_checks"][evacuation] is False


def test_health_checking_and_dns_view_go_on_while_route53_api_is_down(
        lab, lab_control, create_check, client, http_endpoint, health, poll) -> None:
    check = create_check(Type="HTTP", IPAddress="127.0.0.1", Port=http_endpoint.port,
                         FailureThreshold=1)
    lab_control.set_fault(EAST, "outage")
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client("route53", EAST).list_health_checks()

    http_endpoint.status = 500
    poll(lambda: health(check), lambda healthy: healthy is False)
    view = lab_control.dns_view()
    assert [zone["name"] for zone in view["zones"]] == ["shop.example.com."]
    assert view["health_checks"][check] is False
