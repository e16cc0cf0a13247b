"""Run the real program entry (``infra/__main__.py``) offline, under Pulumi mocks.

Config comes from a real stack file, with the project defaults of ``Pulumi.yaml`` applied
the way the CLI applies them, plus optional overrides (a flipped role, a broken value).
What the program declares is returned as a ``Recording``: every resource with its resolved
inputs, the options that matter for DR (protect, ignore_changes, provider, parent) and the
region of its provider. Mocks alone never see resource options, so a stack transformation
records them as each resource is constructed.

Each run happens in a fresh ``contextvars.Context``: Pulumi keeps its runtime state (settings,
root stack, config) in context variables, so runs in one process cannot see each other.
"""

from __future__ import annotations

import contextvars
import json
import runpy
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings as runtime_settings
from pulumi.runtime.stack import register_stack_transformation, run_in_stack
from pulumi.runtime.sync_await import _sync_await
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from dr import naming
from dr.settings import STACKS, SettingsError, read_stack_file, stack_file
from infra.mocks import (
    DEFAULT_ZONES, SECRET, AwsMocks, RecordedCall, physical_name, render,
)

ROOT = Path(__file__).resolve().parent.parent
DUMMY_PASSWORD = "offline-dummy-password"
PASSWORD_KEY = f"{naming.PROJECT}:dbMasterPassword"

_LOCK = threading.Lock()  # the event loop of the calling thread is shared between runs


@dataclass(frozen=True)
class RecordedResource:
    type: str  # e.g. "aws:rds/cluster:Cluster"
    name: str  # logical
    urn: str
    physical_name: str | None
    region: str | None  # from its provider
    inputs: dict  # resolved, secrets unwrapped to "[secret]"
    protect: bool
    ignore_changes: tuple[str, ...]
    parent: str | None
    provider: str | None  # URN of the provider resource


@dataclass(frozen=True)
class Recording:
    stack: str
    resources: list[RecordedResource]
    outputs: dict
    calls: list[RecordedCall] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)  # as the program saw it
    notes: tuple[str, ...] = ()  # what the run supplied that the stack file did not

    @property
    def dummy_password(self) -> bool:
        return any(PASSWORD_KEY in note for note in self.notes)

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> RecordedResource:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name!r}")
        return found[0]


def run_stack(
    stack: str,
    project_dir: Path = ROOT,
    overrides: dict[str, Any] | None = None,
    *,
    zones: Mapping[str, Iterable[tuple[str, str, str]]] | None = None,
    dummy_password: bool = True,
) -> Recording:
    """Run the program for ``stack`` with config from ``project_dir``.

    overrides: config keys to replace (``role`` means ``shopsmart:role``; ``aws:region`` is
    written out); a value of None removes the key. zones: per region, the AZs the mocked
    provider reports. dummy_password: give a home stack without a password a dummy secret
    (stack files in a checkout hold none). Raises what the program raises (``SettingsError``
    for bad config).
    """
    if stack not in STACKS:
        raise SettingsError(
            f"Pulumi.{stack}.yaml", "", f"unknown stack {stack!r}; use {' or '.join(STACKS)}"
        )
    config, secret_keys, notes = stack_config(
        stack, Path(project_dir), overrides or {}, dummy_password
    )
    mocks = AwsMocks({**DEFAULT_ZONES, **{k: tuple(v) for k, v in (zones or {}).items()}})
    with _LOCK:
        return contextvars.Context().run(
            _run, stack, Path(project_dir), config, secret_keys, notes, mocks
        )


def stack_config(
    stack: str, project_dir: Path, overrides: Mapping[str, Any], dummy_password: bool = True
) -> tuple[dict[str, str], list[str], tuple[str, ...]]:
    """The config map the CLI would hand the program: strings, structured values as JSON."""
    raw = {**_project_values(project_dir), **read_stack_file(stack_file(project_dir, stack))}
    for key, value in overrides.items():
        key = key if ":" in key else f"{naming.PROJECT}:{key}"
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    for key, default in _project_defaults(project_dir).items():
        raw.setdefault(key, default)

    notes: list[str] = []
    secret_keys = [k for k, v in raw.items() if isinstance(v, Mapping) and "secure" in v]
    for key in secret_keys:
        raw[key] = DUMMY_PASSWORD if key == PASSWORD_KEY else SECRET
        notes.append(f"{key}: encrypted in the stack file; a dummy secret was supplied")
    db = raw.get(f"{naming.PROJECT}:db")
    is_home = isinstance(db, Mapping) and db.get("homeRegion") == raw.get("aws:region")
    if dummy_password and is_home and not raw.get(PASSWORD_KEY):
        raw[PASSWORD_KEY] = DUMMY_PASSWORD
        secret_keys.append(PASSWORD_KEY)
        notes.append(f"{PASSWORD_KEY}: not set for the home stack; a dummy secret was supplied")
    if raw.get(PASSWORD_KEY):
        secret_keys.append(PASSWORD_KEY)  # however it arrived, it is shown as a secret
    config = {key: _config_text(value) for key, value in raw.items()}
    return config, sorted(set(secret_keys)), tuple(notes)


