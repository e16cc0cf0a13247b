"""`invoke policy`: the program of each stack run offline and judged by the whole pack;
violations printed by resource; a mandatory one fails the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Context, Exit

from taskset.policy import policy

PROJECT_DIR = Path(__file__).resolve().parents[2]
INVOKE = Path(sys.executable).with_name("invoke")


def config_file(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "policy-config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_invoke_policy_passes_the_shipped_stacks():
    done = subprocess.run([str(INVOKE), "policy"], cwd=PROJECT_DIR, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "AWS_EC2_METADATA_DISABLED": "true"})

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "primary: 20 policies, 0 violation(s), 0 mandatory",
        "secondary: 20 policies, 0 violation(s), 0 mandatory",
    ]


def test_one_stack_can_be_checked_alone(capsys):
    policy(Context(), stack="secondary")

    assert capsys.readouterr().out.splitlines() == [
        "secondary: 20 policies, 0 violation(s), 0 mandatory"]


def test_a_mandatory_violation_fails_the_command_and_is_shown_by_resource(tmp_path, capsys):
    config = config_file(tmp_path, {"cluster-backup-retention": {"minBackupDays": 14}})

    with pytest.raises(Exit) as failed:
        policy(Context(), stack="primary", config=config)

    assert failed.value.code == 1
    assert failed.value.message == (
        "policy: 1 mandatory violation(s) in primary; fix them before `pulumi up`")
    assert capsys.readouterr().out.splitlines() == [
        "primary: database-cluster"
        "  [urn:pulumi:primary::shopsmart::shopsmart:database:Database$aws:rds/cluster:Cluster"
        "::database-cluster]",
        "  MANDATORY cluster-backup-retention",
        '            Cluster "database-cluster" (shopsmart-db-us-east-1) keeps backups 7 days,'
        " fewer than",
        "            the required 14. Set backup_retention_period to at least 14",
        "            (shopsmart:db.backupRetentionDays).",
        "primary: 20 policies, 1 violation(s), 1 mandatory",
    ]


def test_an_advisory_violation_is_shown_but_does_not_fail(tmp_path, capsys):
    config = config_file(tmp_path, {"cluster-backup-retention": {
        "enforcementLevel": "advisory", "minBackupDays": 14}})

    policy(Context(), config=config)

    out = capsys.readouterr().out.splitlines()
    assert out.count("  ADVISORY  cluster-backup-retention") == 2
    assert out[-1] == "secondary: 20 policies, 1 violation(s), 0 mandatory"


def test_a_disabled_policy_does_not_run(tmp_path, capsys):
    config = config_file(tmp_path, {"all": "disabled", "dns-ttl-at-most": "mandatory"})

    policy(Context(), stack="primary", config=config)

    assert capsys.readouterr().out.splitlines() == [
        "primary: 1 policies, 0 violation(s), 0 mandatory"]


def test_an_unknown_stack_is_refused():
    with pytest.raises(Exit) as failed:
        policy(Context(), stack="tertiary")

    assert (failed.value.code, failed.value.message) == (
        2, "policy: unknown stack 'tertiary': use primary or secondary")


def test_a_config_naming_no_policy_of_the_pack_is_refused(tmp_path):
    config = config_file(tmp_path, {"dns-ttl": {"maxTtlSeconds": 30}})

    with pytest.raises(Exit) as failed:
        policy(Context(), config=config)

    assert failed.value.code == 2
    assert failed.value.message.startswith(
        f"policy: {config}: no policy named 'dns-ttl'; the pack has"
        " failover-record-has-health-check, dns-ttl-at-most,")


def test_a_threshold_outside_its_schema_is_refused(tmp_path):
    config = config_file(tmp_path, {"cluster-backup-retention": {"minBackupDays": 90}})

    with pytest.raises(Exit) as failed:
        policy(Context(), config=config)

    assert (failed.value.code, failed.value.message) == (
        2, f"policy: {config}: cluster-backup-retention.minBackupDays: 90 is outside 1..35")


def test_a_stack_file_the_program_cannot_use_is_reported_not_raised(tmp_path, monkeypatch):
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        (tmp_path / name).write_text((PROJECT_DIR / name).read_text())
    primary = tmp_path / "Pulumi.primary.yaml"
    primary.write_text(primary.read_text().replace('    engineVersion: "15.4"\n', ""))
    monkeypatch.setattr("taskset.policy.PROJECT_DIR", tmp_path)

    with pytest.raises(Exit) as failed:
        policy(Context(), stack="primary")

    assert (failed.value.code, failed.value.message) == (
        2, "policy: Pulumi.primary.yaml: shopsmart:db.engineVersion: required key is missing")


def test_a_config_path_that_is_a_directory_is_refused(tmp_path):
    with pytest.raises(Exit) as failed:
        policy(Context(), stack="primary", config=str(tmp_path))

    assert (failed.value.code, failed.value.message) == (
        2, f"policy: policy config {tmp_path} cannot be read: Is a directory")


def test_another_project_dir_is_checked_when_given(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        (tmp_path / name).write_text((PROJECT_DIR / name).read_text())
    primary = tmp_path / "Pulumi.primary.yaml"
    primary.write_text(primary.read_text().replace("backupRetentionDays: 7",
                                                   "backupRetentionDays: 3"))

    with pytest.raises(Exit) as failed:
        policy(Context(), stack="primary", project_dir=str(tmp_path))

    assert (failed.value.code, failed.value.message) == (
        1, "policy: 1 mandatory violation(s) in primary; fix them before `pulumi up`")


def test_stack_files_that_both_claim_primary_stop_the_command(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        (tmp_path / name).write_text((PROJECT_DIR / name).read_text())
    secondary = tmp_path / "Pulumi.secondary.yaml"
    secondary.write_text(secondary.read_text().replace("shopsmart:role: secondary",
                                                       "shopsmart:role: primary"))

    with pytest.raises(Exit) as failed:
        policy(Context(), project_dir=str(tmp_path))

    assert (failed.value.code, failed.value.message) == (
        2, "policy: Pulumi.primary.yaml + Pulumi.secondary.yaml: shopsmart:role: both claim"
           " role primary; exactly one must")
