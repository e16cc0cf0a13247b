"""`invoke failover` on the lab, end to end: unplanned during a regional outage, planned.

Each run starts from the freshly deployed lab (us-east-1 primary, us-west-2 secondary) and
a copy of the stack files, so the repository's own files are never touched. The unplanned
run is shared by the tests that check what it did: it runs with every API call to
us-east-1 failing and with a share of us-west-2's API calls throttled.
"""

from __future__ import annotations

import difflib
import shutil
from dataclasses import dataclass
from typing import Any

import pytest

from dr.lab.client import ControlClient
from test_failover_support import (  # noqa: F401 - fixtures
    EAST, PROJECT_DIR, STACK_FILES, UNPLANNED_STEPS, WEST, Project, global_members, notices,
    project, redeploy, run_engine, step_names, wait_for_evidence, wait_for_lag, writer_region,
)

pytestmark = pytest.mark.lab

PLANNED_STEPS = [
    "gather-evidence", "pre-flight", "take-lease", "notify-started", "evacuate-primary",
    "promote-database", "scale-up", "verify", "flip-stack-files", "notify-complete",
]
PLANNED_STEPS = [
    "gather-evidence", "pre-flight", "take-lease", "notify-started", "promote-database",
    "scale-up", "evacuate-primary", "verify", "flip-stack-files", "notify-complete",
]


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@dataclass(frozen=True)
class Failover:
    lab: Any
    project: Project
    before: dict[str, str]
    result: Any
    notices: list[dict[str, Any]]


@pytest.fixture(scope="module")
def failed_over(lab_session, tmp_path_factory):
    """One unplanned failover during an outage of us-east-1, with us-west-2 throttling 20%
    of its calls, from a fresh lab; faults are cleared afterwards."""
    control = ControlClient(lab_session.control_url)
    redeploy(lab_session, control)
    root = tmp_path_factory.mktemp("project")
    for name in STACK_FILES:
        shutil.copy(PROJECT_DIR / name, root / name)
    copy = Project(root)
    before = copy.texts()
    control.set_fault(EAST, "outage")
    try:
        evidence = wait_for_evidence(lab_session)
        assert len(evidence.failed) >= 2, evidence.summary()
        assert wait_for_lag(lab_session) is not None
        control.set_fault(WEST, "throttle", rate=0.2)
        result = run_engine(lab_session, copy)
        control.clear(WEST)  # the checks below read the lab; the run is over
        yield Failover(lab_session, copy, before, result, notices(lab_session, WEST))
    finally:
        control.clear()


def test_unplanned_failover_during_an_outage_and_throttling_makes_us_west_2_the_serving_writer(
        failed_over):
    outage, result = failed_over.lab, failed_over.result

    assert result.outcome.status == "complete", result.outcome.error
    assert step_names(result) == UNPLANNED_STEPS
    assert writer_region(outage) == WEST
    promotion = result.outcome.result_of("promote-database")
    assert promotion["method"] == "managed-failover"
    assert promotion["old_primary_must_be_rebuilt"] is False
    verified = result.outcome.result_of("verify")
    assert verified["region"] == WEST
    assert verified["health_status"] == 200
    assert verified["write_status"] in (200, 201)
    fenced = result.outcome.result_of("fence-primary")
    assert fenced["fenced"] is False
    assert "relied on Aurora's write fencing" in fenced["fencing"]


def test_unplanned_failover_changes_only_the_role_lines_of_the_stack_files(failed_over):
    before, after = failed_over.before, failed_over.project.texts()

    assert changed_lines(before["Pulumi.primary.yaml"], after["Pulumi.primary.yaml"]) == [
        "-  shopsmart:role: primary", "+  shopsmart:role: secondary"]
    assert changed_lines(before["Pulumi.secondary.yaml"], after["Pulumi.secondary.yaml"]) == [
        "-  shopsmart:role: secondary", "+  shopsmart:role: primary"]


def test_unplanned_failover_tells_the_stakeholders_through_the_survivors_topic(failed_over):
    result, delivered = failed_over.result, failed_over.notices

    assert [(n["kind"], n["run_id"]) for n in delivered] == [
        ("started", result.outcome.run_id), ("complete", result.outcome.run_id)]
    started, complete = delivered
    assert started["classification"] == "major"
    assert "signals say us-east-1 failed" in started["evidence"]
    assert started["facts"]["survivor_region"] == WEST
    assert "https-probe: failed" in "\n".join(started["details"])
    assert complete["summary"] == (
        "us-west-2 now serves the shop and its database is the writer.")
    assert complete["classification"] == "major"


def test_unplanned_failover_writes_a_complete_incident_record(failed_over):
    result, project = failed_over.result, failed_over.project

    record = project.record(result.outcome.run_id)
    assert record["status"] == "complete"
    assert record["classification"] == "major"
    assert record["forced"] is False
    assert [entry["step"] for entry in record["timeline"]] == UNPLANNED_STEPS
    assert all(entry["status"] == "completed" for entry in record["timeline"])
    phases = {span["phase"] for span in record["rto"]["phases"]}
    assert {"detection", "decision", "traffic", "promotion", "capacity",
            "verification"} <= phases
    assert record["rto"]["measured_from"] == "failure"
    assert [o["group"] for o in record["rto"]["parallel"]] == ["promote-and-scale"]
    decisions = [d["decision"] for d in record["decisions"]]
    assert "evidence gate met (2 of 4)" in decisions
    assert "fencing relied on Aurora's write fencing" in decisions
    assert (project.incidents / result.outcome.run_id / "incident.md").is_file()


def test_planned_switchover_moves_the_writer_and_keeps_the_old_primary_in_the_global_db(
        fresh_lab, project):
    result = run_engine(fresh_lab, project, planned=True)

    assert result.outcome.status == "complete", result.outcome.error
    assert step_names(result) == PLANNED_STEPS
    assert result.outcome.run_id.startswith("switchover-")
    assert result.outcome.result_of("promote-database")["method"] == "switchover"
    assert global_members(fresh_lab) == {"shopsmart-db-us-east-1": False,
                                         "shopsmart-db-us-west-2": True}
    assert result.outcome.result_of("verify")["region"] == WEST
    record = project.record(result.outcome.run_id)
    assert record["rpo"]["lost_writes"] == 0
    assert record["classification"] is None
    for name in STACK_FILES:
        assert "shopsmart:role:" in project.text(name)
    assert "  shopsmart:role: primary" in project.text("Pulumi.secondary.yaml")
