"""Typed stack configuration, shared by the Pulumi program and the runtime.

The same validation runs whether the values come from a stack file on disk (the tasks and
the engine, which never need Pulumi) or from ``pulumi.Config`` (the program). A bad value
raises ``SettingsError`` naming the file, the key and the problem; loading never writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

NAMESPACE = "shopsmart"
STACKS = ("primary", "secondary")
ROLES = ("primary", "secondary")
ENGINES = ("aurora-postgresql",)

# Commercial regions that offer Aurora global databases; a typo in a region is the most
# common way to deploy nothing where one meant to.
REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2",
        "ca-central-1", "ca-west-1", "sa-east-1", "mx-central-1",
        "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-central-2",
        "eu-north-1", "eu-south-1", "eu-south-2",
        "ap-south-1", "ap-south-2", "ap-east-1", "ap-northeast-1", "ap-northeast-2",
        "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
        "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
        "me-south-1", "me-central-1", "il-central-1", "af-south-1",
    }
)


class SettingsError(ValueError):
    """A stack file or stack config that cannot be used as it is."""

    def __init__(self, origin: str, key: str, problem: str) -> None:
        self.origin = origin
        self.key = key
        self.problem = problem
        where = f"{origin}: {NAMESPACE}:{key}" if key else origin
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Capacity:
    """Instances per AZ for one Auto Scaling group."""

    min: int
    desired: int
    max: int


@dataclass(frozen=True)
class CapacityPlan:
    active: Capacity
    standby: Capacity


@dataclass(frozen=True)
class Database:
    engine: str
    engine_version: str
    instance_class: str
    instances: int
    backup_retention_days: int
    deletion_protection: bool
    home_region: str


@dataclass(frozen=True)
class Dns:
    ttl: int
    health_check_interval_s: int
    failure_threshold: int
    health_path: str


@dataclass(frozen=True)
class Objectives:
    """The DR plan's targets; rpo_s is also the budget for an unplanned promotion."""

    rto_s: float
    rpo_s: float


@dataclass(frozen=True)
class EvidenceRule:
    """Failover of a major incident needs ``required`` of ``of`` signals to agree."""

    required: int
    of: int


@dataclass(frozen=True)
class Contact:
    role: str
    name: str
    email: str
    phone: str


@dataclass(frozen=True)
class StackSettings:
    stack: str
    origin: str
    region: str
    role: str
    peer_region: str
    domain: str
    hosted_zone_id: str
    az_count: int
    capacity: CapacityPlan
    instance_type: str
    ami_id: str
    db: Database
    dns: Dns
    objectives: Objectives
    evidence: EvidenceRule
    contacts: tuple[Contact, ...]
    has_master_password: bool

    @property
    def is_primary(self) -> bool:
        return self.role == "primary"

    @property
    def is_home(self) -> bool:
        """True for the stack that founded, and keeps owning, the global database."""
        return self.db.home_region == self.region

    @property
    def role_capacity(self) -> Capacity:
        return self.capacity.active if self.is_primary else self.capacity.standby


@dataclass(frozen=True)
class StackPair:
    """Both stacks, checked against each other."""

    primary: StackSettings
    secondary: StackSettings

    def by_region(self, region: str) -> StackSettings:
        for stack in (self.primary, self.secondary):
            if stack.region == region:
                return stack
        raise KeyError(region)


# --- loading -------------------------------------------------------------------------------

def stack_file(project_dir: Path | str, stack: str) -> Path:
    return Path(project_dir) / f"Pulumi.{stack}.yaml"


