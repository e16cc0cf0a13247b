"""The lab's addresses and knobs, from ``invoke.yaml`` (``lab:``) with defaults.

``invoke lab.up`` writes the resolved config into the lab directory as ``config.json``;
the emulator process reads it there (to know the app stand-ins behind each ALB name and
which data plane to drive), so both sides agree without passing a dozen flags.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping

CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class RegionAddresses:
    app_host: str
    app_port: int
    postgres_port: int


DEFAULT_REGIONS = {
    "us-east-1": RegionAddresses("127.0.1.10", 8443, 5433),
    "us-west-2": RegionAddresses("127.0.2.10", 8443, 5434),
}


@dataclass(frozen=True)
class LabConfig:
    """Everything a lab needs to start.

    dataplane: ``module:callable`` building the data plane; None for the default one
    (``dr.lab.lab.DEFAULT_DATAPLANE``); "" to run the control plane alone (see
    ``dr.lab.lab`` for the contract).
    """

    lab_dir: str
    project_dir: str
    host: str = "127.0.0.1"
    emulator_port: int = 5566
    dns_port: int = 5354
    time_scale: float = 1.0
    regions: Mapping[str, RegionAddresses] = None  # type: ignore[assignment]
    dataplane: str | None = None

    def __post_init__(self) -> None:
        if self.regions is None:
            object.__setattr__(self, "regions", dict(DEFAULT_REGIONS))

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.emulator_port}"

    @property
    def control_url(self) -> str:
        return f"{self.endpoint_url}/_shopsmart"

    def region(self, name: str) -> RegionAddresses:
        return self.regions[name]

    def with_overrides(self, **values: Any) -> "LabConfig":
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["regions"] = {name: asdict(r) for name, r in self.regions.items()}
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "LabConfig":
        values = dict(document)
        values["regions"] = {
            name: RegionAddresses(**r) for name, r in document.get("regions", {}).items()
        } or None
        return cls(**values)


def from_invoke(section: Mapping[str, Any] | None, lab_dir: str, project_dir: str) -> LabConfig:
    """A config from the ``lab:`` section of invoke's config (missing keys: defaults)."""
    section = dict(section or {})
    regions = dict(DEFAULT_REGIONS)
    for name, values in dict(section.pop("regions", None) or {}).items():
        base = regions.get(name, RegionAddresses("127.0.0.1", 8443, 5433))
        regions[name] = replace(base, **dict(values))
    known = {"host", "emulator_port", "dns_port", "time_scale", "dataplane"}
    values = {k: v for k, v in section.items() if k in known}
    return LabConfig(lab_dir=lab_dir, project_dir=project_dir, regions=regions, **values)


def write(config: LabConfig) -> Path:
    path = Path(config.lab_dir) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config.to_json(), indent=2, sort_keys=True), encoding="utf-8")
    return path


def read(lab_dir: Path | str) -> LabConfig | None:
    try:
        document = json.loads((Path(lab_dir) / CONFIG_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return LabConfig.from_json(document)
