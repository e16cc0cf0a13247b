"""Classification follows the DR plan: minor (one component), partial (several, or an AZ),
major (the primary region, only when k of n signals agree)."""

from __future__ import annotations

import json

from dr.classify import MAJOR, MINOR, NONE, PARTIAL, UNCONFIRMED, classify
from dr.components import AlarmState, ComponentHealth, GroupHealth, InstanceHealth
from dr.settings import EvidenceRule
from dr.signals import FAILED, NO_ANSWER, OK, Evidence, Signal

REGION = "us-east-1"
TWO_OF_FOUR = EvidenceRule(required=2, of=4)


def evidence(*verdicts: str) -> Evidence:
    sources = ("route53-health-check", "cloudwatch-alarms", "https-probe", "aurora-cluster",
               "dns-answer", "aws-health")
    return Evidence(REGION, "us-west-2", tuple(
        Signal(source, verdict, f"{source} says {verdict}", observed_at=1000.0 + index)
        for index, (source, verdict) in enumerate(zip(sources, verdicts))))


QUIET = evidence(OK, OK, OK, OK, OK, NO_ANSWER)


def instance(iid: str, az: str, health: str = "Healthy", target: str = "healthy",
             group: str = "shopsmart-app-us-east-1-0") -> InstanceHealth:
    return InstanceHealth(iid, group, az, "InService", health, target)


def groups(*members: tuple[InstanceHealth, ...], desired: int = 2) -> tuple[GroupHealth, ...]:
    return tuple(GroupHealth(f"shopsmart-app-us-east-1-{i}", i, desired, tuple(m))
                 for i, m in enumerate(members))


def health(*members, alarms: tuple[AlarmState, ...] = (), desired: int = 2) -> ComponentHealth:
    return ComponentHealth(REGION, groups(*members, desired=desired), alarms)


HEALTHY_B = (instance("i-b1", "us-east-1b", group="shopsmart-app-us-east-1-1"),
             instance("i-b2", "us-east-1b", group="shopsmart-app-us-east-1-1"))


def test_nothing_failing_is_no_incident():
    result = classify(QUIET, health((instance("i-a1", "us-east-1a"),
                                     instance("i-a2", "us-east-1a")), HEALTHY_B), TWO_OF_FOUR)

    assert result.level == NONE
    assert result.components == ()


def test_one_unhealthy_instance_is_minor_and_names_the_recover_command():
    sick = instance("i-a1", "us-east-1a", target="unhealthy")
    alarm = AlarmState("shopsmart-us-east-1-unhealthy-hosts-0", REGION, "ALARM", "1 > 0")

    result = classify(evidence(OK, FAILED, OK, OK, OK, NO_ANSWER),
                      health((sick, instance("i-a2", "us-east-1a")), HEALTHY_B,
                             alarms=(alarm,)), TWO_OF_FOUR)

    assert result.level == MINOR
    assert [(c.kind, c.name) for c in result.components] == [("instance", "i-a1")]
    assert "`invoke recover --component i-a1`" in result.procedure[1]


def test_two_failed_instances_in_different_azs_are_partial():
    result = classify(QUIET, health(
        (instance("i-a1", "us-east-1a", health="Unhealthy"), instance("i-a2", "us-east-1a")),
        (instance("i-b1", "us-east-1b", target="unhealthy",
                  group="shopsmart-app-us-east-1-1"), HEALTHY_B[1]),
    ), TWO_OF_FOUR)

    assert result.level == PARTIAL
    assert [c.name for c in result.components] == ["i-a1", "i-b1"]
    assert not result.critical_hit
    assert "`invoke recover --component i-a1`" in result.procedure[-1]


def test_a_whole_az_without_serving_instances_is_partial():
    result = classify(QUIET, health(
        (instance("i-a1", "us-east-1a", target="unhealthy"),
         instance("i-a2", "us-east-1a", target="unhealthy")), HEALTHY_B), TWO_OF_FOUR)

    assert result.level == PARTIAL
    assert [(c.kind, c.az) for c in result.components] == [("az", "us-east-1a")]


def test_partial_incident_hitting_the_shop_says_to_fail_over_with_force():
    result = classify(evidence(OK, OK, FAILED, OK, OK, NO_ANSWER), health(
        (instance("i-a1", "us-east-1a", target="unhealthy"),
         instance("i-a2", "us-east-1a", target="unhealthy")), HEALTHY_B,
        alarms=(AlarmState("shopsmart-us-east-1-db-writer", REGION, "ALARM"),)), TWO_OF_FOUR)

    assert result.level == PARTIAL
    assert result.critical_hit
    assert "`invoke failover`" in result.procedure[-1]
    assert "`--force`" in result.procedure[-1]


