"""The lab's own API under ``/_shopsmart/``: faults, the DNS data-plane view, reset.

It is served by the emulator on the emulator's port but never faulted: it stands for what
keeps working in AWS during a regional outage (Route 53 health checking and DNS answers) and
for the lab operator's hands.

    GET    /_shopsmart/status            time scale, faults in force, regions down
    GET    /_shopsmart/faults            faults in force
    POST   /_shopsmart/faults            {"region", "kind", "rate"?, "ms"?}
    DELETE /_shopsmart/faults[?region=R] clear all faults, or one region's
    GET    /_shopsmart/dns-view          zones, records, health-check states, names
    POST   /_shopsmart/reset             clear faults and every emulated resource
    POST   /_shopsmart/seed/hosted-zone  {"name", "id"}: a zone that predates the stacks
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable

from werkzeug.wrappers import Request, Response

from dr.lab.emulator.route53.zones import seed_hosted_zone
from dr.lab.faults import Fault, FaultError

if TYPE_CHECKING:
    from dr.lab.emulator import Emulator

logger = logging.getLogger(__name__)
PREFIX = "/_shopsmart/"


class ControlApi:
    def __init__(self, emulator: "Emulator") -> None:
        self.emulator = emulator
        self._routes: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("GET", "status"): self.status,
            ("GET", "faults"): self.faults,
            ("POST", "faults"): self.set_fault,
            ("DELETE", "faults"): self.clear_faults,
            ("GET", "dns-view"): self.dns_view,
            ("POST", "reset"): self.reset,
            ("POST", "seed/hosted-zone"): self.seed_hosted_zone,
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        name = request.path[len(PREFIX):].strip("/")
        route = self._routes.get((request.method, name))
        if route is None:
            response = _json({"error": f"no route {request.method} {request.path}"}, 404)
        else:
            try:
                response = _json(route(request))
            except (FaultError, ValueError, KeyError, TypeError) as err:
                response = _json({"error": str(err)}, 400)
        return response(environ, start_response)

    def status(self, request: Request) -> dict[str, Any]:
        faults = self.emulator.faults.active()
        return {
            "time_scale": self.emulator.timing.time_scale,
            "faults": [f.to_json() for f in faults],
            "regions_down": sorted({f.region for f in faults if f.kind == "outage"}),
        }

    def faults(self, request: Request) -> dict[str, Any]:
        return {"faults": [f.to_json() for f in self.emulator.faults.active()]}

    def set_fault(self, request: Request) -> dict[str, Any]:
        body = request.get_json(force=True) or {}
        fault = Fault(
            region=str(body["region"]), kind=str(body["kind"]),
            rate=float(body.get("rate", 1.0)), ms=int(body.get("ms", 0)),
            seconds=float(body.get("seconds", 0.0)),
        )
        if fault.kind == "replication-pause":
            self._hold_replication(fault)
        was_down = self.emulator.faults.is_down(fault.region)
        self.emulator.faults.set(fault)
        logger.info("fault set: %s", fault)
        if fault.kind == "outage" and not was_down:
            self.emulator.region_down(fault.region)
        return {"set": fault.to_json()}

    def clear_faults(self, request: Request) -> dict[str, Any]:
        region = request.args.get("region") or None
        cleared = self.emulator.faults.clear(region)
        for fault in cleared:
            if fault.kind == "outage":
                self.emulator.region_up(fault.region)
            release = getattr(self.emulator.dataplane, "release_replication", None)
            if fault.kind == "replication-pause" and release is not None:
                release(fault.region)
        logger.info("faults cleared: %s", cleared)
        return {"cleared": [f.to_json() for f in cleared]}

    def _hold_replication(self, fault: Fault) -> None:
        """Held by the data plane (added with it): the pause ends by itself after
        ``fault.seconds``; the fault stays listed until cleared."""
        hold = getattr(self.emulator.dataplane, "hold_replication", None)
        if hold is None:
            raise FaultError("a replication-pause needs the lab's data plane (PostgreSQL)")
        try:
            hold(fault.region, fault.seconds)
        except RuntimeError as err:  # e.g. the region's database is a writer, or is down
            raise FaultError(str(err)) from None

    def dns_view(self, request: Request) -> dict[str, Any]:
        return self.emulator.checkers.dns_view()

    def reset(self, request: Request) -> dict[str, Any]:
        self.clear_faults(request)
        self.emulator.reset()
        return {"reset": True}

    def seed_hosted_zone(self, request: Request) -> dict[str, Any]:
        body = request.get_json(force=True) or {}
        return seed_hosted_zone(str(body["name"]), str(body["id"]))


def _json(document: Any, status: int = 200) -> Response:
    return Response(json.dumps(document, default=str), status=status,
                    mimetype="application/json")
