"""The timing model: AWS-shaped durations, scaled by the lab's time_scale."""

from __future__ import annotations

import pytest

from dr import naming
from dr.lab.timing import Timing

EAST = "us-east-1"


def test_durations_are_aws_figures_times_the_scale() -> None:
    timing = Timing(0.05)
    assert timing.duration("global_failover") == pytest.approx(3.0)
    assert timing.duration("global_switchover") == pytest.approx(6.0)
    assert timing.duration("instance_launch") == pytest.approx(4.5)
    assert Timing(1).duration("global_failover") == 60.0


def test_a_time_scale_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="time_scale must be > 0"):
        Timing(0)


@pytest.mark.lab
def test_the_lab_runs_at_the_test_time_scale(lab, lab_control) -> None:
    assert lab_control.status()["time_scale"] == 0.05


@pytest.mark.lab
def test_a_launched_instance_is_pending_before_it_is_in_service(fresh_lab, client,
                                                                 poll) -> None:
    autoscaling = client("autoscaling", EAST)
    group = naming.asg_name(EAST, 0)

    def states() -> list[str]:
        found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        return sorted(i["LifecycleState"] for i in found["AutoScalingGroups"][0]["Instances"])

    poll(states, lambda s: s == ["InService", "InService"], timeout_s=20)
    autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)

    seen = poll(states, lambda s: s == ["InService"] * 3, timeout_s=20)
    assert seen[0] == ["InService", "InService", "Pending"]
