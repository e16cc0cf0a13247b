"""The Aurora metrics the runtime and the alarms read, published as Aurora publishes them.

Each secondary cluster reports AuroraGlobalDBRPOLag and AuroraGlobalDBReplicationLag (in
milliseconds, dimension DBClusterIdentifier) in its own Region; each writer reports
EngineUptime (dimensions DBClusterIdentifier, Role=WRITER). About once a minute, scaled.
The lag is the data plane's real replay lag. A Region in outage publishes nothing, so
alarms that treat missing data as breaching see what they would see in AWS.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.rds.models import DBCluster, rds_backends

from dr.lab.emulator.loop import PeriodicLoop

if TYPE_CHECKING:
    from dr.lab.emulator import Emulator

NAMESPACE = "AWS/RDS"
LAG_METRICS = ("AuroraGlobalDBRPOLag", "AuroraGlobalDBReplicationLag")


class AuroraMetrics(PeriodicLoop):
    def __init__(self, emulator: "Emulator") -> None:
        self.emulator = emulator
        self._booted = time.monotonic()
        super().__init__(
            "aurora-metrics", lambda: emulator.timing.duration("lag_metric_period"),
            self.publish, emulator.stopping,
        )

    def publish(self) -> int:
        """Publish one round; returns the number of clusters reported on."""
        reported = 0
        regions = self.emulator.config.regions if self.emulator.config else ()
        for region in regions:
            if self.emulator.faults.is_down(region):
                continue
            data: list[dict[str, Any]] = []
            for cluster in list(rds_backends[DEFAULT_ACCOUNT_ID][region].clusters.values()):
                data += self._cluster_data(cluster)
            if data:
                cloudwatch_backends[DEFAULT_ACCOUNT_ID][region].put_metric_data(NAMESPACE, data)
                reported += 1
        return reported

    def _cluster_data(self, cluster: DBCluster) -> list[dict[str, Any]]:
        identity = {"Name": "DBClusterIdentifier", "Value": cluster.db_cluster_identifier}
        if cluster.is_writer or not cluster.global_cluster_identifier:
            if cluster.status not in ("available", "modifying"):
                return []
            uptime = time.monotonic() - self._booted
            return [{"MetricName": "EngineUptime", "Value": uptime, "Unit": "Seconds",
                     "Dimensions": [identity, {"Name": "Role", "Value": "WRITER"}]}]
        lag_s = self.emulator.dataplane.replication_lag_s(cluster.region)
        if lag_s is None:
            return []
        return [{"MetricName": name, "Value": lag_s * 1000.0, "Unit": "Milliseconds",
                 "Dimensions": [identity]} for name in LAG_METRICS]
