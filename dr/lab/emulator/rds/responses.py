"""Protocol side of the global-database actions: parse moto's request, render moto's way.

moto's ``RDSResponse`` dispatches an action to the method of the same (snake_case) name;
``install`` adds the actions moto lacks and replaces the one it gets wrong, so the rest of
moto's request handling and XML rendering is used unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult
from moto.rds.models import GlobalCluster
from moto.rds.responses import RDSResponse

if TYPE_CHECKING:
    from dr.lab.emulator.rds.models import GlobalDatabases


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def install(databases: "GlobalDatabases") -> None:
    def failover_global_cluster(self: RDSResponse) -> ActionResult:
        params = self.params
        cluster = databases.failover(
            params["GlobalClusterIdentifier"], params["TargetDbClusterIdentifier"],
            allow_data_loss=_flag(params.get("AllowDataLoss")),
            switchover=_flag(params.get("Switchover")),
        )
        return ActionResult({"GlobalCluster": cluster})

    def switchover_global_cluster(self: RDSResponse) -> ActionResult:
        params = self.params
        cluster = databases.failover(
            params["GlobalClusterIdentifier"], params["TargetDbClusterIdentifier"],
            allow_data_loss=None, switchover=True,
        )
        return ActionResult({"GlobalCluster": cluster})

    def remove_from_global_cluster(self: RDSResponse) -> ActionResult:
        params = self.params
        cluster = databases.remove(
            params["GlobalClusterIdentifier"], params["DbClusterIdentifier"])
        return ActionResult({"GlobalCluster": cluster})

    RDSResponse.failover_global_cluster = failover_global_cluster
    RDSResponse.switchover_global_cluster = switchover_global_cluster
    RDSResponse.remove_from_global_cluster = remove_from_global_cluster
    GlobalCluster.global_cluster_members = property(_members_with_sync_status)
    GlobalCluster.failover_state = None


_MOTO_MEMBERS = GlobalCluster.global_cluster_members


def _members_with_sync_status(self: GlobalCluster) -> list[dict[str, Any]]:
    """moto's member list plus SynchronizationStatus, which AWS shows on secondaries."""
    members = _MOTO_MEMBERS.fget(self)
    by_arn = {cluster.db_cluster_arn: cluster for cluster in self.members}
    for member in members:
        if not member["IsWriter"]:
            cluster = by_arn[member["DBClusterArn"]]
            member["SynchronizationStatus"] = getattr(cluster, "lab_sync_status", "connected")
    return members
