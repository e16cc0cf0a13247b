"""The Route 53 part of the lab's moto extension (checkers: semantics; responses: protocol)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dr.lab.emulator.route53.checkers import HealthCheckers
from dr.lab.emulator.route53.responses import install as _install_responses

if TYPE_CHECKING:
    from dr.lab.emulator import Emulator

__all__ = ["HealthCheckers", "install"]


def install(emulator: "Emulator") -> None:
    _install_responses(emulator.checkers)
