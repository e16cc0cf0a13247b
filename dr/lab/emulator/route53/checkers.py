"""Route 53 health checking, evaluated for real: the data plane of the lab's DNS.

Each endpoint check (HTTP, HTTPS, TCP and their string-matching forms) is probed by every
checker Region at the check's RequestInterval (scaled), staggered across the interval as
Route 53's checkers are. A checker changes its view after FailureThreshold consecutive
observations that disagree with it; the check is healthy when more than 18% of checkers
say so (Route 53's rule), then Inverted applies. CLOUDWATCH_METRIC checks follow their
alarm, CALCULATED checks count their healthy children against HealthThreshold. The status
is also published as the HealthCheckStatus metric in us-east-1, as Route 53 does.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.route53.models import HealthCheck, route53_backends

from dr.lab.emulator.loop import PeriodicLoop
from dr.lab.emulator.route53.probes import Observation, probe

if TYPE_CHECKING:
    from dr.lab.emulator import Emulator

logger = logging.getLogger(__name__)

# Route 53's default checker Regions, and an address per checker for the observations.
CHECKER_REGIONS = (
    "us-east-1", "us-west-1", "us-west-2", "eu-west-1",
    "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1",
)
HEALTHY_SHARE = 0.18
ENDPOINT_TYPES = ("HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP")
ROUTE53_METRIC_REGION = "us-east-1"
METRIC_PERIOD_S = 60.0
TICK_S = 0.05


def route53_backend() -> Any:
    return route53_backends[DEFAULT_ACCOUNT_ID]["aws"]


@dataclass
class Checker:
    region: str
    ip_address: str
    next_due: float
    healthy: bool = True
    disagreeing: int = 0
    report: str = "Success: awaiting the first observation."
    checked: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def observe(self, observation: Observation, threshold: int) -> None:
        self.report = observation.status
        self.checked = datetime.now(timezone.utc)
        if observation.healthy == self.healthy:
            self.disagreeing = 0
            return
        self.disagreeing += 1
        if self.disagreeing >= threshold:
            self.healthy = observation.healthy
            self.disagreeing = 0


@dataclass
class CheckState:
    checkers: list[Checker]
    healthy: bool = True


class HealthCheckers(PeriodicLoop):
    def __init__(self, emulator: "Emulator") -> None:
        self.emulator = emulator
        self._lock = threading.Lock()
        self._states: dict[str, CheckState] = {}
        self._next_metric = 0.0
        super().__init__("route53-health-checkers", lambda: TICK_S, self.tick,
                         emulator.stopping)

    # --- evaluation -------------------------------------------------------------------------

    def tick(self) -> None:
        checks = dict(route53_backend().health_checks)
        now = time.monotonic()
        with self._lock:
            for gone in set(self._states) - set(checks):
                del self._states[gone]
        for check in checks.values():
            if check.type_ in ENDPOINT_TYPES:
                self._probe_due(check, now)
        for check in checks.values():
            if check.type_ == "CLOUDWATCH_METRIC":
                self._follow_alarm(check)
        for check in checks.values():
            if check.type_ == "CALCULATED":
                self._calculate(check)
        if now >= self._next_metric:
            self._next_metric = now + self.emulator.timing.scaled(METRIC_PERIOD_S)
            self._publish_metrics(checks)

    def state(self, check: HealthCheck) -> CheckState:
        with self._lock:
            state = self._states.get(check.id)
            if state is None:
                regions = tuple(check.regions or CHECKER_REGIONS)
                interval = self._interval(check)
                start = time.monotonic()
                state = CheckState([
                    Checker(region, f"15.177.{index * 8}.{10 + index}",
                            start + index * interval / len(regions))
                    for index, region in enumerate(regions)
                ])
                self._states[check.id] = state
            return state

    def _interval(self, check: HealthCheck) -> float:
        return self.emulator.timing.scaled(float(check.request_interval or 30))

    def _probe_due(self, check: HealthCheck, now: float) -> None:
        state = self.state(check)
        interval = self._interval(check)
        threshold = int(check.failure_threshold or 3)
        for checker in state.checkers:
            if checker.next_due > now:
                continue
            checker.next_due = now + interval
            checker.observe(self._probe(check, interval), threshold)
        share = sum(c.healthy for c in state.checkers) / len(state.checkers)
        self._settle(check, state, check.disabled or share > HEALTHY_SHARE)

    def _probe(self, check: HealthCheck, interval: float) -> Observation:
        wanted = check.ip_address or check.fqdn
        address = self.emulator.names.resolve(wanted)
        if address is None and check.ip_address:
            return Observation(False, f"Failure: {check.ip_address} is outside 127.0.0.0/8;"
                                      " the lab contacts nothing but loopback.")
        default_port = 443 if check.type_.startswith("HTTPS") else 80
        return probe(
            check.type_, address, int(check.port or default_port), check.resource_path,
            check.fqdn, timeout_s=max(0.2, min(4.0, interval)),
            search_string=check.search_string if "STR_MATCH" in check.type_ else None,
        )

    def _follow_alarm(self, check: HealthCheck) -> None:
        state = self.state(check)
        identifier = getattr(check, "alarm_identifier", None) or {}
        alarm_state = self._alarm_state(identifier)
        alarm = f"the CloudWatch alarm {identifier.get('Name')} in {identifier.get('Region')}"
        if alarm_state == "ALARM":
            healthy, why = False, f"{alarm} is in state ALARM."
        elif alarm_state == "OK":
            healthy, why = True, f"{alarm} is in state OK."
        else:
            setting = getattr(check, "insufficient_data_health_status", None)
            setting = setting or "LastKnownStatus"
            raw = state.healthy != bool(check.inverted)  # the last known, before inversion
            healthy = {"Healthy": True, "Unhealthy": False}.get(setting, raw)
            why = f"{alarm} has insufficient data; " + (
                f"the check is set to {'healthy' if healthy else 'unhealthy'}."
                if setting in ("Healthy", "Unhealthy") else
                f"the last known status ({'healthy' if healthy else 'unhealthy'}) applies.")
        self._settle(check, state, check.disabled or healthy)
        # Every checker reads the same alarm, so each reports the check's evaluated state.
        report = f"{'Success' if state.healthy else 'Failure'}: {why}"
        checked = datetime.now(timezone.utc)
        for checker in state.checkers:
            checker.report, checker.checked = report, checked

    def _alarm_state(self, identifier: dict[str, str]) -> str:
        region, name = identifier.get("Region"), identifier.get("Name")
        if not region or not name or self.emulator.faults.is_down(region):
            return "INSUFFICIENT_DATA"
        alarm = cloudwatch_backends[DEFAULT_ACCOUNT_ID][region].alarms.get(name)
        return alarm.state_value if alarm is not None else "INSUFFICIENT_DATA"

    def _calculate(self, check: HealthCheck) -> None:
        state = self.state(check)
        children = list(check.children or [])
        threshold = check.health_threshold
        threshold = len(children) if threshold is None else int(threshold)
        healthy_children = sum(self.is_healthy(child) for child in children)
        self._settle(check, state, check.disabled or healthy_children >= threshold)

    def _settle(self, check: HealthCheck, state: CheckState, raw_healthy: bool) -> None:
        healthy = bool(raw_healthy) != bool(check.inverted and not check.disabled)
        if healthy != state.healthy:
            logger.info("health check %s (%s) is now %s", check.id, check.type_,
                        "healthy" if healthy else "unhealthy")
        state.healthy = healthy

    def is_healthy(self, check_id: str) -> bool:
        with self._lock:
            state = self._states.get(check_id)
        return True if state is None else state.healthy

    def _publish_metrics(self, checks: dict[str, HealthCheck]) -> None:
        if self.emulator.faults.is_down(ROUTE53_METRIC_REGION):
            return
        data = [
            {"MetricName": "HealthCheckStatus", "Value": 1.0 if self.is_healthy(i) else 0.0,
             "Dimensions": [{"Name": "HealthCheckId", "Value": i}]}
            for i in checks
        ]
        if data:
            cloudwatch_backends[DEFAULT_ACCOUNT_ID][ROUTE53_METRIC_REGION].put_metric_data(
                "AWS/Route53", data)

    # --- views ------------------------------------------------------------------------------

    def observations(self, check: HealthCheck) -> list[dict[str, Any]]:
        state = self.state(check)
        return [
            {"Region": c.region, "IPAddress": c.ip_address,
             "StatusReport": {"Status": c.report, "CheckedTime": c.checked}}
            for c in state.checkers
        ]

    def dns_view(self) -> dict[str, Any]:
        backend = route53_backend()
        zones = [
            {"id": zone.id, "name": zone.name.rstrip(".") + ".",
             "records": [record_set_json(r) for r in list(zone.rrsets)]}
            for zone in list(backend.zones.values())
        ]
        return {
            "zones": zones,
            "health_checks": {i: self.is_healthy(i) for i in list(backend.health_checks)},
            "names": self.emulator.names.names(),
        }

    def reset(self) -> None:
        with self._lock:
            self._states.clear()


def record_set_json(record: Any) -> dict[str, Any]:
    """A moto record set as ``list_resource_record_sets`` shows it."""
    document: dict[str, Any] = {"Name": record.name, "Type": record.type}
    optional = {
        "SetIdentifier": record.set_identifier, "Weight": record.weight,
        "Region": record.region, "Failover": record.failover,
        "MultiValueAnswer": record.multi_value_answer, "GeoLocation": record.geo_location,
        "TTL": int(record.ttl) if record.ttl is not None else None,
        "HealthCheckId": record.health_check_id,
    }
    document.update({key: value for key, value in optional.items() if value is not None})
    if record.alias_target:
        document["AliasTarget"] = dict(record.alias_target)
    elif record.records:
        document["ResourceRecords"] = [
            {"Value": value["Value"] if isinstance(value, dict) else value}
            for value in record.records
        ]
    return document
