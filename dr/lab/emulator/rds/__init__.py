"""The RDS part of the lab's moto extension (models: semantics; responses: protocol)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dr.lab.emulator.rds.metrics import AuroraMetrics
from dr.lab.emulator.rds.models import GlobalDatabases
from dr.lab.emulator.rds.responses import install as _install_responses

if TYPE_CHECKING:
    from dr.lab.emulator import Emulator

__all__ = ["AuroraMetrics", "GlobalDatabases", "install"]


def install(emulator: "Emulator") -> None:
    _install_responses(emulator.databases)
