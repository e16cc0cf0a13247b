"""dr.settings: every bad input is refused with a message naming file, key and problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from dr.settings import (
    SettingsError, from_pulumi_config, load_pair, load_stack_file, read_stack_file,
)

ROOT = Path(__file__).resolve().parents[2]
_MISSING = object()


def project(tmp_path: Path) -> Path:
    for stack in ("primary", "secondary"):
        shutil.copy(ROOT / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    return tmp_path


def edit(directory: Path, stack: str, **changes) -> Path:
    """Change ``shopsmart:`` keys of a stack file; dotted paths reach into mappings
    (``db__engineVersion``); a value of _MISSING removes the key."""
    path = directory / f"Pulumi.{stack}.yaml"
    yaml = YAML(typ="rt")
    document = yaml.load(path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = document["config"]
        if parents:
            node = node[f"shopsmart:{parents[0]}"]
            for part in parents[1:]:
                node = node[part]
        else:
            leaf = leaf if ":" in leaf else f"shopsmart:{leaf}"
        if value is _MISSING:
            del node[leaf]
        else:
            node[leaf] = value
    with path.open("w") as stream:
        yaml.dump(document, stream)
    return path


def refused(path: Path) -> str:
    with pytest.raises(SettingsError) as caught:
        load_stack_file(path)
    return str(caught.value)


def refused_pair(directory: Path) -> str:
    with pytest.raises(SettingsError) as caught:
        load_pair(directory)
    return str(caught.value)


def test_the_checked_in_stack_files_are_a_valid_pair():
    stacks = load_pair(ROOT)
    assert (stacks.primary.region, stacks.secondary.region) == ("us-east-1", "us-west-2")
    assert (stacks.primary.is_home, stacks.secondary.is_home) == (True, False)
    assert stacks.secondary.role_capacity.desired == 1


def test_unknown_region(tmp_path):
    path = edit(project(tmp_path), "primary", **{"aws:region": "us-east-9"})
    assert refused(path) == (
        "Pulumi.primary.yaml: aws:region: unknown or missing region 'us-east-9'")


def test_missing_region(tmp_path):
    path = edit(project(tmp_path), "primary", **{"aws:region": _MISSING})
    assert refused(path) == "Pulumi.primary.yaml: aws:region: unknown or missing region None"


def test_unknown_peer_region(tmp_path):
    path = edit(project(tmp_path), "primary", peerRegion="mars-north-1")
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:peerRegion: must be a known AWS region,"
        " found 'mars-north-1'")


def test_peer_region_equal_to_own_region(tmp_path):
    path = edit(project(tmp_path), "secondary", peerRegion="us-west-2")
    assert refused(path) == (
        "Pulumi.secondary.yaml: shopsmart:peerRegion: equals this stack's own region us-west-2")


def test_both_stack_files_claiming_primary(tmp_path):
    directory = project(tmp_path)
    edit(directory, "secondary", role="primary")
    assert refused_pair(directory) == (
        "Pulumi.primary.yaml + Pulumi.secondary.yaml: shopsmart:role: both claim role"
        " primary; exactly one must")


def test_neither_stack_file_claiming_primary(tmp_path):
    directory = project(tmp_path)
    edit(directory, "primary", role="secondary")
    assert refused_pair(directory) == (
        "Pulumi.primary.yaml + Pulumi.secondary.yaml: shopsmart:role: neither claims role"
        " primary; exactly one must")


def test_unknown_role(tmp_path):
    path = edit(project(tmp_path), "primary", role="standby")
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:role: must be one of primary, secondary, found 'standby'")


def test_az_count_below_two(tmp_path):
    path = edit(project(tmp_path), "primary", azCount=1)
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:azCount: must be an integer >= 2, found 1")


@pytest.mark.parametrize("key, value", [
    ("rpoS", 0), ("rtoS", -5), ("rpoS", "soon"), ("rpoS", float("nan")), ("rtoS", float("inf")),
])
def test_objectives_not_positive(tmp_path, key, value):
    path = edit(project(tmp_path), "secondary", **{f"objectives__{key}": value})
    assert refused(path) == (
        f"Pulumi.secondary.yaml: shopsmart:objectives.{key}: must be a positive number,"
        f" found {value!r}")


def test_capacity_min_above_max(tmp_path):
    path = edit(project(tmp_path), "primary", capacity__standby__min=7)
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:capacity.standby: needs min <= desired <= max,"
        " found min 7, desired 1, max 6")


def test_capacity_desired_above_max(tmp_path):
    path = edit(project(tmp_path), "primary", capacity__active__desired=9)
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:capacity.active: needs min <= desired <= max,"
        " found min 2, desired 9, max 6")


@pytest.mark.parametrize("key, shown", [
    ("domain", "domain"), ("hostedZoneId", "hostedZoneId"), ("amiId", "amiId"),
    ("role", "role"), ("objectives", "objectives.rtoS"), ("capacity", "capacity.active.min"),
    ("db", "db.engine"), ("peerRegion", "peerRegion"),
])
def test_missing_required_key(tmp_path, key, shown):
    path = edit(project(tmp_path), "primary", **{key: _MISSING})
    assert refused(path) == f"Pulumi.primary.yaml: shopsmart:{shown}: required key is missing"


def test_missing_nested_required_key(tmp_path):
    path = edit(project(tmp_path), "secondary", db__homeRegion=_MISSING)
    assert refused(path) == (
        "Pulumi.secondary.yaml: shopsmart:db.homeRegion: required key is missing")


def test_malformed_yaml(tmp_path):
    path = project(tmp_path) / "Pulumi.primary.yaml"
    path.write_text("config:\n  shopsmart:role: primary\n   bad: [indent\n")
    message = refused(path)
    assert message.startswith("Pulumi.primary.yaml: malformed YAML at line 3: ")


def test_file_without_a_config_section(tmp_path):
    path = project(tmp_path) / "Pulumi.primary.yaml"
    path.write_text("encryptionsalt: v1:abc\n")
    assert refused(path) == "Pulumi.primary.yaml: expected a mapping with a 'config:' section"


def test_missing_file(tmp_path):
    with pytest.raises(SettingsError) as caught:
        read_stack_file(tmp_path / "Pulumi.primary.yaml")
    assert str(caught.value) == (
        f"Pulumi.primary.yaml: file not found at {tmp_path / 'Pulumi.primary.yaml'}")


@pytest.mark.parametrize("key, value, problem", [
    ("dns__healthCheckIntervalS", 20, "must be one of 10, 30, found 20"),
    ("dns__failureThreshold", 11, "must be an integer >= 1 and <= 10, found 11"),
    ("dns__healthPath", "health", "must start with '/', found 'health'"),
    ("dns__ttl", 0, "must be an integer >= 1, found 0"),
    ("db__engine", "aurora-mysql", "must be one of aurora-postgresql, found 'aurora-mysql'"),
    ("db__instances", 0, "must be an integer >= 1, found 0"),
    ("db__deletionProtection", "maybe", "must be true or false, found 'maybe'"),
    ("instanceType", "", "must be a non-empty string, found ''"),
])
def test_out_of_range_values(tmp_path, key, value, problem):
    path = edit(project(tmp_path), "primary", **{key: value})
    shown = key.replace("__", ".")
    assert refused(path) == f"Pulumi.primary.yaml: shopsmart:{shown}: {problem}"


def test_evidence_rule_needing_more_signals_than_exist(tmp_path):
    path = edit(project(tmp_path), "primary", evidence__required=5)
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:evidence: required (5) exceeds of (4)")


def test_home_region_that_is_neither_stack(tmp_path):
    path = edit(project(tmp_path), "primary", db__homeRegion="eu-west-1")
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:db.homeRegion: eu-west-1 is neither us-east-1"
        " nor us-west-2")


def test_unknown_contact_role(tmp_path):
    directory = project(tmp_path)
    path = directory / "Pulumi.primary.yaml"
    path.write_text(path.read_text().replace("- role: management", "- role: boss"))
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:contacts[2].role: must be one of primary, secondary,"
        " management, aws-support, found 'boss'")


def test_contacts_that_are_not_a_list(tmp_path):
    path = edit(project(tmp_path), "primary", contacts="oncall@example.com")
    assert refused(path) == "Pulumi.primary.yaml: shopsmart:contacts: must be a list of contacts"


def test_master_password_on_the_stack_that_is_not_home(tmp_path):
    path = edit(project(tmp_path), "secondary", dbMasterPassword={"secure": "v1:abc"})
    assert refused(path) == (
        "Pulumi.secondary.yaml: shopsmart:dbMasterPassword: set on a stack that is not the"
        " database's home (us-east-1); a secondary cluster must not carry master credentials")


def test_an_empty_master_password_counts_as_unset(tmp_path):
    path = edit(project(tmp_path), "secondary", dbMasterPassword="")
    assert load_stack_file(path).has_master_password is False


@pytest.mark.parametrize("stack, key, value, message", [
    ("primary", "peerRegion", "eu-west-1",
     "Pulumi.primary.yaml: shopsmart:peerRegion: is eu-west-1 but the other stack is in"
     " us-west-2"),
    ("secondary", "db__homeRegion", "us-west-2",
     "Pulumi.primary.yaml + Pulumi.secondary.yaml: shopsmart:db.homeRegion: stacks disagree"
     " (us-east-1 vs us-west-2)"),
    ("secondary", "db__engineVersion", "16.1",
     "Pulumi.primary.yaml + Pulumi.secondary.yaml: shopsmart:db.engineVersion: stacks"
     " disagree (15.4 vs 16.1); managed failover needs the same engine and version"),
    ("secondary", "domain", "shop.example.org",
     "Pulumi.primary.yaml + Pulumi.secondary.yaml: shopsmart:domain: stacks disagree"
     " (shop.example.com vs shop.example.org); both failover records must be one name"
     " in one hosted zone"),
    ("secondary", "hostedZoneId", "Z99999999EXAMPLE9999",
     "Pulumi.primary.yaml + Pulumi.secondary.yaml: shopsmart:hostedZoneId: stacks disagree"
     " (Z00000000EXAMPLE0000 vs Z99999999EXAMPLE9999); both failover records must be one"
     " name in one hosted zone"),
])
def test_stacks_that_disagree(tmp_path, stack, key, value, message):
    directory = project(tmp_path)
    edit(directory, stack, **{key: value})
    assert refused_pair(directory) == message


def test_both_stacks_in_one_region(tmp_path):
    directory = project(tmp_path)
    edit(directory, "secondary", **{"aws:region": "us-east-1", "peerRegion": "us-west-2"})
    assert refused_pair(directory) == (
        "Pulumi.primary.yaml + Pulumi.secondary.yaml: both stacks deploy to us-east-1")


def test_a_refused_load_writes_nothing(tmp_path):
    directory = project(tmp_path)
    path = edit(directory, "primary", azCount=1)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    refused(path)
    with pytest.raises(SettingsError):
        load_pair(directory)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before


class PulumiConfig:
    """What the program's ``pulumi.Config("shopsmart")`` offers: strings and JSON objects."""

    def __init__(self, values: dict) -> None:
        self.values = values

    def get(self, key):
        # Like pulumi.Config.get: the text as stored, structured values as JSON.
        value = self.values.get(key)
        if value is None:
            return None
        return json.dumps(_plain(value)) if isinstance(value, (dict, list)) else str(value)



