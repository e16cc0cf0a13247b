"""Auto Scaling in the lab: instance launches take time, and groups report their metrics.

A new instance is ``Pending`` until it has booted and passed its first health check, then
``InService`` (moto: at once).

Only ``InService`` instances count towards a group's serving capacity (and towards the
GroupInServiceInstances metric in AWS), so the engine's capacity step waits as it would.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from moto.autoscaling.models import FakeAutoScalingGroup, autoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID

from dr.lab.emulator.loop import PeriodicLoop

if TYPE_CHECKING:
    from dr.lab.emulator import Emulator

logger = logging.getLogger(__name__)

_MOTO_LAUNCH = FakeAutoScalingGroup.replace_autoscaling_group_instances


def install(emulator: "Emulator") -> None:
    def replace_autoscaling_group_instances(self: FakeAutoScalingGroup, count_needed: int,
                                            *args: Any, **kwargs: Any) -> None:
        before = {state.instance_id for state in self.instance_states}
        _MOTO_LAUNCH(self, count_needed, *args, **kwargs)
        launched = [s for s in self.instance_states if s.instance_id not in before]
        for state in launched:
            state.lifecycle_state = "Pending"
        if launched:
            delay = emulator.timing.duration("instance_launch")
            threading.Thread(target=_in_service, args=(emulator, self.name, launched, delay),
                             daemon=True).start()

    FakeAutoScalingGroup.replace_autoscaling_group_instances = (
        replace_autoscaling_group_instances)


def _in_service(emulator: "Emulator", group: str, launched: list[Any], delay: float) -> None:
    if emulator.stopping.wait(delay):
        return
    for state in launched:
        if state.lifecycle_state == "Pending":
            state.lifecycle_state = "InService"
    logger.info("%d instance(s) of %s are InService", len(launched), group)


class GroupMetrics(PeriodicLoop):
    """GroupInServiceInstances per group (AWS/AutoScaling, dimension AutoScalingGroupName),
    about once a minute, scaled, as group metrics collection publishes it."""

    def __init__(self, emulator: "Emulator") -> None:
        self.emulator = emulator
        super().__init__("group-metrics",
                         lambda: emulator.timing.duration("lag_metric_period"),
                         self.publish, emulator.stopping)

    def publish(self) -> None:
        regions = self.emulator.config.regions if self.emulator.config else ()
        for region in regions:
            if self.emulator.faults.is_down(region):
                continue
            groups = autoscaling_backends[DEFAULT_ACCOUNT_ID][region].autoscaling_groups
            data = [
                {"MetricName": "GroupInServiceInstances", "Unit": "None",
                 "Value": float(len(group.active_instances())),
                 "Dimensions": [{"Name": "AutoScalingGroupName", "Value": name}]}
                for name, group in list(groups.items())
            ]
            if data:
                cloudwatch_backends[DEFAULT_ACCOUNT_ID][region].put_metric_data(
                    "AWS/AutoScaling", data)
