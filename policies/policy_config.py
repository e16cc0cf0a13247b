"""Policy config: the JSON file ``pulumi preview --policy-pack-config`` takes, keyed by policy
name (or ``all``), each entry a level or an object of ``enforcementLevel`` and thresholds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel, Policy

from policies import rules


class PolicyConfigError(ValueError):
    """A policy config file that does not fit the pack's policies or their schemas."""


def load(path: Path | str) -> dict[str, Any]:
    """A ``--policy-pack-config`` JSON file, checked against the pack's schemas."""
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyConfigError(f"policy config {path} not found") from None
    except OSError as err:  # a directory, no permission to read it, ...
        raise PolicyConfigError(f"policy config {path} cannot be read: {err.strerror}") from None
    except ValueError as err:
        raise PolicyConfigError(f"policy config {path} is not valid JSON: {err}") from None
    validate(config, origin=str(path))
    return config


def validate(config: Any, origin: str = "policy config") -> None:
    if not isinstance(config, Mapping):
        raise PolicyConfigError(f"{origin}: expected a JSON object keyed by policy name")
    known = rules.by_name()
    levels = {level.value for level in EnforcementLevel}
    for name, value in config.items():
        if name != "all" and name not in known:
            raise PolicyConfigError(
                f"{origin}: no policy named {name!r}; the pack has {', '.join(known)}")
        if isinstance(value, str):
            value = {"enforcementLevel": value}
        if not isinstance(value, Mapping):
            raise PolicyConfigError(f"{origin}: {name}: expected a level or an object")
        for key, setting in value.items():
            if key == "enforcementLevel":
                if setting not in levels:
                    raise PolicyConfigError(
                        f"{origin}: {name}: enforcementLevel {setting!r} is not one of"
                        f" {', '.join(sorted(levels))}")
                continue
            schema = known[name].config_schema if name in known else None
            spec = schema.properties.get(key) if schema else None
            if spec is None:
                raise PolicyConfigError(f"{origin}: {name}: unknown setting {key!r}")
            _check_setting(f"{origin}: {name}.{key}", spec, setting)


def _check_setting(where: str, spec: Mapping[str, Any], value: Any) -> None:
    if spec.get("type") == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise PolicyConfigError(f"{where}: must be an integer, found {value!r}")
        if value < spec.get("minimum", value) or value > spec.get("maximum", value):
            raise PolicyConfigError(
                f"{where}: {value} is outside {spec.get('minimum')}..{spec.get('maximum', '')}")
    elif spec.get("type") == "string" and not isinstance(value, str):
        raise PolicyConfigError(f"{where}: must be a string, found {value!r}")


def level(policy: Policy, config: Mapping[str, Any]) -> EnforcementLevel:
    """The policy's own level, then the config's "all", then the config's own entry."""
    level = policy.enforcement_level or rules.PACK_ENFORCEMENT
    for key in ("all", policy.name):
        value = config.get(key)
        chosen = value if isinstance(value, str) else (value or {}).get("enforcementLevel")
        if chosen:
            level = EnforcementLevel(chosen)
    return level


def settings(policy: Policy, config: Mapping[str, Any]) -> dict[str, Any]:
    """What the policy's validation gets from ``args.get_config()``: defaults, then config."""
    own = config.get(policy.name)
    given = {k: v for k, v in own.items() if k != "enforcementLevel"} if isinstance(
        own, Mapping) else {}
    return {**rules.default_config(policy), **given}
