"""The tasks as a user runs them: `invoke status` and `invoke recover` against the lab named
by SHOPSMART_LAB_DIR, and a clear refusal (an ``Exit``, never a traceback) when there is no
lab or nothing to recover."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from invoke import Config, Context, Exit

from taskset import status as tasks

pytestmark = pytest.mark.lab

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def context() -> Context:
    return Context(config=Config(overrides={"shopsmart": {"target": "lab"}}))


def test_a_task_refuses_clearly_when_the_lab_is_not_running(context, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSMART_LAB_DIR", str(tmp_path / "no-lab"))

    with pytest.raises(Exit) as refused:
        tasks.assess(context)

    assert refused.value.code == 2
    assert refused.value.message == (
        f"error: the lab is not running in {tmp_path / 'no-lab'} (no state.json):"
        " run `invoke lab.up`")


def test_status_prints_both_regions_side_by_side(fresh_lab, context, monkeypatch, capsys):
    monkeypatch.setenv("SHOPSMART_LAB_DIR", fresh_lab.lab_dir)

    tasks.status(context, timeout=3)

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["us-east-1", "us-west-2"]
    assert lines[1].split() == ["role", "(stack", "file)", "primary", "secondary"]
    assert "drift: none (config and reality agree)" in lines


def test_recover_of_a_component_that_is_not_failing_exits_with_the_reason(
        fresh_lab, context, monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPSMART_LAB_DIR", fresh_lab.lab_dir)

    with pytest.raises(Exit) as refused:
        tasks.recover(context, component="i-0000000000000000", timeout=5,
                      records=str(tmp_path))

    assert refused.value.code == 1
    first, second = refused.value.message.splitlines()
    assert first == (
        "error: checked the alarms, groups and targets of us-east-1: component"
        " i-0000000000000000 is not failing; run `invoke assess` to see the whole picture")
    assert second.startswith(f"incident record: {tmp_path}/recover-")


def test_status_reads_the_stack_files_of_shopsmart_project_dir(
        fresh_lab, context, monkeypatch, capsys, tmp_path):
    # `invoke failover` flips the stack files of $SHOPSMART_PROJECT_DIR; status must read
    # the same files, or right after a failover it shows the old roles as drift.
    for name, role in (("Pulumi.primary.yaml", "secondary"),
                       ("Pulumi.secondary.yaml", "primary")):
        text = (PROJECT_DIR / name).read_text(encoding="utf-8")
        flipped = re.sub(r"(shopsmart:role: )\w+", rf"\g<1>{role}", text)
        (tmp_path / name).write_text(flipped, encoding="utf-8")
    monkeypatch.setenv("SHOPSMART_LAB_DIR", fresh_lab.lab_dir)
    monkeypatch.setenv("SHOPSMART_PROJECT_DIR", str(tmp_path))

    tasks.status(context, timeout=3)

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["us-west-2", "us-east-1"]  # the primary's column first
    assert lines[1].split() == ["role", "(stack", "file)", "primary", "secondary"]
