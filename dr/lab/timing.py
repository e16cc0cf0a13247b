"""How long emulated AWS operations take, before scaling by ``time_scale``.

The figures are what AWS documents or what operators typically observe; the lab multiplies
each by ``time_scale`` (1 = real durations, 0.05 in tests) so that the tool's waiters,
timeouts and progress output run against transitions that take time, as they do in AWS.
"""

from __future__ import annotations

from dataclasses import dataclass

# Seconds at time_scale 1.
AWS_DURATIONS_S = {
    # Managed unplanned failover of an Aurora global database: AWS documents the RTO of a
    # cross-Region failover as typically about a minute.
    "global_failover": 60.0,
    # Switchover waits for the secondary to catch up, then moves the writer: a few minutes.
    "global_switchover": 120.0,
    # Detach and promote (remove_from_global_cluster): the cluster becomes a standalone
    # writer after about a minute in 'promoting'.
    "detach_promote": 60.0,
    # The old primary, once its Region is back, is rebuilt and resynchronised as a secondary.
    "rejoin_as_secondary": 120.0,
    # The cluster shows 'modifying' briefly after its role changed.
    "cluster_modifying": 10.0,
    # An EC2 instance from pending to running and then InService behind the ALB.
    "instance_launch": 90.0,
    # CloudWatch receives the AuroraGlobalDBRPOLag metric about once a minute.
    "lag_metric_period": 60.0,
}


@dataclass(frozen=True)
class Timing:
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be > 0, found {self.time_scale}")

    def scaled(self, aws_seconds: float) -> float:
        return aws_seconds * self.time_scale

    def duration(self, operation: str) -> float:
        """Wall-clock seconds the lab spends on ``operation``."""
        return self.scaled(AWS_DURATIONS_S[operation])
