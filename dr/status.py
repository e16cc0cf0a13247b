"""Both regions side by side: what the stack files say, what AWS says, and where they differ.

Each region is read through its own APIs, in parallel and bounded, so a region whose APIs
are down shows "no answer" and the other one still shows everything. Route 53's view comes
from its API (us-east-1) and the shop's DNS answer from the zone's servers (data plane).
Drift is said in words: "config says X, reality says Y", with what to do about it.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from dr import database, naming
from dr.addresses import ShopAddresses, shop_addresses
from dr.aws import Target
from dr.probe import ProbeError, resolve_a
from dr.settings import StackPair, StackSettings
from dr.signals import (ROUTE53_HEALTHY_FRACTION, BoundedClients, health_check_ids,
                        read_alarm_states, why_silent)

logger = logging.getLogger(__name__)

NO_ANSWER = "no answer"
LAG_METRIC = "AuroraGlobalDBRPOLag"  # milliseconds, reported by each secondary cluster
LAG_WINDOW_S = 600


@dataclass(frozen=True)
class GroupCapacity:
    name: str
    min: int
    desired: int
    max: int
    in_service: int


@dataclass(frozen=True)
class RegionStatus:
    """One region as its own APIs show it; None fields are those that gave no answer."""

    region: str
    config_role: str
    writer: bool | None = None  # per the global cluster as this region sees it
    cluster_state: str | None = None
    global_state: str | None = None
    writer_region: str | None = None
    lag_s: float | None = None
    lag_read: bool = False
    alarms: Mapping[str, str] | None = None
    groups: tuple[GroupCapacity, ...] | None = None
    unread: tuple[str, ...] = ()

    @property
    def reality_role(self) -> str | None:
        if self.writer is None:
            return None
        return "primary" if self.writer else "secondary"

    @property
    def firing(self) -> tuple[str, ...]:
        return tuple(sorted(n for n, s in (self.alarms or {}).items() if s == "ALARM"))


@dataclass(frozen=True)
class Status:
    regions: tuple[RegionStatus, ...]
    health_checks: Mapping[str, str] | None  # check name -> Healthy / Unhealthy
    dns_answer: tuple[str, ...] | None
    dns_region: str | None
    drift: tuple[str, ...] = field(default=())

    def region(self, name: str) -> RegionStatus:
        return next(r for r in self.regions if r.region == name)


def read_status(target: Target, pair: StackPair, *, addresses: ShopAddresses | None = None,
                timeout_s: float = 5.0, lab_dir: str | None = None) -> Status:
    """Everything ``invoke status`` shows, read in parallel with bounded calls."""
    if addresses is None:
        try:
            addresses = shop_addresses(target, pair, lab_dir=lab_dir, timeout_s=timeout_s)
        except Exception as err:  # status must still show what the APIs say
            logger.info("no data-plane addresses: %s", err)
            addresses = ShopAddresses()
    stacks = (pair.primary, pair.secondary)
    clients = BoundedClients(target, timeout_s)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="status") as pool:
        regions = [pool.submit(_region, clients, stack) for stack in stacks]
        checks = pool.submit(_health_checks, clients, stacks)
        answer = pool.submit(_dns_answer, pair.primary.domain, addresses, timeout_s)
        read = tuple(future.result() for future in regions)
        dns_answer = answer.result()
        health_checks = checks.result()
    dns_region = addresses.region_of(dns_answer) if dns_answer else None
    status = Status(read, health_checks, dns_answer, dns_region)
    return Status(read, health_checks, dns_answer, dns_region, drift(pair, status))


def _region(clients: BoundedClients, stack: StackSettings) -> RegionStatus:
    region = stack.region
    values: dict[str, Any] = {}
    unread: list[str] = []

    def attempt(what: str, read: Any) -> None:
        try:
            read()
        except database.DatabaseNotFound as err:
            unread.append(f"{what}: {err}")
        except Exception as err:
            unread.append(f"{what}: {why_silent(err)}")

    rds = clients.client("rds", region)

    def database_state() -> None:
        cluster = database.read_cluster(rds, region)
        values["cluster_state"] = cluster.status
        view = database.read_global(rds, region)
        values["global_state"] = view.status
        member = view.member(cluster.arn)
        # A cluster detached from the global database writes on its own.
        values["writer"] = True if member is None else member.is_writer
        values["writer_region"] = view.writer.region if view.writer else None

    attempt("database", database_state)
    cloudwatch = clients.client("cloudwatch", region)
    attempt("replication lag", lambda: values.update(lag_s=_lag_s(cloudwatch, region),
                                                         lag_read=True))
    attempt("alarms", lambda: values.update(alarms=read_alarm_states(cloudwatch, "shopsmart-")))
    autoscaling = clients.client("autoscaling", region)
    attempt("capacity", lambda: values.update(groups=_groups(autoscaling, stack)))
    for problem in unread:
        logger.info("status of %s: %s did not answer", region, problem)
    return RegionStatus(region, stack.role, unread=tuple(unread), **values)


def _lag_s(cloudwatch: Any, region: str) -> float | None:
    end = datetime.now(timezone.utc)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/RDS", MetricName=LAG_METRIC,
        Dimensions=[{"Name": "DBClusterIdentifier", "Value": naming.cluster_id(region)}],
        StartTime=end - timedelta(seconds=LAG_WINDOW_S), EndTime=end + timedelta(seconds=60),
        Period=60, Statistics=["Maximum"],
    )["Datapoints"]
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])["Maximum"]) / 1000.0


def _groups(autoscaling: Any, stack: StackSettings) -> tuple[GroupCapacity, ...]:
    names = naming.asg_names(stack.region, stack.az_count)
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names)
    return tuple(
        GroupCapacity(
            g["AutoScalingGroupName"], g["MinSize"], g["DesiredCapacity"], g["MaxSize"],
            sum(i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"
                for i in g["Instances"]),
        )
        for g in sorted(found["AutoScalingGroups"], key=lambda g: g["AutoScalingGroupName"])
    )


def _health_checks(clients: BoundedClients,
                   stacks: tuple[StackSettings, ...]) -> Mapping[str, str] | None:
    """Check name -> Healthy / Unhealthy / missing / no answer; None when Route 53's API
    (us-east-1) does not answer at all."""
    route53 = clients.client("route53", naming.ROUTE53_REGION)
    cloudwatch = clients.client("cloudwatch", naming.ROUTE53_REGION)
    try:
        ids = health_check_ids(route53)
    except Exception as err:
        logger.info("Route 53 health checks did not answer: %s", why_silent(err))
        return None
    states: dict[str, str] = {}
    for stack in stacks:
        for name in (naming.endpoint_health_check(stack.region),
                     naming.evacuation_health_check(stack.region),
                     naming.calculated_health_check(stack.region)):
            try:
                states[name] = _check_state(route53, cloudwatch, name, ids.get(name))
            except Exception as err:
                logger.info("state of %s not read: %s", name, why_silent(err))
                states[name] = NO_ANSWER
    return states


def _check_state(route53: Any, cloudwatch: Any, name: str, check_id: str | None) -> str:
    if check_id is None:
        return "missing"
    config = None
    if name.endswith("-calculated"):
        config = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"][
            "HealthCheckConfig"]
    if config is not None and config.get("ChildHealthChecks"):
        # GetHealthCheckStatus refuses calculated checks, and their HealthCheckStatus metric
        # has one-minute periods whose Minimum keeps a past failure: count the children as
        # Route 53 does instead.
        healthy = sum(_observed_healthy(route53, child)
                      for child in config["ChildHealthChecks"])
        threshold = config.get("HealthThreshold", len(config["ChildHealthChecks"]))
        up = (healthy >= threshold) != bool(config.get("Inverted"))
        return "Healthy" if up else "Unhealthy"
    return "Healthy" if _observed_healthy(route53, check_id) else "Unhealthy"


def _observed_healthy(route53: Any, check_id: str) -> bool:
    seen = route53.get_health_check_status(HealthCheckId=check_id)["HealthCheckObservations"]
    healthy = sum(o["StatusReport"]["Status"].startswith("Success") for o in seen)
    return bool(seen) and healthy / len(seen) > ROUTE53_HEALTHY_FRACTION


def _dns_answer(name: str, addresses: ShopAddresses, timeout_s: float) -> tuple[str, ...] | None:
    for host, port in addresses.dns_servers:
        try:
            return resolve_a(name, host, port, timeout_s=min(2.0, timeout_s))
        except ProbeError as err:
            logger.info("%s", err)
    return None


# --- drift ---------------------------------------------------------------------------------

def drift(pair: StackPair, status: Status) -> tuple[str, ...]:
    """Each disagreement between the stack files and reality, in words."""
    found = []
    config_primary = pair.primary.region
    writers = {r.writer_region for r in status.regions if r.writer_region}
    detached = [r.region for r in status.regions
                if r.writer and r.writer_region not in (None, r.region)]
    for writer in sorted(writers - {config_primary}):
        found.append(
            f"config says {config_primary} is primary ({pair.primary.origin}), but the Aurora"
            f" writer is {writer}'s cluster: the stack files were not flipped after a role"
            " change; finish it with `invoke failover` (it resumes) or `invoke failback`")
    for region in detached:
        found.append(f"{region}'s cluster writes on its own, outside the global database:"
                     " it was detached and promoted; the other region must be rebuilt")
    if status.dns_region and status.dns_region != config_primary:
        answer = ", ".join(status.dns_answer or ())
        found.append(
            f"config says {config_primary} is primary, but DNS answers {answer}"
            f" ({status.dns_region}): Route 53 judges {config_primary} unhealthy or evacuated")
    for region_status in status.regions:
        found.extend(_capacity_drift(pair.by_region(region_status.region), region_status))
        evacuation = naming.evacuation_alarm(region_status.region)
        peer = status.region(pair.by_region(region_status.region).peer_region)
        evacuated = (peer.alarms or {}).get(evacuation) == "ALARM"
        if evacuated and region_status.config_role == "primary":
            found.append(f"config says {region_status.region} is primary, but it is evacuated"
                         f" ({evacuation} is in ALARM in {peer.region})")
    return tuple(found)


def _capacity_drift(stack: StackSettings, region: RegionStatus) -> list[str]:
    want = stack.role_capacity
    return [
        f"config says {stack.region} is {stack.role} ({want.desired} desired per AZ), but"
        f" {group.name} has {group.desired} desired"
        for group in region.groups or ()
        if group.desired != want.desired
    ]


# --- rendering -----------------------------------------------------------------------------

def render(status: Status) -> str:
    """Both regions in two columns, then the shared views and the drift."""
    rows = [
        ("role (stack file)", lambda r: r.config_role),
        ("role (reality)", lambda r: r.reality_role),
        ("cluster", lambda r: r.cluster_state),
        ("global cluster", lambda r: r.global_state),
        ("writer (global view)", lambda r: r.writer_region),
        ("replication lag", _lag_cell),
        ("alarms in ALARM", lambda r: None if r.alarms is None
            else (", ".join(a.removeprefix("shopsmart-") for a in r.firing) or "none")
            + f" (of {len(r.alarms)})"),
        ("in service / desired", lambda r: None if r.groups is None else ", ".join(
            f"{g.in_service}/{g.desired}" for g in r.groups) or "no groups"),
    ]
    width = max(len(label) for label, _ in rows) + 2
    column = max(24, *(len(_cell(get(r))) for _, get in rows for r in status.regions)) + 2
    lines = [" " * width + "".join(r.region.ljust(column) for r in status.regions)]
    for label, get in rows:
        lines.append(label.ljust(width) + "".join(_cell(get(r)).ljust(column)
                                                   for r in status.regions))
    checks = status.health_checks
    lines.append("")
    lines.append("health checks (Route 53): " + (NO_ANSWER if checks is None else ", ".join(
        f"{name.removeprefix('shopsmart-')} {state}" for name, state in checks.items())))
    answer = NO_ANSWER if status.dns_answer is None else (
        ", ".join(status.dns_answer) or "no address")
    where = f" ({status.dns_region})" if status.dns_region else ""
    lines.append(f"DNS answer for the shop's name: {answer}{where}")
    for region in status.regions:
        if region.unread:
            lines.append(f"not read in {region.region}: " + "; ".join(region.unread))
    lines.append("")
    lines.extend(["drift:"] + [f"  - {item}" for item in status.drift] if status.drift
                 else ["drift: none (config and reality agree)"])
    return "\n".join(lines)


def _lag_cell(region: RegionStatus) -> str | None:
    if region.lag_s is not None:
        return f"{region.lag_s:.1f} s"
    return "no data" if region.lag_read else None


def _cell(value: Any) -> str:
    return NO_ANSWER if value is None else str(value)
