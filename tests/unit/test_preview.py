"""`invoke preview`: the offline program run, as a table for people and JSON for machines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Context, Exit

from taskset.preview import preview

ROOT = Path(__file__).resolve().parents[2]


def row(table: str, logical_name: str) -> list[str]:
    for line in table.splitlines():
        cells = line.split()
        if len(cells) > 1 and cells[1] == logical_name:
            return cells
    raise AssertionError(f"no row for {logical_name}")


def test_primary_as_a_table(capsys):
    preview(Context(), stack="primary")
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0] == "stack primary: 80 resources (offline, mocks)"
    assert lines[1] == ("note: shopsmart:dbMasterPassword: not set for the home stack;"
                        " a dummy secret was supplied")
    assert lines[3].split() == ["TYPE", "LOGICAL", "NAME", "PHYSICAL", "NAME", "REGION", "KEY",
                                "PROPERTIES"]
    cluster = row(table, "database-cluster")
    assert cluster[:4] == ["aws:rds/cluster:Cluster", "database-cluster",
                           "shopsmart-db-us-east-1", "us-east-1"]
    assert "engineVersion=15.4" in cluster
    assert "masterUsername=shopsmart_admin" in cluster
    assert "protect=true" in cluster
    assert row(table, "dns-evacuate")[2:4] == ["shopsmart-evacuate-us-east-1", "us-west-2"]
    assert row(table, "dns-record")[4:] == [
        "type=A", "setIdentifier=us-east-1", 'failoverRoutingPolicies=[{"type":"PRIMARY"}]']


def test_secondary_as_json(capsys):
    preview(Context(), stack="secondary", json=True)
    document = json.loads(capsys.readouterr().out)
    assert (document["stack"], document["notes"], len(document["resources"])) == (
        "secondary", [], 86)
    alarm = next(r for r in document["resources"] if r["name"] == "alarms-endpoint-health")
    assert (alarm["type"], alarm["physical_name"], alarm["region"]) == (
        "aws:cloudwatch/metricAlarm:MetricAlarm", "shopsmart-us-west-2-endpoint-health",
        "us-east-1")
    assert alarm["properties"] == {
        "namespace": "AWS/Route53", "metricName": "HealthCheckStatus",
        "comparisonOperator": "LessThanThreshold", "threshold": 1,
        "treatMissingData": "breaching"}
    cluster = next(r for r in document["resources"] if r["name"] == "database-cluster")
    assert cluster["protect"] is True
    assert "globalClusterIdentifier" in cluster["ignore_changes"]
    assert document["outputs"]["role"] == "secondary"


def test_an_unknown_stack_exits_with_the_settings_message():
    with pytest.raises(Exit) as caught:
        preview(Context(), stack="tertiary")
    assert caught.value.code == 2
    assert caught.value.message == (
        "Pulumi.tertiary.yaml: unknown stack 'tertiary'; use primary or secondary")


def test_bad_settings_exit_with_the_settings_message(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    secondary = tmp_path / "Pulumi.secondary.yaml"
    secondary.write_text(secondary.read_text().replace("shopsmart:role: secondary",
                                                       "shopsmart:role: primary"))
    with pytest.raises(Exit) as caught:
        preview(Context(), stack="primary", project_dir=str(tmp_path))
    assert caught.value.message == (
        "Pulumi.primary.yaml + Pulumi.secondary.yaml: shopsmart:role: both claim role primary;"
        " exactly one must")


def test_the_invoke_command_line_runs_it():
    done = subprocess.run(
        [str(Path(sys.executable).parent / "invoke"), "preview", "--stack", "secondary",
         "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"]["region"] == "us-west-2"


def copied_project(tmp_path: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_a_malformed_project_file_exits_with_its_name(tmp_path):
    project = copied_project(tmp_path)
    (project / "Pulumi.yaml").write_text("name: shopsmart\nconfig: [unclosed\n")
    with pytest.raises(Exit) as caught:
        preview(Context(), stack="primary", project_dir=str(project))
    assert caught.value.code == 2
    assert caught.value.message.startswith("Pulumi.yaml: malformed YAML at line 3: ")


def test_a_project_dir_without_a_project_file_is_refused(tmp_path):
    project = copied_project(tmp_path)
    (project / "Pulumi.yaml").unlink()
    with pytest.raises(Exit) as caught:
        preview(Context(), stack="primary", project_dir=str(project))
    assert (caught.value.code, caught.value.message) == (
        2, f"Pulumi.yaml: file not found at {project / 'Pulumi.yaml'}")


def test_a_directory_for_a_stack_file_exits_with_its_name(tmp_path):
    project = copied_project(tmp_path)
    (project / "Pulumi.secondary.yaml").unlink()
    (project / "Pulumi.secondary.yaml").mkdir()
    with pytest.raises(Exit) as caught:
        preview(Context(), stack="primary", project_dir=str(project))
    assert (caught.value.code, caught.value.message) == (
        2, f"Pulumi.secondary.yaml: cannot be read at {project / 'Pulumi.secondary.yaml'}:"
           " Is a directory")


def test_a_structured_value_of_the_wrong_type_exits_instead_of_tracing_back(tmp_path):
    project = copied_project(tmp_path)
    primary = project / "Pulumi.primary.yaml"
    text = primary.read_text()
    start, end = text.index("  shopsmart:dns:\n"), text.index("  # The DR plan's targets")
    primary.write_text(text[:start] + "  shopsmart:dns: fast\n" + text[end:])
    with pytest.raises(Exit) as caught:
        preview(Context(), stack="primary", project_dir=str(project))
    assert (caught.value.code, caught.value.message) == (
        2, "Pulumi.primary.yaml: shopsmart:dns: must be a mapping, found 'fast'")


def test_it_takes_the_common_target_flag_and_refuses_an_unknown_one():
    with pytest.raises(Exit) as caught:
        preview(Context(), stack="primary", target="staging")
    assert (caught.value.code, caught.value.message) == (
        2, "preview: unknown target 'staging': use lab or aws")
