"""Compute capacity of a region: scale its Auto Scaling groups between standby and active.

A region has one group per AZ, found by name from the stack config. Scaling a group to a
fixed size is idempotent, so a resumed run simply asks again and waits.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from dr import naming
from dr.aws import Target
from dr.settings import Capacity, StackSettings
from dr.waiting import Observation, Timeouts, WaitTimedOut, call, wait_for

logger = logging.getLogger(__name__)


class CapacityError(RuntimeError):
    """Base of the capacity failures a user can act on."""


class GroupsMissing(CapacityError):
    def __init__(self, region: str, missing: list[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(
            f"Auto Scaling groups {', '.join(missing)} were not found in {region}; deploy the"
            f" region's stack (or, on the lab, run `invoke lab.up`) before failing over to it"
        )


class ScaleUpTimedOut(CapacityError):
    """The groups did not reach their capacity in time."""


@dataclass(frozen=True)
class GroupState:
    name: str
    min: int
    desired: int
    max: int
    in_service: int
    suspended: tuple[str, ...]


@dataclass(frozen=True)
class Scaling:
    """What a scale-up did, for the journal and the incident record."""

    region: str
    capacity: Capacity
    groups: tuple[GroupState, ...]
    duration_s: float

    def summary(self) -> str:
        serving = sum(g.in_service for g in self.groups)
        return (
            f"{len(self.groups)} groups in {self.region} at desired {self.capacity.desired}"
            f" per AZ, {serving} instances InService ({self.duration_s:.1f} s)"
        )


def read_groups(autoscaling: Any, region: str, names: list[str]) -> list[GroupState]:
    """The named groups as they are now; raises ``GroupsMissing`` for any not found."""
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)
    by_name = {g["AutoScalingGroupName"]: g for g in found["AutoScalingGroups"]}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise GroupsMissing(region, missing)
    return [_state(by_name[n]) for n in names]


def _state(raw: dict[str, Any]) -> GroupState:
    in_service = sum(
        1 for i in raw.get("Instances", [])
        if i.get("LifecycleState") == "InService" and i.get("HealthStatus", "Healthy") == "Healthy"
    )
    return GroupState(
        name=raw["AutoScalingGroupName"],
        min=raw["MinSize"],
        desired=raw["DesiredCapacity"],
        max=raw["MaxSize"],
        in_service=in_service,
        suspended=tuple(p["ProcessName"] for p in raw.get("SuspendedProcesses", [])),
    )


def scaling_problems(target: Target, stack: StackSettings) -> list[str]:
    """Why the region's groups could not be scaled to active capacity (pre-flight)."""
    names = naming.asg_names(stack.region, stack.az_count)
    try:
        groups = read_groups(target.client("autoscaling", stack.region), stack.region, names)
    except GroupsMissing as error:
        return [str(error)]
    problems = []
    for group in groups:
        blocked = sorted({"Launch", "HealthCheck"} & set(group.suspended))
        if blocked:
            problems.append(
                f"{group.name} has suspended processes {', '.join(blocked)}; resume them"
                " (aws autoscaling resume-processes) or it cannot launch instances"
            )
    return problems


def scale_region(
    target: Target, stack: StackSettings, capacity: Capacity, timeouts: Timeouts
) -> Scaling:
    """Set every group of ``stack``'s region to ``capacity`` and wait until it is InService."""
    started = time.monotonic()
    region = stack.region
    autoscaling = target.client("autoscaling", region)
    names = naming.asg_names(region, stack.az_count)
    logger.info(
        "scaling %s in %s to min %d, desired %d, max %d per AZ",
        ", ".join(names), region, capacity.min, capacity.desired, capacity.max,
    )
    for name in names:
        call(
            lambda name=name: autoscaling.update_auto_scaling_group(
                AutoScalingGroupName=name,
                MinSize=capacity.min,
                DesiredCapacity=capacity.desired,
                MaxSize=capacity.max,
            ),
            what=f"scale {name}", timeout_s=timeouts.call_s, poll_s=timeouts.poll_s,
        )

    def look() -> Observation[list[GroupState]]:
        groups = read_groups(autoscaling, region, names)
        state = ", ".join(f"{g.name} {g.in_service}/{g.desired}" for g in groups)
        return Observation(all(g.in_service >= g.desired for g in groups), state, groups)

    try:
        seen = wait_for(
            look, what=f"instances InService in {region}", timeout_s=timeouts.capacity_s,
            poll_s=timeouts.poll_s, progress_s=timeouts.progress_s,
            remedy="look at the groups' activity history for failed launches",
        )
    except WaitTimedOut as error:
        raise ScaleUpTimedOut(str(error)) from None
    return Scaling(region, capacity, tuple(seen.value or ()), round(time.monotonic() - started, 3))


def scale_to_active(target: Target, stack: StackSettings, timeouts: Timeouts) -> Scaling:
    """The survivor's step: standby capacity to active capacity."""
    return scale_region(target, stack, stack.capacity.active, timeouts)
