"""The minor-incident procedure: find the failed component, replace it, watch it recover.

The failed component is identified from the region's alarms and component health (the same
reading that classifies the incident). An instance is marked Unhealthy so that its Auto
Scaling group replaces it, which is how AWS itself recovers one; if the group has not acted
within a health-check period, the instance is terminated in the group (desired capacity
kept), which makes the group launch a replacement at once. A group short of capacity is
asked again for its desired capacity. Then the procedure waits, bounded and with progress,
until the group serves its desired capacity and the component's alarm is OK.

It is a plan of three journaled steps (find, replace, wait): an interrupted run resumes
without replacing twice, and it ends with an incident record like every other procedure.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from dr import journal as jr
from dr import naming, report
from dr.aws import Target
from dr.classify import MINOR, Component, failed_components
from dr.components import ComponentHealth, GroupHealth, gather_component_health
from dr.plan import Plan, Step
from dr.runner import RunOutcome, StepContext, run_plan
from dr.settings import StackSettings
from dr.waiting import Observation

logger = logging.getLogger(__name__)

PROCEDURE = "recover"
RECOVERABLE = ("instance", "group")


class RecoverError(RuntimeError):
    """Base of the failures of the minor-incident procedure a user can act on."""


class NothingToRecover(RecoverError):
    def __init__(self, region: str, asked: str | None) -> None:
        what = f"component {asked} is not failing" if asked else "no component is failing"
        super().__init__(f"checked the alarms, groups and targets of {region}: {what};"
                         " run `invoke assess` to see the whole picture")


class ComponentAmbiguous(RecoverError):
    def __init__(self, region: str, failed: tuple[Component, ...]) -> None:
        names = ", ".join(c.name for c in failed)
        super().__init__(f"{len(failed)} components of {region} are failing ({names}): that is"
                         " a partial incident; name one with --component, or see `invoke assess`")


class NotRecoverable(RecoverError):
    def __init__(self, component: Component) -> None:
        super().__init__(f"{component.name} is a failure of the {component.kind}"
                         f" ({component.detail});"
                         " `invoke recover` replaces instances and refills groups only; follow"
                         " the procedure `invoke assess` prints")


class RegionSilent(RecoverError):
    def __init__(self, health: ComponentHealth) -> None:
        silent = "; ".join(health.unread)
        super().__init__(f"the APIs of {health.region} did not answer ({silent}): recovery"
                         " needs them; if the region is down, run `invoke assess`")


@dataclass(frozen=True)
class Recovery:
    """What the procedure needs: where, which component, and its bounds (seconds).

    component: an instance id, group or alarm name from ``invoke assess``; None picks the
    only failing component (several failing is a partial incident: refused).
    replace_wait_s: how long the group may take to act on an Unhealthy mark before the
    instance is terminated in the group.
    """

    target: Target
    stack: StackSettings
    component: str | None = None
    timeout_s: float = 900.0
    poll_s: float = 5.0
    replace_wait_s: float = 30.0


@dataclass(frozen=True)
class RecoveryResult:
    outcome: RunOutcome
    record: report.IncidentRecord
    paths: tuple[Path, Path]

    @property
    def component(self) -> dict[str, Any]:
        return (self.outcome.result_of("find-failed-component") or {}).get("component", {})

    @property
    def replacements(self) -> tuple[str, ...]:
        found = self.outcome.result_of("wait-until-recovered") or {}
        return tuple(found.get("replacements", ()))

    def raise_for_failure(self) -> None:
        """Raise the cause of a failed or refused run: the error a user acts on."""
        error = self.outcome.error
        if error is not None:
            raise getattr(error, "cause", None) or error


def recovery_plan(recovery: Recovery) -> Plan:
    region = recovery.stack.region
    return Plan(PROCEDURE, (
        Step("find-failed-component",
             f"find the failed component of {region} from its alarms, groups and targets",
             _find, api_targets=(f"autoscaling:DescribeAutoScalingGroups {region}",
                                 f"elbv2:DescribeTargetHealth {region}",
                                 f"cloudwatch:DescribeAlarms {region}"),
             acts=False, phase="detection", timeout_s=60.0),
        Step("replace-component",
             "mark the instance Unhealthy so its group replaces it (or refill the group)",
             _replace, api_targets=(f"autoscaling:SetInstanceHealth {region}",
                                    f"autoscaling:TerminateInstanceInAutoScalingGroup {region}"),
             reconcile=_replaced, phase="capacity",
             timeout_s=recovery.replace_wait_s + 60.0),
        Step("wait-until-recovered",
             "wait until the group serves its desired capacity and the alarm is OK",
             _wait, acts=False, phase="verification", timeout_s=recovery.timeout_s),
    ))


def recover(recovery: Recovery, *, incidents_dir: Path | str, trigger: dict[str, Any],
            on_progress: Callable[[str, str], None] | None = None) -> RecoveryResult:
    """Run the minor-incident procedure (or resume its open run) and write its record."""
    params = {"region": recovery.stack.region, "component": recovery.component}
    run = jr.open_run(incidents_dir, PROCEDURE, trigger, params)
    with run:
        outcome = run_plan(recovery_plan(recovery), run, services=recovery,
                           on_progress=on_progress,
                           progress_every_s=max(1.0, recovery.poll_s * 2))
        found = outcome.result_of("find-failed-component")
        record, paths = report.record_run(
            run, classification=MINOR if found else None,
            evidence={"failed_component": found["component"], "alarm": found["alarm"]}
            if found else None)
    logger.info("recover run %s ended %s", run.run_id, outcome.status)
    return RecoveryResult(outcome, record, paths)


# --- steps ---------------------------------------------------------------------------------

def _find(ctx: StepContext) -> dict[str, Any]:
    recovery: Recovery = ctx.services
    health = gather_component_health(recovery.target, recovery.stack)
    if not health.answered:
        raise RegionSilent(health)
    chosen = choose(health, ctx.params.get("component"))
    group = _group_of(health, chosen)
    alarm = _alarm_of(recovery.stack.region, group)
    ctx.decide(f"minor incident: {chosen.detail}; recover it through {group.name}",
               component=chosen.name, group=group.name)
    return {"summary": f"failed component: {chosen.detail}", "component": asdict(chosen),
            "group": group.name, "az_index": group.az_index, "desired": group.desired,
            "instances": [i.instance_id for i in group.instances], "alarm": alarm}


def _replace(ctx: StepContext) -> dict[str, Any]:
    recovery: Recovery = ctx.services
    found = ctx.result_of("find-failed-component")
    autoscaling = recovery.target.client("autoscaling", recovery.stack.region)
    if found["component"]["kind"] == "instance":
        action = _replace_instance(autoscaling, found["component"]["name"], found["group"],
                                   recovery.replace_wait_s, recovery.poll_s, ctx)
    else:
        autoscaling.set_desired_capacity(AutoScalingGroupName=found["group"],
                                         DesiredCapacity=found["desired"], HonorCooldown=False)
        action = f"asked {found['group']} again for {found['desired']} instances"
    return {"summary": action, "action": action}


def _replaced(ctx: StepContext) -> dict[str, Any] | None:
    """After an interruption: the instance already left its group, or it is safe to redo."""
    recovery: Recovery = ctx.services
    found = ctx.result_of("find-failed-component")
    if found["component"]["kind"] != "instance":
        return None
    autoscaling = recovery.target.client("autoscaling", recovery.stack.region)
    if _in_group(autoscaling, found["group"], found["component"]["name"]):
        return None
    action = f"{found['component']['name']} had already left {found['group']}"
    return {"summary": action, "action": action}


def _wait(ctx: StepContext) -> dict[str, Any]:
    recovery: Recovery = ctx.services
    found = ctx.result_of("find-failed-component")

    def look() -> dict[str, Any] | None:
        seen = _settled(recovery.target, recovery.stack, found)
        if not seen.done:
            ctx.progress(seen.state)
            return None
        return {"summary": f"recovered: {seen.state}", "state": seen.state,
                "replacements": sorted(seen.value or ())}

    return ctx.wait_for(look, f"{found['group']} to serve and {found['alarm']} to be OK",
                        interval_s=recovery.poll_s)


def choose(health: ComponentHealth, asked: str | None) -> Component:
    """The component to recover: the one asked for, or the only failing one."""
    failed = failed_components(health)
    if asked is not None:
        matches = [c for c in failed if asked in (c.name, c.name.removeprefix("shopsmart-"))]
        if not matches:
            raise NothingToRecover(health.region, asked)
        failed = tuple(matches)
    if not failed:
        raise NothingToRecover(health.region, None)
    if len(failed) > 1:
        raise ComponentAmbiguous(health.region, failed)
    if failed[0].kind not in RECOVERABLE:
        raise NotRecoverable(failed[0])
    return failed[0]


def _group_of(health: ComponentHealth, component: Component) -> GroupHealth:
    for group in health.groups:
        if component.name == group.name or any(
                i.instance_id == component.name for i in group.instances):
            return group
    raise NotRecoverable(component)


def _alarm_of(region: str, group: GroupHealth) -> str:
    return naming.alarm(region, f"unhealthy-hosts-{group.az_index}")


def _replace_instance(autoscaling: Any, instance_id: str, group: str, wait_s: float,
                      poll_s: float, ctx: StepContext) -> str:
    autoscaling.set_instance_health(InstanceId=instance_id, HealthStatus="Unhealthy",
                                    ShouldRespectGracePeriod=False)
    ctx.decide(f"marked {instance_id} Unhealthy so that {group} replaces it")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        ctx.check_deadline(f"{group} to replace {instance_id}")
        if not _in_group(autoscaling, group, instance_id):
            return f"marked {instance_id} Unhealthy; {group} replaced it"
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=instance_id, ShouldDecrementDesiredCapacity=False)
    ctx.decide(f"{group} had not replaced {instance_id} within {wait_s:g} s: terminated it in"
               " the group, desired capacity kept")
    return f"marked {instance_id} Unhealthy, then terminated it in {group}"


def _in_group(autoscaling: Any, group: str, instance_id: str) -> bool:
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return any(i["InstanceId"] == instance_id and i["LifecycleState"] not in
               ("Terminating", "Terminating:Wait", "Terminating:Proceed", "Terminated")
               for g in found["AutoScalingGroups"] for i in g["Instances"])


def _settled(target: Target, stack: StackSettings,
             found: dict[str, Any]) -> Observation[set[str]]:
    health = gather_component_health(target, stack)
    group = health.group(found["az_index"])
    if group is None:
        return Observation(False, f"{found['group']} not readable")
    failed = found["component"]["name"]
    new = {i.instance_id for i in group.instances if i.instance_id not in found["instances"]}
    alarm_state = {a.name: a.state for a in health.alarms}.get(found["alarm"], "absent")
    still_there = any(i.instance_id == failed for i in group.instances)
    words = (f"{group.serving}/{group.desired} serving, {found['alarm']} {alarm_state}"
             + (f", {failed} still in the group" if still_there else "")
             + (f", new: {', '.join(sorted(new))}" if new else ""))
    done = (group.serving >= group.desired and not group.failed and not still_there
            and alarm_state in ("OK", "absent"))
    return Observation(done, words, new)
