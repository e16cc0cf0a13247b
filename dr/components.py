"""The health of one region's components: instances, their Auto Scaling groups, alarms.

This is what tells a minor incident (one instance) from a partial one (an AZ, several
components). It is read from the region's own APIs; when they do not answer, the result
says so (``answered`` False) and classification falls back on the evidence alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dr import naming
from dr.aws import Target
from dr.settings import StackSettings
from dr.signals import BoundedClients, why_silent

logger = logging.getLogger(__name__)

FAILED_TARGET_STATES = frozenset({"unhealthy", "unavailable", "unhealthy.draining"})
# A target is "unused" for many harmless reasons; only a stopped instance is a failure.
FAILED_TARGET_REASONS = frozenset({"Target.InvalidState"})


@dataclass(frozen=True)
class InstanceHealth:
    instance_id: str
    group: str
    az: str
    lifecycle: str
    health: str
    target_state: str | None = None
    target_reason: str | None = None

    @property
    def failed(self) -> bool:
        return (
            self.health == "Unhealthy"
            or self.target_state in FAILED_TARGET_STATES
            or self.target_reason in FAILED_TARGET_REASONS
        )

    @property
    def serving(self) -> bool:
        return self.lifecycle == "InService" and not self.failed

    def describe(self) -> str:
        target = f", target {self.target_state}" if self.target_state else ""
        return f"{self.instance_id} in {self.az} ({self.lifecycle}, {self.health}{target})"


@dataclass(frozen=True)
class GroupHealth:
    name: str
    az_index: int
    desired: int
    instances: tuple[InstanceHealth, ...]

    @property
    def serving(self) -> int:
        return sum(instance.serving for instance in self.instances)

    @property
    def failed(self) -> tuple[InstanceHealth, ...]:
        return tuple(instance for instance in self.instances if instance.failed)

    @property
    def az(self) -> str | None:
        return self.instances[0].az if self.instances else None


@dataclass(frozen=True)
class AlarmState:
    name: str
    region: str
    state: str
    reason: str = ""

    @property
    def firing(self) -> bool:
        return self.state == "ALARM"


@dataclass(frozen=True)
class ComponentHealth:
    """What ``region``'s APIs said about its components; ``unread`` names what they did not."""

    region: str
    groups: tuple[GroupHealth, ...] = ()
    alarms: tuple[AlarmState, ...] = ()
    unread: tuple[str, ...] = ()
    primary: bool = False  # the region's stack file says primary (its writer, not a replica)

    @property
    def answered(self) -> bool:
        return bool(self.groups or self.alarms)

    @property
    def firing(self) -> tuple[AlarmState, ...]:
        return tuple(alarm for alarm in self.alarms if alarm.firing)

    def group(self, az_index: int) -> GroupHealth | None:
        for group in self.groups:
            if group.az_index == az_index:
                return group
        return None


def gather_component_health(target: Target, stack: StackSettings, timeout_s: float = 5.0,
                            clients: BoundedClients | None = None) -> ComponentHealth:
    """Read the groups, target health and alarms of ``stack``'s region, part by part."""
    region = stack.region
    clients = clients or BoundedClients(target, timeout_s)
    unread = []
    targets: dict[str, dict[str, Any]] = {}
    try:
        targets = _target_health(clients.client("elbv2", region), region)
    except Exception as err:
        unread.append(f"target health in {region}: {why_silent(err)}")
    groups: tuple[GroupHealth, ...] = ()
    try:
        groups = _groups(clients.client("autoscaling", region), stack, targets)
    except Exception as err:
        unread.append(f"Auto Scaling groups in {region}: {why_silent(err)}")
    alarms = []
    # Alarms on Route 53 metrics of this region's checks live in us-east-1.
    for where in dict.fromkeys((region, naming.ROUTE53_REGION, stack.peer_region)):
        try:
            alarms.extend(_alarms(clients.client("cloudwatch", where), region, where))
        except Exception as err:
            unread.append(f"alarms in {where}: {why_silent(err)}")
    for problem in unread:
        logger.info("component health not read: %s", problem)
    return ComponentHealth(region, groups, tuple(alarms), tuple(unread), stack.is_primary)


def _target_health(elbv2: Any, region: str) -> dict[str, dict[str, Any]]:
    group = elbv2.describe_target_groups(Names=[naming.target_group_name(region)])[
        "TargetGroups"][0]
    described = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    return {
        item["Target"]["Id"]: item["TargetHealth"]
        for item in described["TargetHealthDescriptions"]
    }


def _groups(autoscaling: Any, stack: StackSettings,
            targets: dict[str, dict[str, Any]]) -> tuple[GroupHealth, ...]:
    names = naming.asg_names(stack.region, stack.az_count)
    found = {
        group["AutoScalingGroupName"]: group
        for group in autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=names)["AutoScalingGroups"]
    }
    groups = []
    for index, name in enumerate(names):
        if name not in found:
            continue
        group = found[name]
        instances = tuple(
            InstanceHealth(
                instance_id=item["InstanceId"], group=name, az=item["AvailabilityZone"],
                lifecycle=item["LifecycleState"], health=item["HealthStatus"],
                target_state=targets.get(item["InstanceId"], {}).get("State"),
                target_reason=targets.get(item["InstanceId"], {}).get("Reason"),
            )
            for item in group["Instances"]
        )
        groups.append(GroupHealth(name, index, group["DesiredCapacity"], instances))
    return tuple(groups)


def _alarms(cloudwatch: Any, region: str, where: str) -> list[AlarmState]:
    alarms = []
    pages = cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=naming.alarm(region, ""))
    for page in pages:
        for alarm in page["MetricAlarms"]:
            alarms.append(AlarmState(alarm["AlarmName"], where, alarm["StateValue"],
                                     alarm.get("StateReason", "")))
    return alarms
