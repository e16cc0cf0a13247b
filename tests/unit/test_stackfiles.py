"""Recording the roles in the stack files: only the role lines change, both or neither."""

from __future__ import annotations

import difflib
import json
import os
import shutil
from pathlib import Path

import pytest

from dr import settings, stackfiles
from dr.stackfiles import RoleFlipFailed, RoleFlipRefused, assign_primary, flip_roles

PROJECT = Path(__file__).parents[2]


@pytest.fixture
def project(tmp_path) -> Path:
    for name in ("Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        shutil.copy(PROJECT / name, tmp_path / name)
    return tmp_path


def snapshot(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(project.iterdir()) if p.is_file()}


def changed_lines(before: bytes, after: bytes) -> list[str]:
    diff = difflib.unified_diff(before.decode().splitlines(), after.decode().splitlines(),
                                lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")]


def test_promoting_the_secondary_changes_only_the_two_role_lines(project):
    before = snapshot(project)

    flip = assign_primary(project, "us-west-2")

    after = snapshot(project)
    assert flip.changed
    assert flip.roles_before == {"primary": "primary", "secondary": "secondary"}
    assert flip.roles_after == {"primary": "secondary", "secondary": "primary"}
    assert changed_lines(before["Pulumi.primary.yaml"], after["Pulumi.primary.yaml"]) == [
        "-  shopsmart:role: primary", "+  shopsmart:role: secondary"]
    assert changed_lines(before["Pulumi.secondary.yaml"], after["Pulumi.secondary.yaml"]) == [
        "-  shopsmart:role: secondary", "+  shopsmart:role: primary"]
    pair = settings.load_pair(project)
    assert (pair.primary.region, pair.secondary.region) == ("us-west-2", "us-east-1")


def test_the_originals_are_kept_as_backups(project):
    before = snapshot(project)

    assign_primary(project, "us-west-2")

    assert (project / "Pulumi.primary.yaml.bak").read_bytes() == before["Pulumi.primary.yaml"]
    assert (project / "Pulumi.secondary.yaml.bak").read_bytes() == before[
        "Pulumi.secondary.yaml"]
    assert not (project / stackfiles.MARKER).exists()
    assert sorted(p.name for p in project.iterdir()) == [
        "Pulumi.primary.yaml", "Pulumi.primary.yaml.bak", "Pulumi.secondary.yaml",
        "Pulumi.secondary.yaml.bak"]


def test_assigning_the_region_that_is_already_primary_writes_nothing(project):
    assign_primary(project, "us-west-2")
    before = snapshot(project)

    again = assign_primary(project, "us-west-2")

    assert not again.changed
    assert again.summary() == "stack files already say us-west-2 is primary; nothing written"
    assert snapshot(project) == before


def test_failing_back_restores_the_original_bytes(project):
    original = snapshot(project)

    assign_primary(project, "us-west-2")
    assign_primary(project, "us-east-1")

    current = snapshot(project)
    assert current["Pulumi.primary.yaml"] == original["Pulumi.primary.yaml"]
    assert current["Pulumi.secondary.yaml"] == original["Pulumi.secondary.yaml"]


def test_flip_roles_swaps_whatever_the_roles_are(project):
    assert flip_roles(project).primary_region == "us-west-2"
    assert flip_roles(project).primary_region == "us-east-1"


def test_quotes_comments_and_crlf_line_endings_survive(project):
    path = project / "Pulumi.secondary.yaml"
    text = path.read_text().replace("shopsmart:role: secondary",
                                    'shopsmart:role: "secondary"   # set by failover only')
    path.write_bytes(text.replace("\n", "\r\n").encode())

    assign_primary(project, "us-west-2")

    assert path.read_bytes() == text.replace(
        '"secondary"   # set', '"primary"   # set').replace("\n", "\r\n").encode()


def test_two_files_claiming_primary_are_refused_with_nothing_changed(project):
    path = project / "Pulumi.secondary.yaml"
    path.write_text(path.read_text().replace("role: secondary", "role: primary"))
    before = snapshot(project)

    with pytest.raises(RoleFlipRefused, match="both claim role primary; exactly one must"):
        assign_primary(project, "us-west-2")
    assert snapshot(project) == before


def test_a_malformed_file_is_refused_with_nothing_changed(project):
    path = project / "Pulumi.primary.yaml"
    path.write_text(path.read_text().replace("  shopsmart:azCount: 2", "  shopsmart:azCount: [2"))
    before = snapshot(project)

    with pytest.raises(RoleFlipRefused, match="Pulumi.primary.yaml: malformed YAML at line"):
        assign_primary(project, "us-west-2")
    assert snapshot(project) == before


def test_a_region_neither_file_deploys_to_is_refused(project):
    before = snapshot(project)
    with pytest.raises(RoleFlipRefused, match="neither stack file deploys to eu-west-1"):
        assign_primary(project, "eu-west-1")
    assert snapshot(project) == before


def test_a_failed_rename_puts_the_originals_back(project, monkeypatch):
    before = snapshot(project)
    real_replace = os.replace
    calls: list[str] = []

    def replace_failing_on_the_second_stack_file(source, destination):
        if str(destination).endswith(("Pulumi.primary.yaml", "Pulumi.secondary.yaml")):
            calls.append(Path(destination).name)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
        return real_replace(source, destination)

    monkeypatch.setattr(stackfiles.os, "replace", replace_failing_on_the_second_stack_file)

    with pytest.raises(RoleFlipFailed, match="No space left on device"):
        assign_primary(project, "us-west-2")
    after = snapshot(project)
    assert after["Pulumi.primary.yaml"] == before["Pulumi.primary.yaml"]
    assert after["Pulumi.secondary.yaml"] == before["Pulumi.secondary.yaml"]
    assert not (project / stackfiles.MARKER).exists()


def test_a_flip_interrupted_between_its_renames_is_finished_by_the_next_call(project):
    original = snapshot(project)
    # The state a kill -9 leaves after the first rename: backups and marker written, the old
    # primary already demoted, the new one not yet promoted.
    for name, data in original.items():
        (project / f"{name}.bak").write_bytes(data)
    (project / stackfiles.MARKER).write_text(json.dumps({"primary_region": "us-west-2"}))
    path = project / "Pulumi.primary.yaml"
    path.write_text(path.read_text().replace("role: primary", "role: secondary"))

    flip = assign_primary(project, "us-west-2")

    assert flip.changed
    assert settings.load_pair(project).primary.region == "us-west-2"
    for name, data in original.items():
        assert (project / f"{name}.bak").read_bytes() == data  # still the true originals
    assert not (project / stackfiles.MARKER).exists()


def test_neither_file_primary_without_a_flip_in_flight_is_refused(project):
    path = project / "Pulumi.primary.yaml"
    path.write_text(path.read_text().replace("role: primary", "role: secondary"))
    before = snapshot(project)

    with pytest.raises(RoleFlipRefused, match="neither claims role primary"):
        assign_primary(project, "us-west-2")
    assert snapshot(project) == before


KILLED_BETWEEN_RENAMES = """
import os, signal, sys
from dr import stackfiles
real_replace = os.replace

def replace_then_die(source, destination):
    real_replace(source, destination)
    if str(destination).endswith("Pulumi.primary.yaml"):
        os.kill(os.getpid(), signal.SIGKILL)

stackfiles.os.replace = replace_then_die
stackfiles.assign_primary(sys.argv[1], "us-west-2")
"""


def test_kill_9_between_the_two_renames_leaves_no_two_primaries_and_the_rerun_finishes(
        project):
    import signal
    import subprocess
    import sys

    original = snapshot(project)
    killed = subprocess.run([sys.executable, "-c", KILLED_BETWEEN_RENAMES, str(project)],
                            cwd=PROJECT, timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert [stackfiles.role_lines((project / name).read_text()) for name in (
        "Pulumi.primary.yaml", "Pulumi.secondary.yaml")] == [
        ["  shopsmart:role: secondary"], ["  shopsmart:role: secondary"]]

    flip = assign_primary(project, "us-west-2")

    assert flip.changed
    assert settings.load_pair(project).primary.region == "us-west-2"
    assert (project / "Pulumi.primary.yaml.bak").read_bytes() == original["Pulumi.primary.yaml"]
    assert (project / "Pulumi.secondary.yaml.bak").read_bytes() == original[
        "Pulumi.secondary.yaml"]
    leftovers = sorted(p.name for p in project.iterdir() if p.name.startswith("."))
    assert leftovers == []
