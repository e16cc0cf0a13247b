"""Where the data plane lives: addresses, ports and directories, fixed at ``lab.up``.

The layout and the current roles are written to ``dataplane.json`` in the lab directory.
That file, not ``state.json``, is the truth about the data plane's processes, because the
emulator restarts them (an outage ends, a server is rebuilt) and their PIDs change.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from dr.lab.dataplane import postgres

STATE_FILE = "dataplane.json"
WRITER = "writer"
REPLICA = "replica"


@dataclass(frozen=True)
class RegionLayout:
    """One region: its app stand-in's address and its PostgreSQL server's port."""

    region: str
    app_host: str
    app_port: int
    postgres_port: int


@dataclass(frozen=True)
class Layout:
    """The whole data plane.

    lab_dir: the lab directory (logs, certificate, ``dataplane.json``).
    data_root: parent of the PostgreSQL data directories; outside ``lab_dir`` when the
    unprivileged server user could not reach it there.
    writer_region: the region whose server is the writer at ``lab.up``.
    control_url: the emulator's control API, which the DNS server reads.
    """

    lab_dir: str
    data_root: str
    regions: tuple[RegionLayout, ...]
    writer_region: str
    dns_host: str
    dns_port: int
    control_url: str

    def region(self, name: str) -> RegionLayout:
        for region in self.regions:
            if region.region == name:
                return region
        raise KeyError(f"{name} is not a lab region (regions: {self.region_names})")

    @property
    def region_names(self) -> tuple[str, ...]:
        return tuple(region.region for region in self.regions)

    def server(self, name: str) -> postgres.PostgresServer:
        port = self.region(name).postgres_port
        return postgres.PostgresServer(name, port, Path(self.data_root) / name)

    def peer(self, name: str) -> str:
        others = [region for region in self.region_names if region != name]
        return others[0]

    @property
    def cert_path(self) -> Path:
        return Path(self.lab_dir) / "tls" / "app.pem"

    @property
    def key_path(self) -> Path:
        return Path(self.lab_dir) / "tls" / "app.key"

    def log_path(self, what: str) -> Path:
        return Path(self.lab_dir) / "logs" / f"{what}.log"


@dataclass(frozen=True)
class RegionRuntime:
    """A region's current database role and the processes that serve it.

    source: the region a replica streams from. held: replication into it is held (fault).
    fenced: the server refuses writes (a switchover's first step). down: an outage.
    """

    role: str
    source: str | None = None
    fenced: bool = False
    held: bool = False
    down: bool = False
    postgres_pid: int | None = None
    app_pid: int | None = None


@dataclass(frozen=True)
class Snapshot:
    layout: Layout
    regions: Mapping[str, RegionRuntime] = field(default_factory=dict)
    dns_pid: int | None = None

    def runtime(self, name: str) -> RegionRuntime:
        return self.regions[name]

    def with_region(self, name: str, **changes: Any) -> "Snapshot":
        regions = dict(self.regions)
        regions[name] = replace(regions[name], **changes)
        return replace(self, regions=regions)

    def to_json(self) -> dict[str, Any]:
        return {
            "layout": asdict(self.layout),
            "regions": {name: asdict(runtime) for name, runtime in self.regions.items()},
            "dns_pid": self.dns_pid,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "Snapshot":
        values = dict(document["layout"])
        values["regions"] = tuple(RegionLayout(**region) for region in values["regions"])
        regions = {name: RegionRuntime(**runtime)
                   for name, runtime in document["regions"].items()}
        return cls(Layout(**values), regions, document.get("dns_pid"))


def read(lab_dir: Path | str) -> Snapshot | None:
    try:
        text = (Path(lab_dir) / STATE_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return Snapshot.from_json(json.loads(text))


def write(snapshot: Snapshot) -> None:
    path = Path(snapshot.layout.lab_dir) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
    scratch.write_text(json.dumps(snapshot.to_json(), indent=2, sort_keys=True),
                       encoding="utf-8")
    scratch.replace(path)


def remove(lab_dir: Path | str) -> None:
    (Path(lab_dir) / STATE_FILE).unlink(missing_ok=True)


def make_data_root(lab_dir: Path) -> Path:
    """A directory for the data directories that the server user can reach and own.

    As root the servers run as ``postgres``, which cannot enter a directory such as
    pytest's ``/tmp/pytest-of-root`` (mode 0700); then the data goes to a fresh directory
    under the system's temporary directory instead.
    """
    if postgres.server_user() is None or _reachable_by_others(lab_dir):
        root = lab_dir / "postgres"
        root.mkdir(parents=True, exist_ok=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="shopsmart-lab-pg-"))
    postgres.give_to_server_user(root)
    return root


def _reachable_by_others(directory: Path) -> bool:
    for part in [directory.resolve(), *directory.resolve().parents]:
        if part.exists() and not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True
