"""``invoke demo``: the main job on the local lab, end to end, with no AWS account.

A fresh lab, a simulated outage of the primary region, the wait until the failure is
visible, ``failover`` as an on-call engineer would run it, and the state afterwards. It works
on a scratch copy of the stack files, so the repository's own files keep their roles.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path

from invoke import Exit, task

from dr import failover as engine
from dr import status as region_status
from dr.lab import lab as lab_ops
from dr.lab import state as lab_state
from dr.lab.client import ControlApiError, ControlClient
from dr.lab.lab import LabStartError
from dr.lab.processes import LabPortTaken
from dr.settings import SettingsError, load_pair
from dr.signals import collect_evidence

PROJECT_FILES = ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml")
DETECTION_LIMIT_S = 120.0


def _scratch_project(root: Path) -> Path:
    scratch = root / ".demo"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(root / name, scratch / name)
    return scratch


def _wait_for_evidence(target, pair, lab_dir: str, *, healthy: bool) -> None:
    """Wait until no signal has failed (healthy) or until the evidence rule is met."""
    rule = pair.primary.evidence
    deadline = time.monotonic() + DETECTION_LIMIT_S
    while True:
        evidence = collect_evidence(target, pair, lab_dir=lab_dir)
        failed = [s.source for s in evidence.signals if s.verdict == "failed"]
        print(f"  … evidence: {len(failed)} of {len(evidence.signals)} signals failed"
              f" ({', '.join(failed) or 'none'}); {rule.required} needed", flush=True)
        if (not failed) if healthy else evidence.meets(rule):
            return
        if time.monotonic() > deadline:
            wanted = "settle to healthy" if healthy else "show the outage"
            raise Exit(f"demo: the lab's signals did not {wanted} within"
                       f" {DETECTION_LIMIT_S:.0f} s; see `invoke status`", 1)
        time.sleep(1.0)


@task(help={
    "time_scale": "factor on every emulated AWS duration (1.0 = AWS's own; default 0.1)",
    "keep": "leave the lab running afterwards (stop it with `invoke lab.down`)",
})
def demo(c, time_scale=0.1, keep=True):
    """Lab demo: primary region outage, evidence, failover, verification, record."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    root = lab_state.PROJECT_DIR
    lab_dir = str(lab_state.lab_dir(None))
    lab_ops.down(lab_dir)
    try:
        project = _scratch_project(root)
        config = lab_ops.from_invoke(c.config.get("lab", {}), lab_dir).with_overrides(
            project_dir=str(project), time_scale=float(time_scale))
        print(f"1. starting the two-region lab (time scale {float(time_scale)})")
        state = lab_ops.up(config).state
        target = state.target()
        pair = load_pair(project)
        failed, survivor = pair.primary.region, pair.secondary.region
        print("   waiting for a healthy steady state (capacity launched, alarms evaluated)")
        _wait_for_evidence(target, pair, lab_dir, healthy=True)
        print(region_status.render(region_status.read_status(target, pair)))

        print(f"2. simulating an outage of {failed}: its APIs, app and database go dark")
        ControlClient(state.control_url).set_fault(failed, "outage")
        failure_epoch = time.time()

        print("3. waiting until independent signals agree the primary region failed")
        _wait_for_evidence(target, pair, lab_dir, healthy=False)

        print(f"4. failing over to {survivor} (invoke failover --yes)")
        services, _ = engine.prepare(
            target, project, engine.FailoverOptions(planned=False, force=False,
                                                    accept_data_loss=False, apply=False),
            trigger={"by": "invoke demo", "via": "invoke demo"}, lab_dir=lab_dir)
        services.failure_epoch = failure_epoch
        result = engine.run_failover(
            services, on_progress=lambda step, msg: print(f"  … {step}: {msg}", flush=True))
    except (LabPortTaken, LabStartError, SettingsError, ControlApiError) as err:
        lab_ops.down(lab_dir)
        raise Exit(f"demo: {err}", 1) from None
    except KeyboardInterrupt:
        lab_ops.down(lab_dir)
        raise Exit("demo interrupted: the lab was stopped", 130) from None

    for path in result.record_paths:
        print(f"   incident record: {path}")
    if result.outcome.status != "complete":
        raise Exit(f"demo: failover ended {result.outcome.status} at"
                   f" {result.outcome.failed_step}: {result.outcome.error}", 1)

    print(f"5. after the failover ({project.name}/ holds the flipped stack files)")
    print(region_status.render(region_status.read_status(target, load_pair(project))))
    if keep:
        # Point at the demo's stack files: the repository's still say us-east-1 is primary,
        # and a plain `invoke status` would call the demo's failover drift.
        print(f"the lab is still running: `SHOPSMART_PROJECT_DIR={project} invoke status`,"
              " `invoke lab.env`, then `invoke lab.down`")
    else:
        lab_ops.down(lab_dir)