def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _pulumi_values(stack: str) -> dict:
    config = read_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    return {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("shopsmart:")}


def test_pulumi_config_gives_the_same_settings_as_the_file():
    values = _pulumi_values("secondary")
    from_program = from_pulumi_config("secondary", "us-west-2", PulumiConfig(values))
    assert from_program == load_stack_file(ROOT / "Pulumi.secondary.yaml")


def test_pulumi_config_is_validated_the_same_way():
    values = {**_pulumi_values("primary"), "azCount": "1"}
    with pytest.raises(SettingsError) as caught:
        from_pulumi_config("primary", "us-east-1", PulumiConfig(values))
    assert str(caught.value) == (
        "Pulumi.primary.yaml: shopsmart:azCount: must be an integer >= 2, found 1")


def test_pulumi_config_with_the_projects_empty_password_default_is_unset():
    values = {**_pulumi_values("secondary"), "dbMasterPassword": ""}
    assert from_pulumi_config("secondary", "us-west-2", PulumiConfig(values)).has_master_password \
        is False


# --- files and values a newcomer gets wrong ------------------------------------------------

def test_a_stack_file_that_is_not_utf8(tmp_path):
    path = project(tmp_path) / "Pulumi.primary.yaml"
    path.write_bytes(path.read_text().replace("Example Primary", "Exampl\xe9").encode("latin-1"))
    assert refused(path) == (
        "Pulumi.primary.yaml: is not UTF-8 text (byte 0xe9 at offset 1798); save it as UTF-8")


