"""The pull-request workflow cannot run here (no Pulumi CLI, no AWS account): these tests
check that it is valid YAML and runs the same policy pack and the same test command."""

from __future__ import annotations

import re
from pathlib import Path

from ruamel.yaml import YAML

from dr.settings import STACKS

PROJECT_DIR = Path(__file__).resolve().parents[2]
WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "pull-request.yml"


def load(path: Path):
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


def steps(workflow) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def readme_test_command() -> str:
    """The command the README gives under "what CI runs"."""
    text = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    block = re.search(r"\(what CI runs\)\n(.+?)\n```", text, re.S)
    assert block, "the README no longer says which command CI runs"
    return block.group(1).strip()


def test_the_workflow_runs_on_pull_requests():
    workflow = load(WORKFLOW)

    assert "pull_request" in workflow["on"]
    assert workflow["permissions"] == {"contents": "read"}


def test_the_preview_runs_the_policy_pack_on_both_stacks():
    workflow = load(WORKFLOW)
    preview = workflow["jobs"]["preview"]
    pulumi = [s for s in preview["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]

    assert preview["strategy"]["matrix"]["stack"] == list(STACKS)
    assert len(pulumi) == 1
    assert pulumi[0]["with"]["command"] == "preview"
    assert pulumi[0]["with"]["policyPacks"] == "policies"
    assert pulumi[0]["with"]["stack-name"].endswith("/${{ matrix.stack }}")


def test_the_previewed_pack_is_the_pack_the_tests_serve():
    pack_dir = PROJECT_DIR / load(WORKFLOW)["jobs"]["preview"]["steps"][-1]["with"]["policyPacks"]
    project = load(pack_dir / "PulumiPolicy.yaml")

    assert pack_dir == PROJECT_DIR / "policies"
    assert project["runtime"]["name"] == "python"
    # The pack runs in the virtualenv that scripts/setup.sh (and the workflow) create.
    assert (pack_dir / project["runtime"]["options"]["virtualenv"]).resolve() == (
        PROJECT_DIR / ".venv")


def test_the_tests_job_runs_the_readme_test_command():
    command = readme_test_command()
    runs = [str(step.get("run", "")) for step in steps(load(WORKFLOW))]

    assert command == "bash scripts/setup.sh && .venv/bin/python -m pytest"
    assert command in runs


def test_the_tests_job_runs_the_policy_check_on_both_stacks():
    runs = [str(step.get("run", "")) for step in load(WORKFLOW)["jobs"]["tests"]["steps"]]

    assert ".venv/bin/invoke policy" in runs


def test_ci_and_the_workflow_run_the_same_test_command():
    ci = (PROJECT_DIR / ".ci" / "run").read_text(encoding="utf-8").splitlines()

    assert ".venv/bin/python -m pytest" in ci
    assert "bash scripts/setup.sh" in ci
