"""The lab's control plane: moto's server app (one process, all regions) wrapped by ours.

Each request goes, in order, through: the control API (``/_shopsmart/``, never faulted),
the fault table (by the region of the request's SigV4 scope), the extension's actions that
moto lacks or gets wrong (global-cluster failover, health-check status), and finally moto.
Background loops (health checkers, alarm evaluation, Aurora and group metrics) run in this
process because they read and change moto's in-memory state.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from dr.lab.config import LabConfig
from dr.lab.emulator import autoscaling, cloudwatch, control, rds, route53
from dr.lab.emulator.names import NameTable
from dr.lab.faults import FaultTable, signing_scope
from dr.lab.hooks import DataPlane, NullDataPlane
from dr.lab.protocol import error_reply
from dr.lab.timing import Timing

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]


class Emulator:
    """The WSGI application of the emulator process.

    config: the lab's addresses (None: a bare emulator with no app stand-ins).
    dataplane: called at promotions, fences, rebuilds and region outages.
    """

    def __init__(self, timing: Timing, config: LabConfig | None = None,
                 dataplane: DataPlane | None = None, seed: int | None = None) -> None:
        self.timing = timing
        self.config = config
        self.dataplane: DataPlane = dataplane or NullDataPlane()
        self.faults = FaultTable(seed)
        self.stopping = threading.Event()
        self.names = NameTable(config)
        self.databases = rds.GlobalDatabases(self)
        self.alarms = cloudwatch.AlarmEvaluator(self)
        self.checkers = route53.HealthCheckers(self)
        self.aurora_metrics = rds.AuroraMetrics(self)
        self.group_metrics = autoscaling.GroupMetrics(self)
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._control = control.ControlApi(self)
        rds.install(self)
        route53.install(self)
        cloudwatch.install()
        autoscaling.install(self)

    # --- lifecycle ------------------------------------------------------------------------

    def start_background(self) -> None:
        for loop in self._loops():
            loop.start()

    def _loops(self) -> tuple:
        return (self.checkers, self.alarms, self.aurora_metrics, self.group_metrics)

    def stop(self) -> None:
        self.stopping.set()
        for loop in self._loops():
            loop.join(timeout=5)

    def reset(self) -> None:
        """Forget every emulated resource and the extension's state (faults are cleared by
        the caller first, so Regions come back up through ``region_up``)."""
        from moto.moto_api._internal.models import moto_api_backend

        self.databases.reset()  # first: no promotion or rebuild may run during the rest
        moto_api_backend.reset()
        self.checkers.reset()
        # The data plane goes back to lab.up's roles too (writer in the primary stack's
        # region, empty orders table); NullDataPlane has nothing to reset.
        reset_dataplane = getattr(self.dataplane, "reset", None)
        if reset_dataplane is not None:
            reset_dataplane()

    # --- faults -----------------------------------------------------------------------------

    def region_down(self, region: str) -> None:
        logger.info("outage of %s begins", region)
        self.dataplane.region_down(region)

    def region_up(self, region: str) -> None:
        logger.info("outage of %s ends", region)
        self.dataplane.region_up(region)
        self.databases.region_recovered(region)

    # --- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(control.PREFIX):
            return self._control(environ, start_response)
        region, service = signing_scope(environ)
        if region is not None:
            refused = self._injected(environ, region, service, start_response)
            if refused is not None:
                return refused
        return self._moto(environ, start_response)

    def _injected(self, environ: dict[str, Any], region: str, service: str | None,
                  start_response: StartResponse) -> Iterable[bytes] | None:
        if not self.faults.wait_latency(region):
            _reset_connection(environ)
        if self.faults.hits(region, "throttle"):
            return _reply(start_response, error_reply(
                environ, service, 400, "ThrottlingException", "Rate exceeded"))
        if self.faults.hits(region, "errors"):
            return _reply(start_response, error_reply(
                environ, service, 503, "ServiceUnavailable",
                "The service is unavailable. Please try again shortly."))
        return None


def _reply(start_response: StartResponse, reply: tuple[str, list, bytes]) -> list[bytes]:
    status, headers, body = reply
    start_response(status, headers)
    return [body]


def _reset_connection(environ: dict[str, Any]) -> None:
    """Drop the client's connection with a TCP reset, as an unreachable endpoint does.

    The caller sees a connection error (botocore's ConnectionClosedError or
    EndpointConnectionError), never an HTTP status. Raising ConnectionResetError makes
    werkzeug abandon the request quietly.
    """
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionResetError("region outage injected by the lab")
