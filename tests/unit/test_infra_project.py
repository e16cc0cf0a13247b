"""Pulumi.yaml: the project file declares every key the settings model reads, validly."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from dr import settings
from dr.settings import SettingsError, load_stack_file, read_stack_file

ROOT = Path(__file__).resolve().parents[2]
PROJECT = YAML(typ="safe").load((ROOT / "Pulumi.yaml").read_text())
DECLARED = PROJECT["config"]
# The types Pulumi's project schema (project.json, simpleConfigType) accepts.
PULUMI_TYPES = {"string", "integer", "boolean", "array"}


def project_keys() -> set[str]:
    return {k.split(":", 1)[1] for k in DECLARED if k.startswith("shopsmart:")}


def test_project_is_shopsmart_in_python_from_the_readme_venv():
    assert PROJECT["name"] == "shopsmart"
    assert PROJECT["runtime"] == {
        "name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}
    }
    assert PROJECT["main"] == "infra/"
    assert (ROOT / "infra" / "__main__.py").is_file()


def test_every_key_the_settings_model_reads_is_declared_and_nothing_else():
    assert project_keys() == set(settings._KEYS) | {"dbMasterPassword"}


def test_declared_types_are_ones_pulumi_accepts():
    for key, declaration in DECLARED.items():
        if "type" in declaration:
            assert declaration["type"] in PULUMI_TYPES, key
        if declaration.get("type") == "array":
            assert "items" in declaration, key


def test_every_project_key_is_described_and_only_declarations_use_value_keys():
    for key, declaration in DECLARED.items():
        if key.startswith("shopsmart:"):
            assert declaration["description"].strip(), key
            assert "value" not in declaration, key
        else:
            assert set(declaration) == {"value"}, key


def test_structured_keys_are_declared_without_a_type():
    untyped = {
        k.split(":", 1)[1] for k, d in DECLARED.items()
        if k.startswith("shopsmart:") and "type" not in d
    }
    assert untyped == {
        "capacity", "db", "dns", "objectives", "evidence", "contacts", "dbMasterPassword"
    }


def test_the_master_password_is_secret_with_an_empty_default_so_the_other_stack_may_omit_it():
    assert DECLARED["shopsmart:dbMasterPassword"]["secret"] is True
    assert DECLARED["shopsmart:dbMasterPassword"]["default"] == ""


def test_default_providers_are_disabled_for_aws():
    assert DECLARED["pulumi:disable-default-providers"] == {"value": ["aws"]}


def _values(stack: str) -> tuple[str, dict]:
    config = read_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    values = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("shopsmart:")}
    return config["aws:region"], values


@pytest.mark.parametrize("key", sorted(k for k in project_keys() if "default" in
                                       DECLARED[f"shopsmart:{k}"]))
def test_a_project_default_means_the_same_as_leaving_the_key_out(key):
    region, values = _values("secondary")
    without = {k: v for k, v in values.items() if k != key}
    with_default = {**without, key: DECLARED[f"shopsmart:{key}"]["default"]}
    assert settings.parse("secondary", "x", region, with_default) == settings.parse(
        "secondary", "x", region, without
    )


@pytest.mark.parametrize("key", sorted(k for k in project_keys() if "default" not in
                                       DECLARED[f"shopsmart:{k}"]))
def test_a_key_without_project_default_is_required_by_the_settings_model(key):
    region, values = _values("primary")
    without = {k: v for k, v in values.items() if k != key}
    with pytest.raises(SettingsError, match="required key is missing"):
        settings.parse("primary", "Pulumi.primary.yaml", region, without)


def test_both_stack_files_load_with_the_project_file_beside_them():
    assert load_stack_file(ROOT / "Pulumi.primary.yaml").is_home is True
    assert load_stack_file(ROOT / "Pulumi.secondary.yaml").is_home is False
