"""Classify an incident the way the DR plan does, and say what to do about it.

minor: one component failed (one instance, one target, one Auto Scaling group);
partial: several components, or a whole AZ; major: the primary region, which only the
evidence rule (k of n independent signals) may conclude. Component health tells minor from
partial; without it (the region's APIs silent) the evidence alone decides, and a failure
that too few signals confirm is "unconfirmed", not major.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from dr import signals
from dr.aws import Target
from dr.components import ComponentHealth, gather_component_health
from dr.settings import EvidenceRule, StackPair
from dr.signals import Evidence, collect_evidence

NONE = "none"
MINOR = "minor"
PARTIAL = "partial"
MAJOR = "major"
UNCONFIRMED = "unconfirmed"
LEVELS = (NONE, MINOR, PARTIAL, MAJOR, UNCONFIRMED)

_PER_GROUP_ALARM = re.compile(r"^(unhealthy-hosts|capacity)-(\d+)$")


@dataclass(frozen=True)
class Component:
    """A failed component. ``name`` is what ``invoke recover --component`` accepts."""

    kind: str  # instance, group, az, load-balancer, database, endpoint, alarm
    name: str
    detail: str
    az: str | None = None


@dataclass(frozen=True)
class Classification:
    level: str
    region: str
    components: tuple[Component, ...]
    critical_hit: bool
    evidence: Evidence
    procedure: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level, "region": self.region, "critical_hit": self.critical_hit,
            "components": [asdict(c) for c in self.components],
            "evidence": self.evidence.to_dict(), "procedure": list(self.procedure),
        }


def classify(evidence: Evidence, health: ComponentHealth | None,
             rule: EvidenceRule) -> Classification:
    """The incident's level, its failed components and the procedure to follow.

    evidence: signals about the suspect region (``collect_evidence``).
    health: that region's component health (``gather_component_health``), or None.
    rule: the k-of-n rule (``StackSettings.evidence``); only it can make an incident major.
    """
    health = health or ComponentHealth(evidence.region)
    components = failed_components(health)
    critical = _critical_hit(evidence, components)
    if evidence.meets(rule):
        level = MAJOR
    elif any(c.kind == "az" for c in components) or len(components) > 1:
        level = PARTIAL
    elif components:
        level = MINOR
    elif evidence.failed:
        level = UNCONFIRMED
    else:
        level = NONE
    procedure = _PROCEDURES[level](evidence, components, critical, rule)
    return Classification(level, evidence.region, components, critical, evidence, procedure)


def assess(target: Target, pair: StackPair, *, region: str | None = None,
           timeout_s: float = 5.0, **evidence_options: Any) -> Classification:
    """Collect evidence and component health of ``region`` (default: the configured
    primary) in parallel, and classify them."""
    suspect = pair.by_region(region or pair.primary.region)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="assess") as pool:
        evidence = pool.submit(collect_evidence, target, pair, region=suspect.region,
                               timeout_s=timeout_s, **evidence_options)
        health = pool.submit(gather_component_health, target, suspect, timeout_s)
        return classify(evidence.result(), health.result(), suspect.evidence)


def failed_components(health: ComponentHealth) -> tuple[Component, ...]:
    """One entry per thing that failed; alarms only add what instances do not explain."""
    found: list[Component] = []
    explained: set[int] = set()
    for group in health.groups:
        if group.desired > 0 and group.serving == 0:
            found.append(Component(
                "az", group.name, az=group.az,
                detail=f"AZ {group.az or group.az_index}: {group.name} serves none of"
                       f" {group.desired} desired instances"))
            explained.add(group.az_index)
            continue
        for instance in group.failed:
            found.append(Component("instance", instance.instance_id, instance.describe(),
                                   az=instance.az))
            explained.add(group.az_index)
        if not group.failed and group.serving < group.desired:
            found.append(Component(
                "group", group.name, az=group.az,
                detail=f"{group.name} serves {group.serving} of {group.desired} desired"))
            explained.add(group.az_index)

    for alarm in health.firing:
        what = alarm.name.removeprefix(f"shopsmart-{health.region}-")
        per_group = _PER_GROUP_ALARM.match(what)
        if per_group and int(per_group.group(2)) in explained:
            continue
        if what == "alb-5xx" and explained:
            continue
        if what == "replication-lag" and health.primary:
            continue  # a replica's alarm: nothing replicates into the writer
        kind = _ALARM_KINDS.get(what, "group" if per_group else "alarm")
        found.append(Component(kind, alarm.name, f"alarm {alarm.name} is in ALARM"
                               f" ({alarm.reason or 'no reason given'})"))
    return tuple(found)


_ALARM_KINDS = {"alb-5xx": "load-balancer", "db-writer": "database",
                "replication-lag": "database", "endpoint-health": "endpoint"}


def _critical_hit(evidence: Evidence, components: tuple[Component, ...]) -> bool:
    """Critical functions: the shop answers through its name, and orders can be written."""
    shop_down = any(evidence.signal(s).failed for s in (signals.PROBE, signals.DNS)
                    if s in {x.source for x in evidence.signals})
    return shop_down or any(c.kind in ("database", "endpoint", "load-balancer")
                            for c in components)


# --- procedures, in words an on-call engineer acts on ---------------------------------------

def _none(evidence, components, critical, rule) -> tuple[str, ...]:
    return (
        f"No failure found in {evidence.region}: {evidence.summary(rule)}, and no component"
        " is failing.",
        "Nothing to do. If users still report errors, run `invoke assess` again and check"
        " `invoke status`.",
    )


def _minor(evidence, components, critical, rule) -> tuple[str, ...]:
    failed = components[0]
    return (
        f"Minor incident in {evidence.region}: {failed.detail}.",
        f"Run `invoke recover --component {failed.name}`: it has the component replaced,"
        " waits until its alarm is OK and records the incident.",
        "If the alarm does not clear, run `invoke assess` again: the incident may have grown.",
    )


def _partial(evidence, components, critical, rule) -> tuple[str, ...]:
    listed = "; ".join(c.detail for c in components)
    steps = [f"Partial incident in {evidence.region}: {listed}."]
    if critical:
        steps += [
            "Critical functions are hit (the shop does not answer through its name, or the"
            " load balancer, endpoint or database fails).",
            "Fail over: `invoke failover`. The evidence rule is not met"
            f" ({evidence.summary(rule)}), so it needs `--force`, which the record keeps.",
        ]
    else:
        steps += [
            "Critical functions still work (the shop answers through its name).",
            "Recover each component: "
            + ", ".join(f"`invoke recover --component {c.name}`" for c in components)
            + "; watch `invoke status` and fail over only if critical functions get hit.",
        ]
    return tuple(steps)


def _major(evidence, components, critical, rule) -> tuple[str, ...]:
    survivor = evidence.observer
    return (
        f"Major incident: region {evidence.region} failed ({evidence.summary(rule)}).",
        f"Start the automated failover to {survivor}: `invoke failover` (or the failover API"
        f" endpoint in {survivor}); it notifies the stakeholders.",
        f"Then verify that {survivor} serves traffic through the shop's name, that its"
        " database is the writer and that an order can be written (`invoke status`).",
        f"Keep stakeholders informed; once {evidence.region} is back, fail back, verify and"
        " document.",
    )


def _unconfirmed(evidence, components, critical, rule) -> tuple[str, ...]:
    failed = ", ".join(f"{s.source} ({s.detail})" for s in evidence.failed)
    return (
        f"Unconfirmed: {failed} failed, but {evidence.summary(rule)}.",
        "Do not fail over yet: run `invoke assess` again in a minute; a real regional"
        " failure shows in more sources. `invoke failover --force` overrides the rule and"
        " is recorded as such.",
    )


_PROCEDURES = {NONE: _none, MINOR: _minor, PARTIAL: _partial, MAJOR: _major,
               UNCONFIRMED: _unconfirmed}
