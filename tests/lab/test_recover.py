"""`invoke recover` on the lab: the minor-incident procedure replaces the failed instance
through its Auto Scaling group, waits until the group serves again and its alarm is OK, and
writes the incident record; it refuses what is not one failed component."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dr import naming
from dr.recover import ComponentAmbiguous, NothingToRecover, Recovery, recover
from dr.settings import load_pair

pytestmark = pytest.mark.lab

PROJECT_DIR = Path(__file__).resolve().parents[2]
EAST = "us-east-1"


def instances(target, group: str) -> list[dict]:
    return target.client("autoscaling", EAST).describe_auto_scaling_groups(
        AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]


def in_service(target, group: str, timeout_s: float = 20.0) -> list[dict]:
    """The group's instances once all are InService (the lab launches them in scaled time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = instances(target, group)
        if found and all(i["LifecycleState"] == "InService" for i in found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{group} not InService within {timeout_s} s: {found}")
        time.sleep(0.2)


def run(fresh_lab, tmp_path, component, timeout_s=30.0):
    recovery = Recovery(fresh_lab.target(), load_pair(PROJECT_DIR).primary, component,
                        timeout_s=timeout_s, poll_s=0.2, replace_wait_s=1.0)
    return recover(recovery, incidents_dir=tmp_path, trigger={"kind": "test", "who": "pytest"})


def test_a_stopped_instance_is_replaced_and_the_incident_recorded(fresh_lab, tmp_path):
    target = fresh_lab.target()
    group = naming.asg_name(EAST, 0)
    stopped = in_service(target, group)[0]["InstanceId"]
    target.client("ec2", EAST).stop_instances(InstanceIds=[stopped])

    result = run(fresh_lab, tmp_path, stopped)

    assert result.outcome.status == "complete"
    now_serving = instances(target, group)
    assert stopped not in {i["InstanceId"] for i in now_serving}
    assert [(i["LifecycleState"], i["HealthStatus"]) for i in now_serving] == [
        ("InService", "Healthy"), ("InService", "Healthy")]
    assert len(result.replacements) == 1
    record = json.loads(result.paths[0].read_text())
    assert (record["procedure"], record["status"], record["classification"]) == (
        "recover", "complete", "minor")
    assert [(e["step"], e["status"]) for e in record["timeline"]] == [
        ("find-failed-component", "completed"), ("replace-component", "completed"),
        ("wait-until-recovered", "completed")]
    assert record["evidence"]["failed_component"]["name"] == stopped
    assert record["evidence"]["alarm"] == "shopsmart-us-east-1-unhealthy-hosts-0"
    assert record["decisions"][1]["decision"] == (
        f"marked {stopped} Unhealthy so that {group} replaces it")
    assert record["timeline"][2]["result"]["summary"].startswith(
        "recovered: 2/2 serving, shopsmart-us-east-1-unhealthy-hosts-0 OK")
    assert result.paths[1].read_text().startswith("# ")


def test_a_component_that_is_not_failing_is_refused_with_what_was_checked(fresh_lab,
                                                                          tmp_path):
    healthy = in_service(fresh_lab.target(), naming.asg_name(EAST, 1))[0]["InstanceId"]

    result = run(fresh_lab, tmp_path, healthy, timeout_s=5)

    assert result.outcome.status == "refused"
    with pytest.raises(NothingToRecover) as refused:
        result.raise_for_failure()
    assert str(refused.value) == (
        f"checked the alarms, groups and targets of us-east-1: component {healthy} is not"
        " failing; run `invoke assess` to see the whole picture")
    assert json.loads(result.paths[0].read_text())["status"] == "refused"


def test_two_failed_instances_are_a_partial_incident_and_refused(fresh_lab, tmp_path):
    target = fresh_lab.target()
    stopped = [in_service(target, naming.asg_name(EAST, i))[0]["InstanceId"] for i in (0, 1)]
    target.client("ec2", EAST).stop_instances(InstanceIds=stopped)

    result = run(fresh_lab, tmp_path, None, timeout_s=5)

    with pytest.raises(ComponentAmbiguous) as refused:
        result.raise_for_failure()
    words = str(refused.value)
    assert all(instance in words for instance in stopped)
    assert "that is a partial incident; name one with --component" in words
    assert instances(target, naming.asg_name(EAST, 0))[0]["InstanceId"] == stopped[0]
