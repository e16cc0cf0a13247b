"""The lab's data plane: per region a real PostgreSQL server and an app stand-in, plus a DNS
server that answers for the hosted zone the way Route 53 would.

``lifecycle`` starts and stops it all; ``plane`` holds ``LabDataPlane``, the
``dr.lab.hooks.DataPlane`` that the emulator drives at promotions, switchovers, rebuilds and
outages. ``build`` is the factory ``dr.lab.lab`` plugs in (``LabConfig.dataplane``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dr.lab.dataplane import lifecycle
from dr.lab.dataplane.layout import RegionLayout
from dr.lab.dataplane.plane import LabDataPlane
from dr.settings import load_pair

if TYPE_CHECKING:
    from dr.lab.config import LabConfig


class ConfiguredDataPlane(LabDataPlane):
    """``LabDataPlane`` plus the ``start``/``stop`` that ``lab.up``/``lab.down`` call.

    Beyond ``dr.lab.hooks.DataPlane`` the emulator's control API uses, when present:
    ``hold_replication``/``release_replication`` (the replication-pause fault) and ``reset``
    (the lab's reset).
    """

    def __init__(self, config: "LabConfig") -> None:
        super().__init__(config.lab_dir)
        self.config = config

    def start(self) -> dict[str, int]:
        """Start servers, apps and DNS; the writer is the primary stack's region."""
        config = self.config
        regions = tuple(RegionLayout(name, a.app_host, a.app_port, a.postgres_port)
                        for name, a in sorted(config.regions.items()))
        writer = load_pair(config.project_dir).primary.region
        snapshot = lifecycle.start(config.lab_dir, regions, writer, dns_host=config.host,
                                   dns_port=config.dns_port, control_url=config.control_url)
        pids = {"dns": snapshot.dns_pid}
        for region, runtime in snapshot.regions.items():
            pids[f"postgres-{region}"] = runtime.postgres_pid
            pids[f"app-{region}"] = runtime.app_pid
        return {name: pid for name, pid in pids.items() if pid}

    def reset(self) -> None:
        """The lab's reset (control API): the primary stack's region is the writer again."""
        self.reset_to(load_pair(self.config.project_dir).primary.region)

    def stop(self) -> None:
        lifecycle.stop(self.config.lab_dir)


def build(config: "LabConfig") -> ConfiguredDataPlane:
    return ConfiguredDataPlane(config)