def test_a_directory_where_the_stack_file_should_be(tmp_path):
    (tmp_path / "Pulumi.primary.yaml").mkdir()
    assert refused(tmp_path / "Pulumi.primary.yaml") == (
        f"Pulumi.primary.yaml: cannot be read at {tmp_path / 'Pulumi.primary.yaml'}:"
        " Is a directory")


def test_a_stack_file_that_cannot_be_read(tmp_path, monkeypatch):
    path = project(tmp_path) / "Pulumi.primary.yaml"

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    # Root reads any file whatever its mode, so the refusal is simulated where it happens.
    monkeypatch.setattr(Path, "read_text", denied)
    assert refused(path) == f"Pulumi.primary.yaml: cannot be read at {path}: Permission denied"


def test_a_stack_file_indented_with_tabs(tmp_path):
    path = project(tmp_path) / "Pulumi.primary.yaml"
    path.write_text(path.read_text().replace("  shopsmart:azCount: 2", "\tshopsmart:azCount: 2"))
    assert refused(path).startswith("Pulumi.primary.yaml: malformed YAML at line 13: ")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "config:\n"])
def test_an_empty_stack_file(tmp_path, text):
    path = project(tmp_path) / "Pulumi.primary.yaml"
    path.write_text(text)
    assert refused(path) == "Pulumi.primary.yaml: expected a mapping with a 'config:' section"


