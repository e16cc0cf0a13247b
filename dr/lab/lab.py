"""Bringing the lab up and down: the emulator process, the topology, the data plane.

``up`` starts the emulator, deploys the topology from the stack files, starts the data
plane when one is configured, and only then writes a ready ``state.json``. Whatever fails
or is interrupted (Ctrl-C) on the way, everything it started is stopped again by PID.

Where the data plane plugs in
-----------------------------
``LabConfig.dataplane`` names a factory as ``"module:callable"`` (default:
``DEFAULT_DATAPLANE`` below; set it to the data plane's factory to wire it in). The factory
is called with the ``LabConfig`` and returns an object with the ``dr.lab.hooks.DataPlane``
methods plus:

- ``start() -> dict[str, int]``: start Postgres, the app stand-ins and the DNS server and
  return name -> PID of each process started (they must outlive the caller: start them in
  their own session). Called once by ``up``, after the topology is deployed.
- ``stop() -> None``: stop them. Called by ``down`` (which then also stops any PID left).

The factory is called twice: here for start/stop, and inside the emulator process for the
hooks, so it must be cheap and keep its state in the lab directory (``config.lab_dir``).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dr.lab import config as lab_config
from dr.lab import state as lab_state
from dr.lab.client import ControlApiError, ControlClient
from dr.lab.config import LabConfig
from dr.lab.emulator.__main__ import build_dataplane
from dr.lab.processes import require_free, stop_pid
from dr.lab.state import LabState, RegionLab
from dr.lab.topology import Deployment, deploy
from dr.settings import load_pair

logger = logging.getLogger(__name__)

# The real data plane (PostgreSQL pair, app stand-ins, DNS), wired in by the data-plane work.
DEFAULT_DATAPLANE: str | None = "dr.lab.dataplane:build"
START_TIMEOUT_S = 30.0
LOG_FILE = "emulator.log"


class LabStartError(RuntimeError):
    """The lab could not be brought up; nothing it started is left running."""


@dataclass(frozen=True)
class UpResult:
    state: LabState
    already_running: bool
    deployment: Deployment | None = None


def up(config: LabConfig) -> UpResult:
    running = _running(config.lab_dir)
    if running is not None:
        return UpResult(running, already_running=True)
    down(config.lab_dir)  # a stale lab (crashed processes) leaves nothing behind
    if config.dataplane is None and DEFAULT_DATAPLANE:
        config = replace(config, dataplane=DEFAULT_DATAPLANE)
    pair = load_pair(config.project_dir)
    _require_ports(config)
    lab_config.write(config)

    started: dict[str, int] = {}
    dataplane: Any = None
    began = time.time()
    try:
        emulator = _start_emulator(config)
        started["emulator"] = emulator.pid
        state = _state(config, started, began, ready=False)
        lab_state.save(state)
        control = ControlClient(config.control_url)
        _wait_ready(emulator, control, Path(config.lab_dir) / LOG_FILE)
        deployment = deploy(pair, config, state.target(), control)
        dataplane = build_dataplane(config.dataplane, config)
        if dataplane is not None:
            started.update(dataplane.start())
        state = _state(config, started, began, ready=True)
        lab_state.save(state)
    except BaseException:
        logger.warning("lab.up did not finish; stopping what it started: %s", started)
        if dataplane is not None:
            _quietly(dataplane.stop)
        for pid in started.values():
            stop_pid(pid)
        lab_state.remove(config.lab_dir)
        raise
    logger.info("lab up in %.1f s at %s", time.time() - began, config.endpoint_url)
    return UpResult(state, already_running=False, deployment=deployment)


def down(lab_dir: str | Path | None = None) -> list[str]:
    """Stop every process of the lab in ``lab_dir`` by PID; returns the names stopped."""
    directory = lab_state.lab_dir(lab_dir)
    state = lab_state.read(directory)
    config = lab_config.read(directory)
    stopped: list[str] = []
    if state is None:
        return stopped
    if config is not None and config.dataplane:
        dataplane = _quietly(build_dataplane, config.dataplane, config)
        if dataplane is not None:
            _quietly(dataplane.stop)
    for name, pid in sorted(state.pids.items(), key=lambda item: item[0] == "emulator"):
        if stop_pid(pid):
            stopped.append(name)
    lab_state.remove(directory)
    (directory / lab_config.CONFIG_FILE).unlink(missing_ok=True)
    logger.info("lab down in %s: stopped %s", directory, ", ".join(stopped) or "nothing")
    return stopped


def status(lab_dir: str | Path | None = None) -> dict[str, Any]:
    """Processes, ports, faults and each region's database role, for ``invoke lab.status``."""
    state = lab_state.read(lab_dir)
    if state is None:
        return {"running": False, "lab_dir": str(lab_state.lab_dir(lab_dir))}
    processes = {name: {"pid": pid, "alive": lab_state.pid_alive(pid)}
                 for name, pid in state.pids.items()}
    report: dict[str, Any] = {"running": processes.get("emulator", {}).get("alive", False),
                              "ready": state.ready, "lab_dir": state.lab_dir,
                              "endpoint_url": state.endpoint_url, "control_url": state.control_url,
                              "time_scale": state.time_scale, "dns": state.dns_address,
                              "processes": processes, "regions": {}}
    try:
        report["faults"] = ControlClient(state.control_url, timeout_s=3).faults()
    except ControlApiError as err:
        report["faults"] = f"unknown ({err})"
    roles = _database_roles(state)
    for region in state.regions:
        report["regions"][region.region] = {
            "role": roles.get(region.region, "unknown"), "app": region.app_address,
            "postgres_port": region.postgres_port,
        }
    return report


