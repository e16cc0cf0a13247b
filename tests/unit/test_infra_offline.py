"""infra.offline: the contract other parts (policies, preview, bench) code against."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from dr.settings import SettingsError
from infra.offline import DUMMY_PASSWORD, ROOT, RecordedResource, run_stack


def test_runs_in_one_process_are_isolated_and_repeatable():
    first = run_stack("primary")
    secondary = run_stack("secondary")
    again = run_stack("primary")
    assert again.resources == first.resources
    assert again.outputs == first.outputs
    assert {r.urn.split("::")[0] for r in secondary.resources} == {"urn:pulumi:secondary"}
    assert (len(first.resources), len(secondary.resources)) == (80, 86)


def test_recorded_resources_are_frozen_and_carry_their_options():
    cluster = run_stack("secondary").named("database-cluster")
    assert isinstance(cluster, RecordedResource)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cluster.protect = False  # type: ignore[misc]
    assert (cluster.type, cluster.physical_name, cluster.region, cluster.protect) == (
        "aws:rds/cluster:Cluster", "shopsmart-db-us-west-2", "us-west-2", True)
    assert cluster.parent == (
        "urn:pulumi:secondary::shopsmart::shopsmart:database:Database::database")
    assert cluster.provider == (
        "urn:pulumi:secondary::shopsmart::pulumi:providers:aws::aws-us-west-2")


def test_a_home_stack_without_a_password_gets_a_dummy_secret_and_says_so():
    run = run_stack("primary")
    assert run.notes == ("shopsmart:dbMasterPassword: not set for the home stack;"
                         " a dummy secret was supplied",)
    assert run.dummy_password is True
    assert run.config["shopsmart:dbMasterPassword"] == "[secret]"
    assert run.named("database-cluster").inputs["masterPassword"] == "[secret]"
    assert DUMMY_PASSWORD not in repr(run)
    assert run_stack("secondary").notes == ()


def test_an_encrypted_value_in_the_stack_file_is_replaced_and_noted(tmp_path):
    for name in ("Pulumi.yaml", "Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    primary = tmp_path / "Pulumi.primary.yaml"
    primary.write_text(primary.read_text() + "  shopsmart:dbMasterPassword:\n"
                       "    secure: v1:T2ZmbGluZQ==:Y2lwaGVydGV4dA==\n")
    run = run_stack("primary", tmp_path)
    assert run.notes == ("shopsmart:dbMasterPassword: encrypted in the stack file;"
                         " a dummy secret was supplied",)
    assert run.named("database-cluster").inputs["masterPassword"] == "[secret]"


def test_overrides_take_bare_or_namespaced_keys_and_none_restores_the_project_default():
    bare = run_stack("secondary", overrides={"azCount": 3})
    assert len(bare.of_type("aws:autoscaling/group:Group")) == 3
    namespaced = run_stack("secondary", overrides={"shopsmart:azCount": 3})
    assert namespaced.resources == bare.resources
    no_contacts = run_stack("secondary", overrides={"contacts": None})
    assert no_contacts.config["shopsmart:contacts"] == "[]"
    assert no_contacts.of_type("aws:sns/topicSubscription:TopicSubscription") == []


def test_an_unknown_stack_is_a_settings_error():
    with pytest.raises(SettingsError) as caught:
        run_stack("tertiary")
    assert str(caught.value) == (
        "Pulumi.tertiary.yaml: unknown stack 'tertiary'; use primary or secondary")


def test_bad_config_surfaces_as_the_settings_error_of_the_program():
    with pytest.raises(SettingsError) as caught:
        run_stack("primary", overrides={"role": "tertiary"})
    assert str(caught.value) == (
        "Pulumi.primary.yaml: shopsmart:role: must be one of primary, secondary,"
        " found 'tertiary'")