def read_stack_file(path: Path | str) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file, as written (ruamel round-trip types)."""
    path = Path(path)
    origin = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(origin, "", f"file not found at {path}") from None
    except OSError as err:  # a directory in its place, no permission to read it, ...
        raise SettingsError(origin, "", f"cannot be read at {path}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise SettingsError(
            origin, "", f"is not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset"
            f" {err.start}); save it as UTF-8",
        ) from None
    try:
        document = YAML(typ="rt").load(text)
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(origin, "", f"malformed YAML{line}: {err}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("config"), Mapping):
        raise SettingsError(origin, "", "expected a mapping with a 'config:' section")
    return dict(document["config"])


def load_stack_file(path: Path | str) -> StackSettings:
    path = Path(path)
    config = read_stack_file(path)
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    region = config.get("aws:region")
    values = {
        key.split(":", 1)[1]: value
        for key, value in config.items()
        if key.startswith(f"{NAMESPACE}:")
    }
    # The CLI writes a secret as {secure: <ciphertext>}; a bare string is the password itself.
    password = values.get("dbMasterPassword")
    if isinstance(password, str) and password:
        raise SettingsError(
            path.name, "dbMasterPassword",
            "is in plain text in the stack file, where git keeps it; remove the line and run"
            f" `pulumi config set --secret -s {stack} {NAMESPACE}:dbMasterPassword"
            " <a long random string>`",
        )
    return parse(stack, path.name, region, values)


def load_pair(project_dir: Path | str) -> StackPair:
    """Both stack files, validated alone and together; raises before anything acts."""
    stacks = [load_stack_file(stack_file(project_dir, name)) for name in STACKS]
    return pair(*stacks)


def pair(first: StackSettings, second: StackSettings) -> StackPair:
    origin = f"{first.origin} + {second.origin}"
    primaries = [s for s in (first, second) if s.is_primary]
    if len(primaries) != 1:
        claim = "both claim" if primaries else "neither claims"
        raise SettingsError(origin, "role", f"{claim} role primary; exactly one must")
    if first.region == second.region:
        raise SettingsError(origin, "", f"both stacks deploy to {first.region}")
    for a, b in ((first, second), (second, first)):
        if a.peer_region != b.region:
            raise SettingsError(
                a.origin, "peerRegion", f"is {a.peer_region} but the other stack is in {b.region}"
            )
    if first.db.home_region != second.db.home_region:
        raise SettingsError(
            origin, "db.homeRegion",
            f"stacks disagree ({first.db.home_region} vs {second.db.home_region})",
        )
    # Route 53 fails over between the records of one name only: two names are two shops.
    for field in ("domain", "hosted_zone_id"):
        if getattr(first, field) != getattr(second, field):
            raise SettingsError(
                origin, _camel(field),
                f"stacks disagree ({getattr(first, field)} vs {getattr(second, field)});"
                " both failover records must be one name in one hosted zone",
            )
    for field in ("engine", "engine_version"):
        if getattr(first.db, field) != getattr(second.db, field):
            raise SettingsError(
                origin, f"db.{_camel(field)}",
                f"stacks disagree ({getattr(first.db, field)} vs {getattr(second.db, field)});"
                " managed failover needs the same engine and version",
            )
    primary = primaries[0]
    secondary = second if primary is first else first
    return StackPair(primary=primary, secondary=secondary)


def from_pulumi_config(stack: str, region: str, config: Any) -> StackSettings:
    """Settings from a ``pulumi.Config(NAMESPACE)``; ``config`` needs ``get``, which gives
    structured values as the JSON text the CLI stores them as."""
    values: dict[str, Any] = {}
    for key in _KEYS:
        value = config.get(key)
        if value is not None and key in _STRUCTURED:
            try:
                value = json.loads(value)
            except ValueError:
                pass  # kept as text, which validation refuses as not a mapping or list
        if value is not None:
            values[key] = value
    # Pulumi.yaml declares an empty default so that the joining stack may leave it unset.
    if config.get("dbMasterPassword"):
        values["dbMasterPassword"] = "<secret>"
    return parse(stack, f"Pulumi.{stack}.yaml", region, values)


# --- validation ----------------------------------------------------------------------------

_STRUCTURED = frozenset({"capacity", "db", "dns", "objectives", "evidence", "contacts"})
_KEYS = (
    "role", "peerRegion", "domain", "hostedZoneId", "azCount", "capacity", "instanceType",
    "amiId", "db", "dns", "objectives", "evidence", "contacts",
)
_DEFAULTS: dict[str, Any] = {
    "azCount": 2,
    "instanceType": "t3.small",
    "evidence": {"required": 2, "of": 4},
    "contacts": [],
}


# The keys each structured value takes; a misspelt key would otherwise fall back to a
# default without a word (a check interval of 10 s where 30 s was meant).
_NESTED_KEYS: dict[str, tuple[str, ...]] = {
    "capacity": ("active", "standby"),
    "capacity.active": ("min", "desired", "max"),
    "capacity.standby": ("min", "desired", "max"),
    "db": ("engine", "engineVersion", "instanceClass", "instances", "backupRetentionDays",
           "deletionProtection", "homeRegion"),
    "dns": ("ttl", "healthCheckIntervalS", "failureThreshold", "healthPath"),
    "objectives": ("rtoS", "rpoS"),
    "evidence": ("required", "of"),
    "contacts[]": ("role", "name", "email", "phone"),
}
_ALL_KEYS = (*_KEYS, "dbMasterPassword")


def _refuse_unknown_keys(origin: str, values: Mapping[str, Any]) -> None:
    for key in values:
        if key not in _ALL_KEYS:
            raise SettingsError(
                origin, key, f"unknown key; the keys are {', '.join(_ALL_KEYS)}")
    for parent, known in _NESTED_KEYS.items():
        if parent.endswith("[]"):
            listed = values.get(parent[:-2])
            listed = listed if isinstance(listed, list) else []
            nodes = [(f"{parent[:-2]}[{i}]", node) for i, node in enumerate(listed)]
        else:
            node: Any = values
            for part in parent.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            nodes = [(parent, node)]
        for where, node in nodes:
            for key in node if isinstance(node, Mapping) else ():
                if key not in known:
                    raise SettingsError(
                        origin, f"{where}.{key}",
                        f"unknown key; {parent.removesuffix('[]')} takes {', '.join(known)}")


def parse(stack: str, origin: str, region: Any, values: Mapping[str, Any]) -> StackSettings:
    _refuse_unknown_keys(origin, values)
    read = _Reader(origin, {**_DEFAULTS, **values})
    if not isinstance(region, str) or region not in REGIONS:
        raise SettingsError(origin, "", f"aws:region: unknown or missing region {region!r}")
    role = read.choice("role", ROLES)
    peer = read.choice("peerRegion", sorted(REGIONS))
    if peer == region:
        raise SettingsError(origin, "peerRegion", f"equals this stack's own region {region}")
    az_count = read.integer("azCount", minimum=2)
    capacity = CapacityPlan(
        active=_capacity(read, "capacity.active"),
        standby=_capacity(read, "capacity.standby"),
    )
    db = Database(
        engine=read.choice("db.engine", ENGINES),
        engine_version=read.text("db.engineVersion"),
        instance_class=read.text("db.instanceClass"),
        instances=read.integer("db.instances", minimum=1, default=2),
        backup_retention_days=read.integer("db.backupRetentionDays", minimum=1, maximum=35,
                                           default=7),
        deletion_protection=read.boolean("db.deletionProtection", default=True),
        home_region=read.choice("db.homeRegion", sorted(REGIONS)),
    )
    if db.home_region not in (region, peer):
        raise SettingsError(
            origin, "db.homeRegion", f"{db.home_region} is neither {region} nor {peer}"
        )
    dns = Dns(
        ttl=read.integer("dns.ttl", minimum=1, default=60),
        health_check_interval_s=read.choice("dns.healthCheckIntervalS", (10, 30), default=10),
        failure_threshold=read.integer("dns.failureThreshold", minimum=1, maximum=10, default=3),
        health_path=read.text("dns.healthPath", default="/health"),
    )
    if not dns.health_path.startswith("/"):
        raise SettingsError(
            origin, "dns.healthPath", f"must start with '/', found {dns.health_path!r}"
        )
    objectives = Objectives(
        rto_s=read.positive("objectives.rtoS"), rpo_s=read.positive("objectives.rpoS")
    )
    evidence = EvidenceRule(
        required=read.integer("evidence.required", minimum=1),
        of=read.integer("evidence.of", minimum=1),
    )
    if evidence.required > evidence.of:
        raise SettingsError(
            origin, "evidence", f"required ({evidence.required}) exceeds of ({evidence.of})"
        )
    is_home = db.home_region == region
    has_master_password = values.get("dbMasterPassword") not in (None, "")
    if not is_home and has_master_password:
        raise SettingsError(
            origin, "dbMasterPassword",
            f"set on a stack that is not the database's home ({db.home_region}); a secondary"
            " cluster must not carry master credentials",
        )
    return StackSettings(
        stack=stack,
        origin=origin,
        region=region,
        role=role,
        peer_region=peer,
        domain=read.text("domain"),
        hosted_zone_id=read.text("hostedZoneId"),
        az_count=az_count,
        capacity=capacity,
        instance_type=read.text("instanceType"),
        ami_id=read.text("amiId"),
        db=db,
        dns=dns,
        objectives=objectives,
        evidence=evidence,
        contacts=_contacts(read),
        has_master_password=has_master_password,
    )


def _capacity(read: "_Reader", key: str) -> Capacity:
    capacity = Capacity(
        min=read.integer(f"{key}.min", minimum=0),
        desired=read.integer(f"{key}.desired", minimum=0),
        max=read.integer(f"{key}.max", minimum=1),
    )
    if not capacity.min <= capacity.desired <= capacity.max:
        raise SettingsError(
            read.origin, key,
            f"needs min <= desired <= max, found min {capacity.min}, desired"
            f" {capacity.desired}, max {capacity.max}",
        )
    return capacity


def _contacts(read: "_Reader") -> tuple[Contact, ...]:
    raw = read.value("contacts")
    if not isinstance(raw, list):
        raise SettingsError(read.origin, "contacts", "must be a list of contacts")
    contacts = []
    for index in range(len(raw)):
        key = f"contacts[{index}]"
        contacts.append(
            Contact(
                role=read.choice(
                    f"{key}.role", ("primary", "secondary", "management", "aws-support")
                ),
                name=read.text(f"{key}.name"),
                email=read.text(f"{key}.email"),
                phone=read.text(f"{key}.phone"),
            )
        )
    return tuple(contacts)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


_MISSING = object()


def _shown(value: Any) -> str:
    """A value as the user wrote it, without ruamel's container class names."""
    if isinstance(value, Mapping):
        return repr({k: v for k, v in value.items()})
    if isinstance(value, list):
        return repr(list(value))
    return repr(value)