def _project_file(project_dir: Path) -> dict:
    """Pulumi.yaml, whose defaults the CLI applies; a project without one is no project."""
    path = project_dir / "Pulumi.yaml"
    if not path.is_file():
        raise SettingsError(path.name, "", f"file not found at {path}")
    try:
        document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(path.name, "", f"cannot be read at {path}: {err}") from None
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(path.name, "", f"malformed YAML{line}: {err}") from None
    if not isinstance(document, Mapping):
        raise SettingsError(path.name, "", "expected a mapping (name, runtime, main, config)")
    return document


def _project_defaults(project_dir: Path) -> dict[str, Any]:
    declared = _project_file(project_dir).get("config") or {}
    return {k: v["default"] for k, v in declared.items()
            if isinstance(v, Mapping) and "default" in v}


def _project_values(project_dir: Path) -> dict[str, Any]:
    declared = _project_file(project_dir).get("config") or {}
    return {k: v["value"] for k, v in declared.items() if isinstance(v, Mapping) and "value" in v}


def _config_text(value: Any) -> str:
    plain = _plain(value)
    if isinstance(plain, bool):
        return "true" if plain else "false"
    if isinstance(plain, (dict, list)):
        return json.dumps(plain)
    return str(plain)


def _plain(value: Any) -> Any:
    """ruamel's round-trip scalars and containers as plain JSON types."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value]


# --- the run -------------------------------------------------------------------------------

def _run(stack: str, project_dir: Path, config: dict[str, str], secret_keys: list[str],
         notes: tuple[str, ...], mocks: "AwsMocks") -> Recording:
    monitor = _Monitor(mocks)
    runtime_settings.configure(runtime_settings.Settings(
        project=naming.PROJECT, stack=stack, monitor=monitor,
        engine=pulumi_mocks.MockEngine(None), dry_run=False,
        root_directory=str(project_dir),
    ))
    pulumi.runtime.set_all_config(config, secret_keys)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    constructed: list[tuple[pulumi.Resource, pulumi.ResourceOptions]] = []
    root: list[Any] = []

    def remember(args: pulumi.ResourceTransformationArgs) -> None:
        constructed.append((args.resource, args.opts))

    def program() -> None:
        root.append(runtime_settings.get_root_resource())
        register_stack_transformation(remember)
        runpy.run_path(str(ROOT / "infra"), run_name="__main__")

    _sync_await(run_in_stack(program))
    resources = [_record(resource, opts, monitor) for resource, opts in constructed]
    outputs = {name: _resolve(value) for name, value in root[0].outputs.items()}
    shown = {k: SECRET if k in secret_keys else v for k, v in config.items()}
    return Recording(stack, resources, outputs, list(mocks.calls), shown, notes)


def _urn(resource: pulumi.Resource | None) -> str | None:
    return None if resource is None else _sync_await(resource.urn.future())


def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    if _sync_await(output.is_secret()):
        return SECRET
    return render(_sync_await(output.future()))


def _record(resource: pulumi.Resource, opts: pulumi.ResourceOptions,
            monitor: "_Monitor") -> RecordedResource:
    urn = _urn(resource)
    registered = monitor.registered.get(urn, {})
    inputs = registered.get("inputs", {})
    # The Resource holds the effective options (protect and provider inherited from the
    # parent); the transformation saw only what the program passed. These are private
    # attributes of the SDK's Resource, stable across pulumi 3.x (pyproject pins <4).
    provider = getattr(resource, "_provider", None)
    if provider is None:
        provider = (getattr(resource, "_providers", None) or {}).get("aws")
    provider_urn = _urn(provider)
    region = inputs.get("region") if resource._type.startswith("pulumi:providers:") else None
    return RecordedResource(
        type=resource._type,
        name=resource._name,
        urn=urn,
        physical_name=physical_name(inputs),
        region=region or monitor.region_of_urn(provider_urn),
        inputs=inputs,
        protect=bool(getattr(resource, "_protect", None)),
        ignore_changes=tuple(opts.ignore_changes or ()),
        parent=_urn(opts.parent),
        provider=provider_urn,
    )


# --- the monitor: registrations by URN -------------------------------------------------

class _Monitor(pulumi_mocks.MockMonitor):
    """Keeps each registration's inputs by URN, and the region of each provider."""

    def __init__(self, mocks: "AwsMocks") -> None:
        super().__init__(mocks)
        self.registered: dict[str, dict] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine leaves the root stack out of its children's type chain; the stock
        # mock monitor does not, which would give URNs no real deployment has.
        if "::pulumi:pulumi:Stack::" in parent:
            parent = ""
        return super().make_urn(parent, type_, name)

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = render(rpc.deserialize_properties(request.object))
            self.registered[response.urn] = {"inputs": inputs, "provider": request.provider}
        return response

    def region_of_urn(self, provider_urn: str | None) -> str | None:
        found = self.registered.get(provider_urn or "", {})
        return found.get("inputs", {}).get("region")
