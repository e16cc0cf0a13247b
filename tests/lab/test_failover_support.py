"""What the failover tests share: a copy of the stack files, running the engine or the task,
and reading the lab as an operator would (who writes, what was notified, what changed).

No tests live here; the fixtures are used by the test_failover*.py files next to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dr import database, failover, naming, preflight, signals
from dr.clients import pooled
from dr.journal import read_records
from dr.settings import load_pair
from dr.waiting import Timeouts

PROJECT_DIR = Path(__file__).resolve().parents[2]
EAST, WEST = "us-east-1", "us-west-2"
STACK_FILES = ("Pulumi.primary.yaml", "Pulumi.secondary.yaml")
UNPLANNED_STEPS = [
    "gather-evidence", "pre-flight", "take-lease", "notify-started", "evacuate-primary",
    "promote-database", "scale-up", "fence-primary", "verify", "flip-stack-files",
    "notify-complete",
]


@dataclass(frozen=True)
class Project:
    """A copy of the project's stack files, with its own incidents directory."""

    root: Path

    @property
    def incidents(self) -> Path:
        return self.root / "incidents"

    def text(self, name: str) -> str:
        return (self.root / name).read_text(encoding="utf-8")

    def texts(self) -> dict[str, str]:
        return {name: self.text(name) for name in STACK_FILES}

    def journal(self, run_id: str) -> list[dict[str, Any]]:
        return read_records(self.incidents / run_id / "journal.jsonl")

    def runs(self) -> list[str]:
        if not self.incidents.is_dir():
            return []
        return sorted(p.name for p in self.incidents.iterdir() if p.is_dir())

    def record(self, run_id: str) -> dict[str, Any]:
        return json.loads((self.incidents / run_id / "incident.json").read_text())


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    for name in STACK_FILES:
        shutil.copy(PROJECT_DIR / name, root / name)
    return Project(root)


def redeploy(lab, control) -> None:
    """The shared lab back to the topology just deployed (what ``fresh_lab`` does), for
    fixtures wider than one test."""
    from dr.lab.config import read as read_config
    from dr.lab.topology import deploy

    control.reset()
    deploy(load_pair(PROJECT_DIR), read_config(lab.lab_dir), lab.target(), control)


def run_engine(lab, project: Project, **options: Any) -> failover.FailoverResult:
    """The engine as `invoke failover --yes` drives it, in this process."""
    services, _ = failover.prepare(
        lab.target(), project.root, failover.FailoverOptions(**options),
        trigger={"by": "pytest (engine)"}, lab_dir=lab.lab_dir)
    return failover.run_failover(services)


def task_env(lab, project: Project) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SHOPSMART_LAB_DIR=lab.lab_dir, SHOPSMART_PROJECT_DIR=str(project.root),
               AWS_EC2_METADATA_DISABLED="true", PYTHONUNBUFFERED="1")
    return env


