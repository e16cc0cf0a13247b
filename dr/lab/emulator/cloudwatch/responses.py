"""Protocol side of the CloudWatch additions: DescribeAlarmHistory, and new alarms starting
in INSUFFICIENT_DATA as they do in AWS (moto starts them in OK)."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from dr.lab.emulator.cloudwatch.alarms import record

_MOTO_PUT_ALARM = CloudWatchResponse.put_metric_alarm


def install() -> None:
    def put_metric_alarm(self: CloudWatchResponse) -> ActionResult:
        name = self._get_param("AlarmName")
        existed = name in self.cloudwatch_backend.alarms
        result = _MOTO_PUT_ALARM(self)
        alarm = self.cloudwatch_backend.alarms[name]
        if not existed:
            alarm.state_value = "INSUFFICIENT_DATA"
            alarm.state_reason = "Unchecked: Initial alarm creation"
        record(alarm, "ConfigurationUpdate",
               f"Alarm \"{name}\" {'updated' if existed else 'created'}", {"type": "Update"})
        return result

    def describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        start, end = self._get_param("StartDate"), self._get_param("EndDate")
        limit = int(self._get_param("MaxRecords") or 100)
        newest_first = (self._get_param("ScanBy") or "TimestampDescending") != "TimestampAscending"
        items: list[dict[str, Any]] = []
        for alarm in self.cloudwatch_backend.alarms.values():
            if name and alarm.name != name:
                continue
            items += [i for i in alarm.__dict__.get("lab_history", [])
                      if (not kind or i["HistoryItemType"] == kind)
                      and (not start or i["Timestamp"] >= _utc(start))
                      and (not end or i["Timestamp"] <= _utc(end))]
        items.sort(key=lambda i: i["Timestamp"], reverse=newest_first)
        return ActionResult({"AlarmHistoryItems": items[:limit]})

    CloudWatchResponse.put_metric_alarm = put_metric_alarm
    CloudWatchResponse.describe_alarm_history = describe_alarm_history


def _utc(stamp: Any) -> Any:
    return stamp if getattr(stamp, "tzinfo", None) else stamp.replace(tzinfo=timezone.utc)
