"""CloudWatch metric alarms evaluated from the data put with ``put_metric_data``.

Per alarm: the last EvaluationPeriods periods (each Period long, scaled by time_scale) are
reduced with the alarm's statistic; a period with no datum is missing and treated as
TreatMissingData says (missing, notBreaching, breaching, ignore). ALARM when at least
DatapointsToAlarm periods breach; INSUFFICIENT_DATA when there is nothing to judge. A state
change is recorded in the alarm's history and, with actions enabled, published to each SNS
topic of the new state's actions that is in the alarm's own Region (as AWS requires).
Alarms of a Region in outage are frozen: that Region's CloudWatch is not running.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from moto.cloudwatch.models import Alarm, MetricAggregatedDatum, MetricDatum, cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from dr.lab.emulator.loop import PeriodicLoop

if TYPE_CHECKING:
    from dr.lab.emulator import Emulator

logger = logging.getLogger(__name__)

# CloudWatch evaluates alarms as their periods close (10 s at the finest); the lab looks
# twice as often, so a period's datum is judged even when a tick runs late.
EVALUATION_TICK_S = 10.0 / 2

COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


def _as_utc(stamp: datetime) -> datetime:
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def reduce(statistic: str, data: list[Any]) -> float | None:
    """One period's value from its datums (single values and statistic sets alike)."""
    count = total = 0.0
    low, high = math.inf, -math.inf
    for datum in data:
        if isinstance(datum, MetricAggregatedDatum):
            count += datum.sample_count
            total += datum.sum
            low, high = min(low, datum.min), max(high, datum.max)
        elif isinstance(datum, MetricDatum):
            count += 1
            total += datum.value
            low, high = min(low, datum.value), max(high, datum.value)
    if count == 0:
        return None
    return {
        "Average": total / count, "Sum": total, "Minimum": low, "Maximum": high,
        "SampleCount": count,
    }.get(statistic, total / count)