@pytest.mark.parametrize("key, value, shown", [
    ("dns", [10, 3], "dns: must be a mapping, found [10, 3]"),
    ("dns", "fast", "dns: must be a mapping, found 'fast'"),
    ("db", ["aurora-postgresql"], "db: must be a mapping, found ['aurora-postgresql']"),
    ("capacity__standby", "big", "capacity.standby: must be a mapping, found 'big'"),
    ("contacts", ["oncall@example.com"],
     "contacts[0]: must be a mapping, found 'oncall@example.com'"),
    ("contacts", "oncall@example.com", "contacts: must be a list of contacts"),
])
def test_structured_values_of_the_wrong_type(tmp_path, key, value, shown):
    path = edit(project(tmp_path), "primary", **{key: value})
    assert refused(path) == f"Pulumi.primary.yaml: shopsmart:{shown}"


def test_a_misspelt_nested_key_is_refused_not_ignored(tmp_path):
    path = edit(project(tmp_path), "primary", dns__failurethreshold=1)
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:dns.failurethreshold: unknown key; dns takes ttl,"
        " healthCheckIntervalS, failureThreshold, healthPath")


def test_a_misspelt_key_is_refused_not_ignored(tmp_path):
    path = edit(project(tmp_path), "primary", azcount=3)
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:azcount: unknown key; the keys are role, peerRegion,"
        " domain, hostedZoneId, azCount, capacity, instanceType, amiId, db, dns, objectives,"
        " evidence, contacts, dbMasterPassword")


def test_backup_retention_beyond_what_aurora_allows(tmp_path):
    path = edit(project(tmp_path), "primary", db__backupRetentionDays=36)
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:db.backupRetentionDays: must be an integer >= 1 and"
        " <= 35, found 36")


def test_pulumi_config_with_a_structured_value_that_is_not_json():
    values = {**_pulumi_values("primary"), "dns": "fast"}
    with pytest.raises(SettingsError) as caught:
        from_pulumi_config("primary", "us-east-1", PulumiConfig(values))
    assert str(caught.value) == (
        "Pulumi.primary.yaml: shopsmart:dns: must be a mapping, found 'fast'")


def test_a_master_password_in_plain_text_is_refused(tmp_path):
    path = edit(project(tmp_path), "primary", dbMasterPassword="hunter2-but-longer")
    assert refused(path) == (
        "Pulumi.primary.yaml: shopsmart:dbMasterPassword: is in plain text in the stack file,"
        " where git keeps it; remove the line and run `pulumi config set --secret -s primary"
        " shopsmart:dbMasterPassword <a long random string>`")
