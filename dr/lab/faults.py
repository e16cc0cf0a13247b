"""Injected faults: what a region's API endpoint does to the calls that reach it.

A request's region is read from its SigV4 credential scope (``Credential=AK/date/REGION/
service/aws4_request``), the same way AWS routes it. Route 53's API is signed for us-east-1,
so an outage of us-east-1 takes Route 53's control plane down with it; health checking and
DNS answers are the data plane and are served by the control API, which is never faulted.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping

KINDS = ("outage", "throttle", "errors", "latency", "replication-pause")
MAX_PAUSE_S = 3600.0
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


class FaultError(ValueError):
    """A fault that cannot be injected as asked."""


@dataclass(frozen=True)
class Fault:
    """One region's fault.

    kind: outage (connections reset), throttle (ThrottlingException), errors (HTTP 5xx),
    latency (each call waits ``ms`` more), replication-pause (the replica of ``region``
    receives no WAL for ``seconds``; the data plane resumes it by itself, see
    ``dr.lab.dataplane.plane.LabDataPlane.hold_replication``).
    rate: share of calls hit, 0 < rate <= 1 (outage and latency hit every call).
    """

    region: str
    kind: str
    rate: float = 1.0
    ms: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FaultError(f"unknown fault kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if not 0 < self.rate <= 1:
            raise FaultError(f"rate must be in (0, 1], found {self.rate}")
        if self.kind == "latency" and self.ms <= 0:
            raise FaultError("a latency fault needs ms > 0")
        if self.kind == "replication-pause" and not 0 < self.seconds <= MAX_PAUSE_S:
            raise FaultError(f"a replication-pause needs 0 < seconds <= {MAX_PAUSE_S:.0f}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def signing_scope(environ: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(region, service) from a request's SigV4 Authorization header; (None, None) unsigned."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        return None, None
    return match.group(1), match.group(2)


class FaultTable:
    """The faults in force, per region; switchable while calls are in flight.

    Several kinds can hold at once for a region (latency and throttle, say); setting a kind
    again replaces it.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], Fault] = {}
        self._random = random.Random(seed)

    def set(self, fault: Fault) -> None:
        with self._lock:
            self._faults[(fault.region, fault.kind)] = fault

    def clear(self, region: str | None = None) -> list[Fault]:
        with self._lock:
            gone = [f for key, f in self._faults.items() if region in (None, key[0])]
            for fault in gone:
                del self._faults[(fault.region, fault.kind)]
        return gone

    def active(self) -> list[Fault]:
        with self._lock:
            return sorted(self._faults.values(), key=lambda f: (f.region, f.kind))

    def is_down(self, region: str) -> bool:
        with self._lock:
            return (region, "outage") in self._faults

    def get(self, region: str, kind: str) -> Fault | None:
        with self._lock:
            return self._faults.get((region, kind))

    def hits(self, region: str, kind: str) -> bool:
        """True when this call is one of the share ``rate`` of calls the fault hits."""
        fault = self.get(region, kind)
        if fault is None:
            return False
        with self._lock:
            return self._random.random() < fault.rate

    def wait_latency(self, region: str, step_s: float = 0.05) -> bool:
        """Sleep the region's added latency; False when an outage began meanwhile, so a call
        that was waiting fails like the others instead of completing in a dead region."""
        fault = self.get(region, "latency")
        if fault is None:
            return not self.is_down(region)
        deadline = time.monotonic() + fault.ms / 1000.0
        while (left := deadline - time.monotonic()) > 0:
            if self.is_down(region):
                return False
            time.sleep(min(step_s, left))
        return not self.is_down(region)