def test_two_agreeing_signals_make_a_major_incident():
    result = classify(evidence(NO_ANSWER, NO_ANSWER, FAILED, NO_ANSWER, FAILED, NO_ANSWER),
                      ComponentHealth(REGION, unread=("autoscaling: connection reset",)),
                      TWO_OF_FOUR)

    assert result.level == MAJOR
    assert result.procedure[0] == (
        "Major incident: region us-east-1 failed (2 of 6 signals say us-east-1 failed"
        " (0 ok, 4 no answer); rule 2 of 4: met).")
    assert "`invoke failover`" in result.procedure[1]


def test_one_failed_signal_with_silent_apis_is_unconfirmed_not_major():
    result = classify(evidence(NO_ANSWER, NO_ANSWER, FAILED, NO_ANSWER, NO_ANSWER, NO_ANSWER),
                      None, TWO_OF_FOUR)

    assert result.level == UNCONFIRMED
    assert "Do not fail over yet" in result.procedure[1]


def test_alarm_explained_by_a_failed_instance_is_not_a_second_component():
    alarms = (AlarmState("shopsmart-us-east-1-unhealthy-hosts-0", REGION, "ALARM"),
              AlarmState("shopsmart-us-east-1-alb-5xx", REGION, "ALARM"))

    result = classify(QUIET, health((instance("i-a1", "us-east-1a", target="unhealthy"),
                                     instance("i-a2", "us-east-1a")), HEALTHY_B,
                                    alarms=alarms), TWO_OF_FOUR)

    assert result.level == MINOR
    assert [c.name for c in result.components] == ["i-a1"]


def test_alarm_that_no_instance_explains_is_its_own_component():
    alarms = (AlarmState("shopsmart-us-east-1-capacity-1", REGION, "ALARM", "0 < 2"),)

    result = classify(QUIET, health((instance("i-a1", "us-east-1a"),
                                     instance("i-a2", "us-east-1a")), HEALTHY_B,
                                    alarms=alarms), TWO_OF_FOUR)

    assert result.level == MINOR
    assert [(c.kind, c.name) for c in result.components] == [
        ("group", "shopsmart-us-east-1-capacity-1")]


def test_group_short_of_capacity_without_failed_instance_is_one_component():
    result = classify(QUIET, health((instance("i-a1", "us-east-1a"),), HEALTHY_B),
                      TWO_OF_FOUR)

    assert result.level == MINOR
    assert [(c.kind, c.detail) for c in result.components] == [
        ("group", "shopsmart-app-us-east-1-0 serves 1 of 2 desired")]


def test_the_classification_is_recorded_as_json_with_its_evidence():
    result = classify(evidence(NO_ANSWER, NO_ANSWER, FAILED, NO_ANSWER, FAILED, NO_ANSWER),
                      None, TWO_OF_FOUR)

    document = json.loads(json.dumps(result.to_dict()))

    assert document["level"] == "major"
    assert document["evidence"]["counts"] == {"failed": 2, "ok": 0, "no-answer": 4}
    assert document["evidence"]["signals"][2] == {
        "source": "https-probe", "verdict": "failed", "detail": "https-probe says failed",
        "observed_at": "1970-01-01T00:16:42+00:00"}
    assert document["procedure"][1].startswith("Start the automated failover to us-west-2")


def test_the_primarys_own_replication_lag_alarm_is_no_failed_component():
    # After a failover the new primary keeps the lag alarm of its replica days; nothing
    # replicates into a writer, so that alarm says nothing about it (recover refuses it).
    lag = AlarmState("shopsmart-us-east-1-replication-lag", REGION, "ALARM", "missing data")
    members = ((instance("i-a1", "us-east-1a"), instance("i-a2", "us-east-1a")), HEALTHY_B)

    as_primary = ComponentHealth(REGION, groups(*members), (lag,), primary=True)
    as_secondary = ComponentHealth(REGION, groups(*members), (lag,))

    assert classify(QUIET, as_primary, TWO_OF_FOUR).level == NONE
    assert [(c.kind, c.name) for c in classify(QUIET, as_secondary, TWO_OF_FOUR).components] \
        == [("database", "shopsmart-us-east-1-replication-lag")]