class AlarmEvaluator(PeriodicLoop):
    def __init__(self, emulator: "Emulator") -> None:
        self.emulator = emulator
        self._lock = threading.Lock()
        super().__init__("cloudwatch-alarms",
                         lambda: max(0.05, emulator.timing.scaled(EVALUATION_TICK_S)),
                         self.tick, emulator.stopping)

    def tick(self) -> None:
        backends = cloudwatch_backends[DEFAULT_ACCOUNT_ID]
        regions = self.emulator.config.regions if self.emulator.config else ()
        for region in sorted(set(regions) | {"us-east-1"}):
            if self.emulator.faults.is_down(region):
                continue
            backend = backends[region]
            alarms = [a for a in list(backend.alarms.values())
                      if a.metric_name and not a.metric_data_queries and not a.rule]
            if not alarms:
                continue
            oldest = _now() - timedelta(seconds=max(
                self.emulator.timing.scaled(float(a.period)) * int(a.evaluation_periods)
                for a in alarms))
            recent = _recent_by_metric(backend, oldest)
            for alarm in alarms:
                self.evaluate(alarm, recent.get((alarm.namespace, alarm.metric_name), []))

    def evaluate(self, alarm: Alarm, data: list[Any]) -> str:
        """Judge ``alarm`` on ``data`` (its metric's recent datums) and act on a change."""
        new_state, reason = self.judge(alarm, data)
        with self._lock:
            if new_state is None or new_state == alarm.state_value:
                return alarm.state_value
            old_state = alarm.state_value
            data = json.dumps({"version": "1.0", "evaluatedAt": _now().isoformat()})
            alarm.update_state(reason, data, new_state)
            record(alarm, "StateUpdate",
                   f"Alarm updated from {old_state} to {new_state}",
                   {"oldState": {"stateValue": old_state}, "newState": {
                       "stateValue": new_state, "stateReason": reason}})
        logger.info("alarm %s in %s: %s -> %s (%s)", alarm.name, alarm.region_name,
                    old_state, new_state, reason)
        self._act(alarm, old_state, new_state, reason)
        return new_state

    def judge(self, alarm: Alarm, data: list[Any]) -> tuple[str | None, str]:
        """(new state, reason); None as state keeps the current one (treat missing: ignore)."""
        period_s = self.emulator.timing.scaled(float(alarm.period))
        periods = int(alarm.evaluation_periods)
        needed = int(alarm.datapoints_to_alarm or periods)
        now = _now()
        start = now - timedelta(seconds=period_s * periods)
        matching = [d for d in data if self._matches(alarm, d)
                    and start <= _as_utc(d.timestamp) <= now]
        buckets: list[list[Any]] = [[] for _ in range(periods)]
        for datum in matching:
            age = (now - _as_utc(datum.timestamp)).total_seconds()
            buckets[min(periods - 1, int(age // period_s))].append(datum)
        values = [reduce(alarm.statistic or "Average", bucket) for bucket in buckets]
        compare = COMPARE.get(alarm.comparison_operator, COMPARE["GreaterThanThreshold"])
        treat = alarm.treat_missing_data or "missing"
        present = [v for v in values if v is not None]
        if not present and treat in ("missing", "ignore"):
            if treat == "ignore":
                return None, ""
            return "INSUFFICIENT_DATA", (
                f"Insufficient Data: {periods} datapoints were unknown.")
        breaching = sum(compare(v, alarm.threshold) for v in present)
        if treat == "breaching":
            breaching += len(values) - len(present)
        shown = ", ".join(f"{v:g}" for v in present[:5]) or "none"
        if breaching >= needed:
            return "ALARM", (f"Threshold Crossed: {breaching} out of the last {periods}"
                             f" datapoints [{shown}] were {alarm.comparison_operator}"
                             f" the threshold ({alarm.threshold:g}).")
        return "OK", (f"Threshold Crossed: {breaching} out of the last {periods} datapoints"
                      f" [{shown}] breached the threshold ({alarm.threshold:g}); fewer than"
                      f" {needed}.")

    def _matches(self, alarm: Alarm, datum: Any) -> bool:
        if datum.namespace != alarm.namespace or datum.name != alarm.metric_name:
            return False
        if alarm.unit and datum.unit and datum.unit != alarm.unit:
            return False
        wanted = {(d.name, d.value) for d in alarm.dimensions}
        return wanted == {(d.name, d.value) for d in datum.dimensions}

    def _act(self, alarm: Alarm, old_state: str, new_state: str, reason: str) -> None:
        if not alarm.actions_enabled:
            return
        actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions,
                   "INSUFFICIENT_DATA": alarm.insufficient_data_actions}[new_state]
        for arn in actions or []:
            parts = arn.split(":")
            if len(parts) < 6 or parts[2] != "sns":
                continue
            if parts[3] != alarm.region_name:
                record(alarm, "Action", f"Failed to execute action {arn}", {
                    "actionState": "Failed",
                    "error": "An alarm's SNS action must be in the alarm's Region."})
                continue
            message = notification(alarm, old_state, new_state, reason)
            subject = f'{new_state}: "{alarm.name}" in {alarm.region_name}'[:99]
            try:
                sns_backends[DEFAULT_ACCOUNT_ID][parts[3]].publish(
                    json.dumps(message), arn=arn, subject=subject)
            except Exception as err:  # a missing topic is the alarm's problem, not ours
                record(alarm, "Action", f"Failed to execute action {arn}",
                       {"actionState": "Failed", "error": str(err)})
                continue
            record(alarm, "Action", f"Successfully executed action {arn}",
                   {"actionState": "Succeeded"})


def _recent_by_metric(backend: Any, oldest: datetime) -> dict[tuple[str, str], list[Any]]:
    """The backend's datums since ``oldest``, grouped by (namespace, metric name): one pass
    per tick for all alarms of the Region."""
    grouped: dict[tuple[str, str], list[Any]] = {}
    for datum in list(backend.metric_data):
        if _as_utc(datum.timestamp) >= oldest:
            grouped.setdefault((datum.namespace, datum.name), []).append(datum)
    return grouped


def _now() -> datetime:
    return datetime.now(timezone.utc)


def record(alarm: Alarm, kind: str, summary: str, data: dict[str, Any]) -> None:
    """Append to the alarm's history as DescribeAlarmHistory shows it."""
    history = alarm.__dict__.setdefault("lab_history", [])
    history.append({
        "AlarmName": alarm.name, "AlarmType": "MetricAlarm", "Timestamp": _now(),
        "HistoryItemType": kind, "HistorySummary": summary,
        "HistoryData": json.dumps({"version": "1.0", **data}),
    })


def notification(alarm: Alarm, old_state: str, new_state: str, reason: str) -> dict[str, Any]:
    """The JSON body CloudWatch publishes to SNS for an alarm's state change."""
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": DEFAULT_ACCOUNT_ID,
        "AlarmConfigurationUpdatedTimestamp": str(alarm.configuration_updated_timestamp),
        "NewStateValue": new_state,
        "NewStateReason": reason,
        "StateChangeTime": _now().isoformat(),
        "Region": alarm.region_name,
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "Trigger": {
            "MetricName": alarm.metric_name, "Namespace": alarm.namespace,
            "StatisticType": "Statistic", "Statistic": (alarm.statistic or "").upper(),
            "Dimensions": [{"name": d.name, "value": d.value} for d in alarm.dimensions],
            "Period": alarm.period, "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm,
            "ComparisonOperator": alarm.comparison_operator, "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data or "missing",
        },
    }
