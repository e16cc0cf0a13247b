"""Tasks that look before anyone acts: `status`, `assess`, and the minor-incident `recover`."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from invoke import Exit, task

from dr import classify as classification
from dr import recover as recovery
from dr import status as region_status
from dr.aws import Target, TargetError
from dr.plan import PlanError
from dr.report import Trigger
from dr.settings import SettingsError, StackPair, load_pair

REPO_DIR = Path(__file__).resolve().parents[1]
# The same stack files `invoke failover` reads and flips (a copy in tests and drills).
PROJECT_DIR_ENV = "SHOPSMART_PROJECT_DIR"
TARGET_HELP = "lab (the local lab, default from invoke.yaml) or aws"


def _project_dir() -> Path:
    return Path(os.environ.get(PROJECT_DIR_ENV) or REPO_DIR)


def _setup(c, target: str | None) -> tuple[Target, StackPair, float]:
    """The target, the stack pair and the time scale of emulated durations (1 on AWS), or
    ``Exit`` saying what is wrong with them."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    kind = target or c.config.shopsmart.target
    try:
        pair = load_pair(_project_dir())
        if kind == "lab":
            from dr.lab import state

            lab = state.load()
            return lab.target(), pair, lab.time_scale
        return Target(kind), pair, 1.0
    except (SettingsError, TargetError) as err:
        raise Exit(f"error: {err}", code=2) from None


@task(help={"target": TARGET_HELP, "timeout": "seconds allowed to each API call"})
def status(c, target=None, timeout=5):
    """Show both regions side by side: roles, database, lag, alarms, DNS, capacity, drift."""
    where, pair, _ = _setup(c, target)
    print(region_status.render(region_status.read_status(where, pair, timeout_s=float(timeout))))


@task(help={
    "target": TARGET_HELP,
    "region": "the region under suspicion (default: the primary per the stack files)",
    "timeout": "seconds allowed to each evidence source",
    "json": "print the assessment as JSON",
})
def assess(c, target=None, region=None, timeout=5, json_=False):
    """Gather evidence, classify the incident (minor, partial, major) and say what to do."""
    where, pair, _ = _setup(c, target)
    result = classification.assess(where, pair, region=region, timeout_s=float(timeout))
    if json_:
        print(json.dumps(result.to_dict(), indent=2))
        return
    print(f"evidence about {result.region}, seen from {result.evidence.observer}:")
    for signal in result.evidence.signals:
        print(f"  {signal.verdict:<10} {signal.source:<22} {signal.detail}")
    rule = pair.by_region(result.region).evidence
    print(f"  {result.evidence.summary(rule)}")
    print(f"\nclassification: {result.level}")
    for component in result.components:
        print(f"  failed {component.kind}: {component.detail}")
    print("\nprocedure:")
    for number, step in enumerate(result.procedure, 1):
        print(f"  {number}. {step}")


@task(help={
    "component": "instance id, group or alarm name from `invoke assess` (default: the only"
                 " failing one)",
    "target": TARGET_HELP,
    "region": "the region of the component (default: the primary per the stack files)",
    "timeout": "seconds to wait for the component to recover",
    "records": "directory for the run's journal and incident record (default: incidents/)",
})
def recover(c, component=None, target=None, region=None, timeout=900, records=None):
    """Minor incident: replace the failed component, wait until its alarm is OK, record it."""
    where, pair, scale = _setup(c, target)
    stack = pair.by_region(region or pair.primary.region)
    plan = recovery.Recovery(
        where, stack, component, timeout_s=float(timeout), poll_s=max(0.2, 5.0 * scale),
        replace_wait_s=stack.dns.health_check_interval_s * 3.0 * scale)
    result = recovery.recover(
        plan, incidents_dir=Path(records) if records else _project_dir() / "incidents",
        trigger=Trigger.cli(f"invoke recover --component {component or '(the failing one)'}")
        .to_dict(),
        on_progress=lambda step, message: print(f"  {step}: {message}", flush=True))
    try:
        result.raise_for_failure()
    except (recovery.RecoverError, PlanError) as err:
        raise Exit(f"error: {err}\nincident record: {result.paths[1]}", code=1) from None
    done = result.outcome
    print(f"recovered {result.component.get('name')}:"
          f" {(done.result_of('replace-component') or {}).get('action')}")
    print(f"incident record: {result.paths[1]}")


TASKS = (status, assess, recover)
