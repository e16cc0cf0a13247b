"""The CloudWatch part of the lab's moto extension (alarms: semantics; responses: protocol)."""

from __future__ import annotations

from dr.lab.emulator.cloudwatch.alarms import AlarmEvaluator
from dr.lab.emulator.cloudwatch.responses import install

__all__ = ["AlarmEvaluator", "install"]
