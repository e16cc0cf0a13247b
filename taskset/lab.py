"""``invoke lab.*``: the local two-region lab (up, down, status, env, fault, clear)."""

from __future__ import annotations

import json

from invoke import Collection, Exit, task

from dr.lab import lab as lab_ops
from dr.lab import state as lab_state
from dr.lab.client import ControlApiError, ControlClient
from dr.lab.dataplane.postgres import PostgresCommandFailed, PostgresNotInstalled
from dr.lab.dataplane.processes import ProcessDidNotStart
from dr.lab.faults import KINDS, Fault, FaultError
from dr.lab.lab import LabStartError
from dr.lab.processes import LabPortTaken
from dr.settings import SettingsError

_TARGET = "lab or aws; lab tasks only act on the lab (default: shopsmart.target)"
_LAB_DIR = "lab directory (default: $SHOPSMART_LAB_DIR or <project>/.lab)"


def _lab_only(c, target: str | None) -> None:
    chosen = target or c.config.get("shopsmart", {}).get("target", "lab")
    if chosen != "lab":
        raise Exit(f"lab tasks act on the local lab only; --target {chosen} makes no sense"
                   " here", 2)


def _running(lab_dir: str | None) -> lab_state.LabState:
    try:
        return lab_state.load(lab_dir)
    except lab_state.LabNotRunning as err:
        raise Exit(str(err), 1) from None


@task(help={"target": _TARGET, "lab_dir": _LAB_DIR, "port": "emulator port",
            "dns_port": "DNS server port", "time_scale": "factor on every AWS duration"})
def up(c, target=None, lab_dir=None, port=None, dns_port=None, time_scale=None):
    """Start the lab: emulator, topology from the stack files, data plane."""
    _lab_only(c, target)
    config = lab_ops.from_invoke(
        c.config.get("lab", {}), lab_dir, emulator_port=int(port) if port else None,
        dns_port=int(dns_port) if dns_port else None,
        time_scale=float(time_scale) if time_scale else None)
    try:
        result = lab_ops.up(config)
    except (LabPortTaken, LabStartError, SettingsError, ProcessDidNotStart,
            PostgresCommandFailed, PostgresNotInstalled) as err:
        raise Exit(f"lab.up failed: {err}; nothing it started is left running", 1) from None
    except KeyboardInterrupt:
        raise Exit("lab.up interrupted: everything it had started was stopped", 130) from None
    state = result.state
    if result.already_running:
        print(f"the lab is already running in {state.lab_dir} at {state.endpoint_url}")
        return
    print(f"lab up at {state.endpoint_url} (time scale {state.time_scale}); lab dir"
          f" {state.lab_dir}")
    print("  run `invoke lab.env` for shell exports, `invoke lab.down` to stop it")


@task(help={"target": _TARGET, "lab_dir": _LAB_DIR})
def down(c, target=None, lab_dir=None):
    """Stop every lab process (by PID) and remove the lab's state."""
    _lab_only(c, target)
    stopped = lab_ops.down(lab_dir)
    print(f"lab down: stopped {', '.join(stopped)}" if stopped else "the lab was not running")


@task(help={"target": _TARGET, "lab_dir": _LAB_DIR, "json": "print JSON"})
def status(c, target=None, lab_dir=None, json_=False):
    """Show each region, process, port and role of the lab."""
    _lab_only(c, target)
    report = lab_ops.status(lab_dir)
    if json_:
        print(json.dumps(report, indent=2))
        return
    if not report["running"]:
        print(f"the lab is not running in {report['lab_dir']}")
        return
    print(f"lab at {report['endpoint_url']} (time scale {report['time_scale']}),"
          f" DNS {report['dns']}, dir {report['lab_dir']}")
    for name, process in report["processes"].items():
        print(f"  process {name:<20} pid {process['pid']:<8}"
              f" {'running' if process['alive'] else 'GONE'}")
    for region, info in report["regions"].items():
        print(f"  {region:<12} database {info['role']:<10} app {info['app']}"
              f"  postgres :{info['postgres_port']}")
    print(f"  faults: {report['faults'] or 'none'}")


@task(help={"target": _TARGET, "lab_dir": _LAB_DIR, "region": "default region to export"})
def env(c, target=None, lab_dir=None, region="us-east-1"):
    """Print shell exports so boto3 and the AWS CLI talk to the lab."""
    _lab_only(c, target)
    print("\n".join(lab_ops.env(_running(lab_dir), region)))


@task(help={"target": _TARGET, "lab_dir": _LAB_DIR, "region": "region to fault",
            "kind": f"one of {', '.join(KINDS)}", "rate": "share of calls hit (0-1]",
            "ms": "added latency in milliseconds (kind latency)",
            "seconds": "how long replication into the region's replica is held"
                       " (kind replication-pause)"})
def fault(c, region, kind, target=None, lab_dir=None, rate=1.0, ms=0, seconds=0.0):
    """Inject a fault into a region's API endpoint (works while a run is in progress)."""
    _lab_only(c, target)
    state = _running(lab_dir)
    try:
        Fault(region, kind, float(rate), int(ms), float(seconds))
        ControlClient(state.control_url).set_fault(region, kind, float(rate), int(ms),
                                                   float(seconds))
    except (FaultError, ControlApiError) as err:
        raise Exit(f"lab.fault failed: {err}", 1) from None
    print(f"fault set: {region} {kind}" + (f" rate {rate}" if kind in ("throttle", "errors")
                                            else "") + (f" {ms} ms" if kind == "latency" else "")
          + (f" for {seconds} s" if kind == "replication-pause" else ""))


@task(help={"target": _TARGET, "lab_dir": _LAB_DIR, "region": "only this region's faults"})
def clear(c, target=None, lab_dir=None, region=None):
    """Clear injected faults (all, or one region's)."""
    _lab_only(c, target)
    state = _running(lab_dir)
    try:
        cleared = ControlClient(state.control_url).clear(region)
    except ControlApiError as err:
        raise Exit(f"lab.clear failed: {err}", 1) from None
    shown = ", ".join(f"{f['region']} {f['kind']}" for f in cleared)
    print(f"cleared: {shown}" if cleared else "no fault was set")


ns = Collection("lab", up, down, status, env, fault, clear)
