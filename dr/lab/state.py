"""What a running lab is: where its endpoints are and which processes it started.

``invoke lab.up`` writes ``state.json`` into the lab directory once everything answers;
``invoke lab.down`` stops the PIDs it lists and removes it. Every other part of the project
(tasks, engine, tests) finds the lab only through this file, so two labs in two directories
never see each other.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from dr.aws import Target, TargetError

LAB_DIR_ENV = "SHOPSMART_LAB_DIR"
STATE_FILE = "state.json"
PROJECT_DIR = Path(__file__).resolve().parents[2]


class LabNotRunning(TargetError):
    """There is no state file in the lab directory, or its emulator process is gone."""

    def __init__(self, lab_dir: Path, found: str) -> None:
        self.lab_dir = lab_dir
        super().__init__(
            f"the lab is not running in {lab_dir} ({found}): run `invoke lab.up`"
        )


@dataclass(frozen=True)
class RegionLab:
    """One emulated region's data-plane addresses."""

    region: str
    app_host: str
    app_port: int
    postgres_port: int
    postgres_datadir: str

    @property
    def app_address(self) -> str:
        return f"{self.app_host}:{self.app_port}"


@dataclass(frozen=True)
class LabState:
    """A running lab.

    endpoint_url: where every boto3 client of the lab goes (all regions, all services).
    control_url: the lab's own API (faults, health-check view, reset); never faulted.
    time_scale: factor applied to every emulated AWS duration.
    dns_host, dns_port: the data plane's DNS server for the hosted zone.
    regions: per region its app stand-in and PostgreSQL addresses.
    pids: name -> PID of every process the lab started (``emulator`` at least).
    """

    lab_dir: str
    endpoint_url: str
    control_url: str
    time_scale: float
    dns_host: str
    dns_port: int
    regions: tuple[RegionLab, ...]
    pids: Mapping[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    ready: bool = True  # False while ``lab.up`` is still deploying

    def region(self, name: str) -> RegionLab:
        for region in self.regions:
            if region.region == name:
                return region
        raise KeyError(name)

    @property
    def dns_address(self) -> str:
        return f"{self.dns_host}:{self.dns_port}"

    def target(self, **bounds: Any) -> Target:
        return Target.lab(self.endpoint_url, **bounds)

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document["regions"] = [asdict(region) for region in self.regions]
        document["pids"] = dict(self.pids)
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "LabState":
        values = dict(document)
        values["regions"] = tuple(RegionLab(**region) for region in document["regions"])
        values["pids"] = {name: int(pid) for name, pid in document.get("pids", {}).items()}
        return cls(**values)


def lab_dir(explicit: Path | str | None = None) -> Path:
    """The lab directory: ``explicit``, else ``$SHOPSMART_LAB_DIR``, else ``<project>/.lab``."""
    if explicit is not None:
        return Path(explicit).resolve()
    if os.environ.get(LAB_DIR_ENV):
        return Path(os.environ[LAB_DIR_ENV]).resolve()
    return PROJECT_DIR / ".lab"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read(directory: Path | str | None = None) -> LabState | None:
    """The recorded state, alive or not; None when there is none."""
    path = lab_dir(directory) / STATE_FILE
    try:
        return LabState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def load(directory: Path | str | None = None) -> LabState:
    """The running lab; raises ``LabNotRunning`` when there is none."""
    where = lab_dir(directory)
    state = read(where)
    if state is None:
        raise LabNotRunning(where, f"no {STATE_FILE}")
    emulator = state.pids.get("emulator")
    if emulator is None or not pid_alive(emulator):
        raise LabNotRunning(where, f"emulator PID {emulator} is not running")
    if not state.ready:
        raise LabNotRunning(where, "it is still starting")
    return state


def save(state: LabState) -> Path:
    """Write ``state.json`` atomically, so a reader never sees half a file."""
    directory = Path(state.lab_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / STATE_FILE
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(json.dumps(state.to_json(), indent=2, sort_keys=True), encoding="utf-8")
    scratch.replace(path)
    return path


def remove(directory: Path | str | None = None) -> None:
    (lab_dir(directory) / STATE_FILE).unlink(missing_ok=True)


def target(directory: Path | str | None = None, **bounds: Any) -> Target:
    """The ``Target`` of the running lab; raises ``LabNotRunning`` (a ``TargetError``)."""
    return load(directory).target(**bounds)
