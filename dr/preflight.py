"""Pre-flight of a failover: can the surviving region take over, and at what data loss?

Everything here is read from the surviving region alone: its cluster's membership and state
in the global database, the engine versions, the replication lag it reports to CloudWatch
(AuroraGlobalDBRPOLag) and whether its Auto Scaling groups can scale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from dr import capacity, database, naming
from dr.aws import Target
from dr.settings import StackSettings
from dr.waiting import Timeouts, call, describe_error

logger = logging.getLogger(__name__)

LAG_METRIC = "AuroraGlobalDBRPOLag"  # milliseconds, reported by each secondary cluster
LAG_WINDOW_S = 600  # newest datapoint of the last ten minutes


class PreflightFailed(RuntimeError):
    """The survivor cannot take over as things are; the message lists every reason."""

    def __init__(self, region: str, problems: list[str]) -> None:
        self.problems = tuple(problems)
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"pre-flight of {region} failed; nothing was changed:\n{listed}")


class RpoBudgetExceeded(RuntimeError):
    def __init__(self, lag_s: float | None, budget_s: float, source: str = "") -> None:
        self.lag_s = lag_s
        self.budget_s = budget_s
        found = f"is unknown ({source})" if lag_s is None else f"is {lag_s:.1f} s"
        super().__init__(
            f"replication lag ({LAG_METRIC}) {found}; the RPO budget (objectives.rpoS) is"
            f" {budget_s:g} s, so an unplanned promotion may lose more writes than the plan"
            " allows. Nothing was changed. Run again with --accept-data-loss to accept it, or"
            " wait for the lag to drop"
        )


@dataclass(frozen=True)
class Readiness:
    """What pre-flight found; ``problems`` empty means the survivor can take over."""

    region: str
    cluster_status: str
    is_member: bool
    is_writer: bool
    engine_version: str
    global_engine_version: str
    lag_s: float | None
    lag_source: str
    rpo_budget_s: float
    problems: tuple[str, ...] = field(default=())

    @property
    def lag_within_budget(self) -> bool:
        return self.lag_s is not None and self.lag_s <= self.rpo_budget_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region, "cluster_status": self.cluster_status,
            "is_member": self.is_member, "is_writer": self.is_writer,
            "engine_version": self.engine_version,
            "global_engine_version": self.global_engine_version, "lag_s": self.lag_s,
            "lag_source": self.lag_source,
            "rpo_budget_s": self.rpo_budget_s, "problems": list(self.problems),
        }


def replication_lag_s(target: Target, region: str, timeouts: Timeouts
                      ) -> tuple[float | None, str]:
    """The newest AuroraGlobalDBRPOLag of ``region``'s cluster in seconds, or None, and where
    it came from in words. A metric that cannot be read is unknown lag, never zero."""
    cloudwatch = target.client("cloudwatch", region)
    end = datetime.now(timezone.utc)
    try:
        found = call(
            lambda: cloudwatch.get_metric_statistics(
                Namespace="AWS/RDS", MetricName=LAG_METRIC,
                Dimensions=[{"Name": "DBClusterIdentifier",
                             "Value": naming.cluster_id(region)}],
                StartTime=end - timedelta(seconds=LAG_WINDOW_S),
                EndTime=end + timedelta(seconds=60), Period=60, Statistics=["Maximum"],
            )["Datapoints"],
            what=f"read {LAG_METRIC}", timeout_s=timeouts.call_s, poll_s=timeouts.poll_s,
        )
    except Exception as error:  # noqa: BLE001 - unreadable lag is unknown lag
        logger.warning("could not read %s in %s: %s", LAG_METRIC, region, describe_error(error))
        return None, f"{LAG_METRIC} could not be read in {region}: {describe_error(error)}"
    if not found:
        return None, f"no {LAG_METRIC} datapoint in {region} in the last {LAG_WINDOW_S} s"
    newest = max(found, key=lambda point: point["Timestamp"])
    lag_s = round(float(newest["Maximum"]) / 1000.0, 3)
    return lag_s, f"{LAG_METRIC} of {naming.cluster_id(region)} at {newest['Timestamp']}"


def check_survivor(
    target: Target, survivor: StackSettings, timeouts: Timeouts, *, planned: bool
) -> Readiness:
    """Everything pre-flight checks, problems listed rather than raised one by one."""
    rds = database.rds_client(target, survivor.region)
    cluster = call(lambda: database.read_cluster(rds, survivor.region),
                   what="read the survivor's cluster", timeout_s=timeouts.call_s,
                   poll_s=timeouts.poll_s)
    view = call(lambda: database.read_global(rds, survivor.region),
                what="read the global cluster", timeout_s=timeouts.call_s,
                poll_s=timeouts.poll_s)
    member = view.member(cluster.arn)
    problems = []
    if member is None:
        problems.append(
            f"{cluster.cluster_id} is not a member of {naming.global_cluster_id()}; it was"
            " detached already (run `invoke status`)"
        )
    if cluster.status != "available":
        problems.append(f"{cluster.cluster_id} is {cluster.status}, not available")
    if planned and view.status != "available":
        problems.append(f"{naming.global_cluster_id()} is {view.status}, not available")
    if cluster.engine_version != view.engine_version:
        problems.append(
            f"engine versions differ: {cluster.cluster_id} runs {cluster.engine_version},"
            f" the global cluster {view.engine_version}; managed failover needs them equal"
        )
    if survivor.db.engine_version.split(".")[0] != cluster.engine_version.split(".")[0]:
        problems.append(
            f"{survivor.origin} says engine {survivor.db.engine_version}, the cluster runs"
            f" {cluster.engine_version}"
        )
    problems.extend(capacity.scaling_problems(target, survivor))
    lag, lag_source = (None, "not read: a switchover waits for sync") if planned else (
        replication_lag_s(target, survivor.region, timeouts))
    readiness = Readiness(
        region=survivor.region,
        cluster_status=cluster.status,
        is_member=member is not None,
        is_writer=bool(member and member.is_writer),
        engine_version=cluster.engine_version,
        global_engine_version=view.engine_version,
        lag_s=lag,
        lag_source=lag_source,
        rpo_budget_s=survivor.objectives.rpo_s,
        problems=tuple(problems),
    )
    logger.info(
        "pre-flight of %s: cluster %s, member %s, lag %s (budget %g s), %d problems",
        survivor.region, cluster.status, member is not None,
        "unknown" if lag is None else f"{lag:.1f} s", survivor.objectives.rpo_s, len(problems),
    )
    return readiness


def switchover_problems(target: Target, primary: StackSettings) -> list[str]:
    """Why a planned switchover cannot start: it needs the primary region healthy too."""
    remedy = ("a planned switchover needs both regions healthy; if the primary region is"
              " down, run `invoke failover` without --planned")
    rds = target.client("rds", primary.region, connect_timeout=2,
                        retries={"mode": "standard", "max_attempts": 2})
    try:
        cluster = database.read_cluster(rds, primary.region)
    except Exception as error:  # noqa: BLE001 - any failure means the region cannot take part
        return [f"the RDS API of {primary.region} did not answer usefully"
                f" ({describe_error(error)}); {remedy}"]
    if cluster.status != "available":
        return [f"{cluster.cluster_id} is {cluster.status}, not available; {remedy}"]
    return []