def env(state: LabState, region: str) -> list[str]:
    """Shell exports that point boto3 and the AWS CLI at the lab."""
    from dr.aws import LAB_ACCESS_KEY, LAB_SECRET_KEY

    return [
        f"export AWS_ENDPOINT_URL={state.endpoint_url}",
        f"export AWS_ACCESS_KEY_ID={LAB_ACCESS_KEY}",
        f"export AWS_SECRET_ACCESS_KEY={LAB_SECRET_KEY}",
        f"export AWS_DEFAULT_REGION={region}",
        "export AWS_EC2_METADATA_DISABLED=true",
        f"export {lab_state.LAB_DIR_ENV}={state.lab_dir}",
        # The data plane's DNS server for the hosted zone (dig -p PORT @127.0.0.1, dnspython).
        f"export SHOPSMART_LAB_DNS={state.dns_address}",
    ]


# --- steps ---------------------------------------------------------------------------------

def _running(lab_dir: str) -> LabState | None:
    try:
        return lab_state.load(lab_dir)
    except lab_state.LabNotRunning:
        return None


def _require_ports(config: LabConfig) -> None:
    require_free("emulator", config.host, config.emulator_port)
    if config.dataplane:
        require_free("DNS server", config.host, config.dns_port, udp=True)
        for region, addresses in config.regions.items():
            require_free(f"app stand-in of {region}", addresses.app_host, addresses.app_port)
            require_free(f"PostgreSQL of {region}", config.host, addresses.postgres_port)


def _start_emulator(config: LabConfig) -> subprocess.Popen:
    log = open(Path(config.lab_dir) / LOG_FILE, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "dr.lab.emulator", "--host", config.host,
             "--port", str(config.emulator_port), "--lab-dir", config.lab_dir,
             "--time-scale", str(config.time_scale)],
            cwd=config.project_dir, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    finally:
        log.close()


def _wait_ready(process: subprocess.Popen, control: ControlClient, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise LabStartError(f"the emulator exited with code {process.returncode}:"
                                f" {' | '.join(tail)} (full log: {log})")
        try:
            control.status()
            return
        except ControlApiError:
            time.sleep(0.1)
    raise LabStartError(f"the emulator did not answer within {START_TIMEOUT_S:.0f} s"
                        f" (log: {log})")


def _state(config: LabConfig, pids: dict[str, int], began: float, ready: bool) -> LabState:
    regions = tuple(
        RegionLab(region=name, app_host=a.app_host, app_port=a.app_port,
                  postgres_port=a.postgres_port,
                  postgres_datadir=str(Path(config.lab_dir) / "postgres" / name))
        for name, a in sorted(config.regions.items())
    )
    return LabState(lab_dir=config.lab_dir, endpoint_url=config.endpoint_url,
                    control_url=config.control_url, time_scale=config.time_scale,
                    dns_host=config.host, dns_port=config.dns_port, regions=regions,
                    pids=dict(pids), started_at=began, ready=ready)


def _database_roles(state: LabState) -> dict[str, str]:
    from dr import naming
    from dr.aws import is_unreachable

    for region in state.regions:
        rds = state.target(max_attempts=1, read_timeout_s=3).client("rds", region.region)
        try:
            found = rds.describe_global_clusters(
                GlobalClusterIdentifier=naming.global_cluster_id())["GlobalClusters"]
        except Exception as err:  # a faulted region: ask the next one
            if is_unreachable(err) or getattr(err, "response", None):
                continue
            raise
        return {member["DBClusterArn"].split(":")[3]:
                ("writer" if member["IsWriter"] else "secondary")
                for g in found for member in g["GlobalClusterMembers"]}
    return {}


def _quietly(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except Exception:
        logger.exception("ignored during cleanup: %s", getattr(call, "__name__", call))
        return None


def from_invoke(section: Any, lab_dir: str | None = None, **overrides: Any) -> LabConfig:
    """The LabConfig for a task: invoke.yaml's ``lab:`` section, then flags."""
    directory = str(lab_state.lab_dir(lab_dir))
    config = lab_config.from_invoke(section, directory, str(lab_state.PROJECT_DIR))
    return config.with_overrides(**overrides)
