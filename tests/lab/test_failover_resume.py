"""`invoke failover` as separate processes: killed with SIGKILL at every step and run again,
and started twice at the same moment. Exactly one promotion happens either way, and the
incident record tells the whole story."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from dr.journal import STEP_STARTED
from test_failover_support import (  # noqa: F401 - fixtures
    EAST, UNPLANNED_STEPS, WEST, global_members, project, run_task, start_task, wait_for_evidence,
    wait_for_lag, writer_region,
)

pytestmark = pytest.mark.lab

FLAGS = ("--yes",)


def promotions_accepted(lab, since: int) -> int:
    """How many unplanned failovers the emulator accepted after byte ``since`` of its log."""
    log = Path(lab.lab_dir) / "emulator.log"
    return log.read_bytes()[since:].decode(errors="replace").count(
        "unplanned failover of shopsmart-global")


def log_size(lab) -> int:
    return (Path(lab.lab_dir) / "emulator.log").stat().st_size


def started_steps(project, run_id: str) -> list[str]:
    return [r["step"] for r in project.journal(run_id) if r["kind"] == STEP_STARTED]


def starts_of(project, step: str) -> int:
    return sum(started_steps(project, run_id).count(step) for run_id in project.runs())


def kill_when_started(lab, project, step: str, timeout_s: float = 90) -> bool:
    """Start the task and SIGKILL it as soon as its journal shows ``step`` started anew;
    False when the task ended before that (nothing was killed)."""
    before = starts_of(project, step)
    process = start_task(lab, project, *FLAGS)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if starts_of(project, step) > before:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                return True
            if process.poll() is not None:
                return False
            time.sleep(0.005)
        raise AssertionError(f"{step} did not start within {timeout_s} s")
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.fixture
def outage(fresh_lab, lab_control):
    lab_control.set_fault(EAST, "outage")
    wait_for_evidence(fresh_lab)
    wait_for_lag(fresh_lab)
    return fresh_lab


def test_killed_at_every_step_and_run_again_it_promotes_once_and_records_everything(
        outage, project):
    since = log_size(outage)

    killed_at = [step for step in UNPLANNED_STEPS if kill_when_started(outage, project, step)]
    done = run_task(outage, project, *FLAGS)

    assert done.returncode == 0, done.stderr
    assert killed_at == UNPLANNED_STEPS
    assert len(project.runs()) == 1
    (run_id,) = project.runs()
    assert promotions_accepted(outage, since) == 1
    assert writer_region(outage) == WEST
    assert global_members(outage) == {"shopsmart-db-us-east-1": False,
                                      "shopsmart-db-us-west-2": True}
    record = project.record(run_id)
    assert record["status"] == "complete"
    assert [entry["step"] for entry in record["timeline"]] == UNPLANNED_STEPS
    assert {entry["status"] for entry in record["timeline"]} <= {"completed", "reconciled"}
    resumes = [i for i in record["interruptions"] if i["kind"] == "run-resumed"]
    assert len(resumes) == len(UNPLANNED_STEPS)


def test_two_failovers_started_at_the_same_moment_run_exactly_once(outage, project):
    since = log_size(outage)

    first, second = start_task(outage, project, *FLAGS), start_task(outage, project, *FLAGS)
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    codes = [first.returncode, second.returncode]

    assert sorted(codes) == [0, 1], outputs
    loser_err = outputs[codes.index(1)][1]
    assert "another failover holds the DR lease:" in loser_err
    assert "(cli), run failover-" in loser_err
    assert "nothing was changed" in loser_err
    assert promotions_accepted(outage, since) == 1
    assert writer_region(outage) == WEST
    statuses = sorted(project.record(run_id)["status"] for run_id in project.runs())
    assert statuses == ["complete", "refused"]