def start_task(lab, project: Project, *flags: str, whole_cli: bool = False
               ) -> subprocess.Popen:
    """`invoke failover FLAGS` in a subprocess whose stdin is not a terminal.

    By default invoke loads only the task's own collection (``taskset/incident.py``): the
    same task and flag parsing, without importing every other task module of ``tasks.py``
    (Pulumi among them), which costs seconds per start. ``whole_cli`` runs ``tasks.py``.
    """
    collection = [] if whole_cli else ["--search-root", "taskset", "-c", "incident"]
    return subprocess.Popen(
        [str(PROJECT_DIR / ".venv/bin/invoke"), *collection, "failover", *flags],
        cwd=PROJECT_DIR, env=task_env(lab, project), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_task(lab, project: Project, *flags: str, timeout_s: float = 120,
             whole_cli: bool = False) -> subprocess.CompletedProcess:
    process = start_task(lab, project, *flags, whole_cli=whole_cli)
    out, err = process.communicate(timeout=timeout_s)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def writer_region(lab) -> str | None:
    return database.writer_region(lab.target(), WEST)


def global_members(lab) -> dict[str, bool]:
    """cluster id -> is writer, as us-west-2 sees the global cluster."""
    view = database.read_global(lab.target().client("rds", WEST), WEST)
    return {member.cluster_id: member.is_writer for member in view.members}


def wait_for_evidence(lab, timeout_s: float = 30.0) -> signals.Evidence:
    """Wait (bounded) until the signals agree that us-east-1 failed, as an operator waits
    for `invoke assess` before failing over; returns the last evidence either way."""
    pair = load_pair(PROJECT_DIR)
    deadline = time.monotonic() + timeout_s
    while True:
        evidence = signals.collect_evidence(lab.target(), pair, lab_dir=lab.lab_dir,
                                            timeout_s=2.0)
        if evidence.meets(pair.primary.evidence) or time.monotonic() > deadline:
            return evidence
        time.sleep(0.5)


def wait_for_lag(lab, timeout_s: float = 30.0) -> float | None:
    """Wait (bounded) for us-west-2's first AuroraGlobalDBRPOLag datapoint after a reset:
    without one the lag is unknown and the engine rightly refuses an unplanned promotion."""
    deadline = time.monotonic() + timeout_s
    while True:
        lag, _ = preflight.replication_lag_s(lab.target(), WEST, Timeouts().scaled(0.05))
        if lag is not None or time.monotonic() > deadline:
            return lag
        time.sleep(0.5)


def notices(lab, region: str = WEST) -> list[dict[str, Any]]:
    """Every failover notice delivered to the region's SQS inbox (the topic's subscriber),
    as the JSON document SNS delivered to SQS; alarm notifications are left out."""
    sqs = lab.target().client("sqs", region)
    url = sqs.get_queue_url(QueueName=naming.notification_queue(region))["QueueUrl"]
    found = []
    for _ in range(20):  # bounded: the queue holds a handful of messages
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                    WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            break
        for message in batch:
            envelope = json.loads(message["Body"])
            attributes = envelope.get("MessageAttributes", {})
            if "run_id" in attributes:
                found.append(json.loads(envelope["Message"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def lab_snapshot(lab, project: Project) -> dict[str, Any]:
    """Everything a failover could change, read back: database roles and states, capacity,
    evacuation switches, the lease table, stack files and incidents. (Notices are checked
    apart: alarms of the lab publish to the same inbox on their own schedule.)"""
    target = pooled(lab.target())
    snapshot: dict[str, Any] = {"files": project.texts(), "runs": project.runs()}
    for region in (EAST, WEST):
        rds = target.client("rds", region)
        cluster = database.read_cluster(rds, region)
        snapshot[f"cluster {region}"] = (cluster.status, cluster.engine_version)
        groups = target.client("autoscaling", region).describe_auto_scaling_groups(
            AutoScalingGroupNames=naming.asg_names(region, 2))["AutoScalingGroups"]
        snapshot[f"capacity {region}"] = sorted(
            (g["AutoScalingGroupName"], g["MinSize"], g["DesiredCapacity"], g["MaxSize"])
            for g in groups)
        snapshot[f"lease {region}"] = target.client("dynamodb", region).scan(
            TableName=naming.lease_table())["Items"]
        evacuation = naming.evacuation_alarm(WEST if region == EAST else EAST)
        snapshot[f"evacuate metric in {region}"] = target.client(
            "cloudwatch", region).list_metrics(
            Namespace=naming.EVACUATION_NAMESPACE)["Metrics"]
        snapshot[f"alarm {evacuation}"] = target.client("cloudwatch", region).describe_alarms(
            AlarmNames=[evacuation])["MetricAlarms"][0]["StateValue"]
    view = database.read_global(target.client("rds", WEST), WEST)
    snapshot["global"] = {member.cluster_id: member.is_writer for member in view.members}
    return snapshot


def step_names(result: failover.FailoverResult) -> list[str]:
    return [step.name for step in result.outcome.steps]
