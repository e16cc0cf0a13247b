"""pulumi up through the Automation API: the CLI really absent, and a stand-in CLI present.

The stand-in is a small executable named ``pulumi`` in a temporary directory put first on
PATH. It answers the commands the Automation API sends (``version``, ``stack select``,
``preview``, ``up``, ``stack output``, ``stack history``) as the CLI documents them and writes
down each command line with its working directory, so the test sees exactly what would have
run. It says it is version 3.150, so the Automation API reads its engine events from the file
named by ``--event-log`` (newer CLIs stream the same events over gRPC); the preview's events
come from ``FAKE_PULUMI_PLAN``: a JSON list of ``[op, urn, type, diffs]``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from dr import deploy
from dr.deploy import ConvergenceRefused, DeployFailed, PulumiCliMissing

PROJECT = Path(__file__).parents[2]

STAND_IN = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_PULUMI_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "cwd": os.getcwd()}}) + "\\n")
words = [a for a in args if not a.startswith("--")]
if args == ["version"]:
    print("v3.150.0")
elif words[:1] == ["preview"]:
    log_path = args[args.index("--event-log") + 1]
    plan = json.loads(os.environ.get("FAKE_PULUMI_PLAN", "[]"))
    with open(log_path, "a") as events:
        for number, (op, urn, kind, diffs) in enumerate(plan):
            events.write(json.dumps({{"sequence": number, "timestamp": 0, "resourcePreEvent": {{
                "metadata": {{"op": op, "urn": urn, "type": kind, "provider": "",
                              "diffs": diffs}}}}}}) + "\\n")
        events.write(json.dumps({{"sequence": 90, "timestamp": 0, "summaryEvent": {{
            "maybeCorrupt": False, "durationSeconds": 1,
            "resourceChanges": {{"update": len(plan)}}, "PolicyPacks": {{}}}}}}) + "\\n")
        events.write(json.dumps({{"sequence": 91, "timestamp": 0, "cancelEvent": {{}}}}) + "\\n")
    print("Previewing update (secondary)")
elif words[:1] == ["up"]:
    if os.environ.get("FAKE_PULUMI_FAIL"):
        print("error: creating Auto Scaling group: AccessDenied", file=sys.stderr)
        sys.exit(1)
    print("Updating (secondary)")
    print("Resources: 3 updated, 41 unchanged")
elif words[:2] == ["stack", "output"]:
    print("{{}}")
elif words[:2] == ["stack", "history"]:
    print(json.dumps([{{
        "kind": "update", "startTime": "2026-12-04T15:00:00.000Z", "message": "",
        "environment": {{}}, "config": {{}}, "result": "succeeded",
        "endTime": "2026-12-04T15:01:00.000Z", "version": 7,
        "resourceChanges": {{"update": 3, "same": 41}},
    }}]))
"""


@pytest.fixture
def stand_in_cli(tmp_path, monkeypatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "pulumi"
    cli.write_text(STAND_IN.format(python=sys.executable))
    cli.chmod(cli.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "pulumi-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    return log


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_without_the_cli_up_says_exactly_which_command_to_run_later(tmp_path):
    assert shutil.which("pulumi") is None  # this machine really has no Pulumi CLI

    with pytest.raises(PulumiCliMissing) as missing:
        deploy.up(PROJECT, "secondary")

    assert missing.value.command == f"cd {PROJECT.resolve()} && pulumi up -s secondary"
    assert str(missing.value).endswith(
        f"run later where the CLI and its state backend are available: {missing.value.command}")


def test_with_a_cli_up_selects_the_stack_and_runs_up_in_the_project_dir(stand_in_cli):
    result = deploy.up(PROJECT, "secondary")

    assert result.result == "succeeded"
    assert result.changes == {"update": 3, "same": 41}
    assert result.summary() == "pulumi up -s secondary: succeeded (same 41, update 3)"
    made = calls(stand_in_cli)
    assert {call["cwd"] for call in made} == {str(PROJECT)}
    commands = [call["args"] for call in made]
    assert ["version"] in commands
    assert ["--non-interactive", "stack", "select", "--stack", "secondary"] in commands
    [up] = [args for args in commands if "up" in args]
    assert up[:4] == ["--non-interactive", "up", "--yes", "--skip-preview"]
    assert up[-2:] == ["--stack", "secondary"]
    assert "--color" in up and up[up.index("--color") + 1] == "never"


def test_a_failing_up_raises_deploy_failed_with_pulumis_error_and_the_retry_command(
        stand_in_cli, monkeypatch):
    monkeypatch.setenv("FAKE_PULUMI_FAIL", "1")

    with pytest.raises(DeployFailed) as failed:
        deploy.up(PROJECT, "secondary")

    assert "error: creating Auto Scaling group: AccessDenied" in str(failed.value)
    assert str(failed.value).endswith(f"cd {PROJECT.resolve()} && pulumi up -s secondary")


CLUSTER = "urn:pulumi:secondary::shopsmart::aws:rds/cluster:Cluster::shopsmart-db-us-west-2"
ASG = "urn:pulumi:secondary::shopsmart::aws:autoscaling/group:Group::shopsmart-app-us-west-2-0"


def test_a_plan_that_only_updates_capacity_is_previewed_then_applied(stand_in_cli,
                                                                     monkeypatch):
    monkeypatch.setenv("FAKE_PULUMI_PLAN", json.dumps([
        ["update", ASG, "aws:autoscaling/group:Group", ["desiredCapacity", "minSize"]]]))

    deploy.up(PROJECT, "secondary")

    verbs = [next(a for a in call["args"] if not a.startswith("-")) for call in
             calls(stand_in_cli) if call["args"] != ["version"]]
    assert verbs == ["stack", "preview", "up", "stack", "stack", "stack"]


@pytest.mark.parametrize("plan, refusal", [
    ([["replace", CLUSTER, "aws:rds/cluster:Cluster", ["engineVersion"]]],
     f"replace {CLUSTER}"),
    ([["delete", ASG, "aws:autoscaling/group:Group", []]], f"delete {ASG}"),
    ([["update", CLUSTER, "aws:rds/cluster:Cluster", ["globalClusterIdentifier"]]],
     f"change globalClusterIdentifier of {CLUSTER} (would detach or re-join the global"
     " database)"),
])
def test_a_plan_that_replaces_deletes_or_detaches_is_refused_before_up(stand_in_cli,
                                                                       monkeypatch, plan,
                                                                       refusal):
    monkeypatch.setenv("FAKE_PULUMI_PLAN", json.dumps(plan))

    with pytest.raises(ConvergenceRefused) as refused:
        deploy.up(PROJECT, "secondary")

    assert refused.value.changes == (refusal,)
    assert "nothing was deployed" in str(refused.value)
    assert not [call for call in calls(stand_in_cli) if "up" in call["args"]]


def test_allow_destructive_skips_the_preview(stand_in_cli, monkeypatch):
    monkeypatch.setenv("FAKE_PULUMI_PLAN", json.dumps([["delete", ASG, "x", []]]))

    assert deploy.up(PROJECT, "secondary", allow_destructive=True).result == "succeeded"
    assert not [call for call in calls(stand_in_cli) if "preview" in call["args"]]