class _Reader:
    """Typed access to dotted keys (``db.engineVersion``, ``contacts[0].email``)."""

    def __init__(self, origin: str, values: Mapping[str, Any]) -> None:
        self.origin = origin
        self.values = values

    def value(self, key: str, default: Any = _MISSING) -> Any:
        node: Any = self.values
        walked = ""
        for part in key.replace("[", ".[").split("."):
            if part.startswith("["):
                index = int(part[1:-1])
                node = node[index] if isinstance(node, list) and index < len(node) else _MISSING
            else:
                if walked and node is not None and not isinstance(node, Mapping):
                    raise SettingsError(
                        self.origin, walked, f"must be a mapping, found {_shown(node)}")
                node = node.get(part, _MISSING) if isinstance(node, Mapping) else _MISSING
            if node is _MISSING:
                break
            joint = "" if part.startswith("[") or not walked else "."
            walked = f"{walked}{joint}{part}"
        if node is _MISSING or node is None:
            if default is _MISSING:
                raise SettingsError(self.origin, key, "required key is missing")
            return default
        return node

    def _check(self, key: str, ok: Callable[[Any], bool], want: str, default: Any) -> Any:
        value = self.value(key, default)
        if not ok(value):
            raise SettingsError(self.origin, key, f"must be {want}, found {value!r}")
        return value

    def text(self, key: str, default: Any = _MISSING) -> str:
        return self._check(key, lambda v: isinstance(v, str) and v.strip(), "a non-empty string",
                           default)

    def integer(self, key: str, minimum: int | None = None, maximum: int | None = None,
                default: Any = _MISSING) -> int:
        value = self.value(key, default)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        bounds = "".join(
            [f" >= {minimum}" if minimum is not None else "",
             f" and <= {maximum}" if maximum is not None else ""]
        )
        if (
            isinstance(value, bool) or not isinstance(value, int)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            raise SettingsError(self.origin, key, f"must be an integer{bounds}, found {value!r}")
        return int(value)

    def positive(self, key: str) -> float:
        value = self.value(key)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        # NaN would compare false with every lag, so an RPO budget of NaN never refuses.
        if (
            isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value <= 0
        ):
            raise SettingsError(self.origin, key, f"must be a positive number, found {value!r}")
        return float(value)

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self.value(key, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise SettingsError(self.origin, key, f"must be true or false, found {value!r}")
        return value

    def choice(self, key: str, allowed: Any, default: Any = _MISSING) -> Any:
        value = self.value(key, default)
        if isinstance(value, str) and value.isdigit() and all(isinstance(a, int) for a in allowed):
            value = int(value)
        if value not in allowed:
            shown = (
                "one of " + ", ".join(str(a) for a in allowed) if len(allowed) < 8
                else "a known AWS region"
            )
            raise SettingsError(self.origin, key, f"must be {shown}, found {value!r}")
        return value
