"""Aurora global database semantics moto lacks: managed failover, switchover, detach.

State lives on moto's own objects (``GlobalCluster``, ``DBCluster``), so every describe call
moto already answers shows it: the global cluster's ``Status`` and ``FailoverState``, the
clusters' ``Status`` and each member's ``IsWriter`` and ``SynchronizationStatus``. Each
operation runs in a background thread through AWS's documented states, with durations from
``dr.lab.timing``, and calls the data plane at the moment AWS would act on the database.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from moto.core import DEFAULT_ACCOUNT_ID
from moto.rds.models import DBCluster, GlobalCluster, rds_backends

from dr.lab.emulator.rds.exceptions import (
    DBClusterNotFoundFault,
    GlobalClusterNotFoundFault,
    InvalidDBClusterStateFault,
    InvalidGlobalClusterStateFault,
    InvalidParameterCombination,
)

if TYPE_CHECKING:
    from dr.lab.emulator import Emulator

logger = logging.getLogger(__name__)

GLOBAL_HOME = "us-east-1"  # moto keeps every global cluster in us-east-1's backend
CATCH_UP_TIMEOUT_S = 60.0
CANCEL_JOIN_S = 60.0


class _Cancelled(Exception):
    """The lab was reset while an operation ran: it stops at its next wait."""


def region_of(cluster: DBCluster) -> str:
    return cluster.region


def major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


class GlobalDatabases:
    """The global-database operations in flight and the rejoins waiting for a Region."""

    def __init__(self, emulator: "Emulator") -> None:
        self.emulator = emulator
        self._lock = threading.RLock()
        self._threads: list[threading.Thread] = []
        self._resetting = threading.Event()
        # old primary ARN -> region of the writer it must follow once its Region is back
        self.pending_rejoin: dict[str, str] = {}

    # --- lookups ----------------------------------------------------------------------------

    def global_cluster(self, identifier: str) -> GlobalCluster:
        clusters = rds_backends[DEFAULT_ACCOUNT_ID][GLOBAL_HOME].global_clusters
        found = clusters.get(identifier)
        if found is None:
            found = next((g for g in clusters.values() if g.arn == identifier), None)
        if found is None:
            raise GlobalClusterNotFoundFault(identifier)
        return found

    def member(self, global_cluster: GlobalCluster, identifier: str) -> DBCluster:
        for cluster in global_cluster.members:
            if identifier in (cluster.db_cluster_arn, cluster.db_cluster_identifier):
                return cluster
        raise DBClusterNotFoundFault(identifier, global_cluster.global_cluster_identifier)

    def writer(self, global_cluster: GlobalCluster) -> DBCluster:
        for cluster in global_cluster.members:
            if cluster.is_writer:
                return cluster
        raise InvalidGlobalClusterStateFault(
            global_cluster.global_cluster_identifier, "no-writer", "with a writer")

    def is_down(self, cluster: DBCluster) -> bool:
        return self.emulator.faults.is_down(region_of(cluster))

    # --- operations -------------------------------------------------------------------------

    def failover(self, identifier: str, target: str, allow_data_loss: bool | None,
                 switchover: bool | None) -> GlobalCluster:
        if allow_data_loss and switchover:
            raise InvalidParameterCombination(
                "AllowDataLoss and Switchover can't be specified together.")
        planned = not allow_data_loss
        with self._lock:
            global_cluster = self.global_cluster(identifier)
            self._require_idle(global_cluster)
            to_cluster = self.member(global_cluster, target)
            from_cluster = self.writer(global_cluster)
            self._require_promotable(global_cluster, from_cluster, to_cluster, planned)
            global_cluster.status = "switching-over" if planned else "failing-over"
            global_cluster.failover_state = {
                "Status": "pending",
                "FromDbClusterArn": from_cluster.db_cluster_arn,
                "ToDbClusterArn": to_cluster.db_cluster_arn,
                "IsDataLossAllowed": not planned,
            }
        kind = "switchover" if planned else "unplanned failover"
        logger.info("%s of %s: %s -> %s", kind, identifier,
                    from_cluster.db_cluster_identifier, to_cluster.db_cluster_identifier)
        run = self._switchover if planned else self._failover
        self._spawn(run, global_cluster, from_cluster, to_cluster)
        return global_cluster

    def remove(self, identifier: str, db_cluster: str) -> GlobalCluster:
        """Detach a member in any Region; a detached secondary is promoted to a standalone
        writer (``promoting``, then ``available``)."""
        with self._lock:
            global_cluster = self.global_cluster(identifier)
            cluster = self.member(global_cluster, db_cluster)
            if global_cluster.status != "available":
                raise InvalidGlobalClusterStateFault(identifier, global_cluster.status)
            if cluster.is_writer and len(global_cluster.members) > 1:
                raise InvalidDBClusterStateFault(
                    f"DB cluster {cluster.db_cluster_identifier} is the writer of global"
                    f" cluster {identifier}; remove its secondary clusters first or fail over.")
            if cluster.status != "available":
                raise InvalidDBClusterStateFault(
                    f"DB cluster {cluster.db_cluster_identifier} is {cluster.status}, it must"
                    " be available.")
            global_cluster.members.remove(cluster)
            cluster.global_cluster_identifier = None
            self.pending_rejoin.pop(cluster.db_cluster_arn, None)
            was_secondary = not cluster.is_writer
            if was_secondary:
                cluster.status = "promoting"
        if was_secondary:
            logger.info("detaching %s from %s and promoting it to a standalone writer",
                        cluster.db_cluster_identifier, identifier)
            self._spawn(self._promote_detached, cluster)
        return global_cluster

    # --- state checks -----------------------------------------------------------------------

    def _require_idle(self, global_cluster: GlobalCluster) -> None:
        if global_cluster.status != "available" or getattr(global_cluster, "failover_state",
                                                           None):
            raise InvalidGlobalClusterStateFault(
                global_cluster.global_cluster_identifier, global_cluster.status)

    def _require_promotable(self, global_cluster: GlobalCluster, from_cluster: DBCluster,
                            to_cluster: DBCluster, planned: bool) -> None:
        name = to_cluster.db_cluster_identifier
        if to_cluster is from_cluster:
            raise InvalidDBClusterStateFault(
                f"DB cluster {name} is already the primary cluster of global cluster"
                f" {global_cluster.global_cluster_identifier}.")
        if major_minor(to_cluster.engine_version) != major_minor(from_cluster.engine_version):
            raise InvalidDBClusterStateFault(
                f"DB cluster {name} runs engine version {to_cluster.engine_version} but the"
                f" primary runs {from_cluster.engine_version}; a managed failover or"
                " switchover needs the same major and minor version.")
        if self.is_down(to_cluster) or to_cluster.status != "available":
            state = "unreachable" if self.is_down(to_cluster) else to_cluster.status
            raise InvalidDBClusterStateFault(
                f"DB cluster {name} is {state}, it must be available.")
        if planned and (self.is_down(from_cluster) or from_cluster.status != "available"):
            raise InvalidDBClusterStateFault(
                f"Switchover needs the primary DB cluster {from_cluster.db_cluster_identifier}"
                " to be available; use a failover with AllowDataLoss instead.")

    # --- runs (background) ------------------------------------------------------------------

    def _spawn(self, run: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=self._guarded, args=(run, *args), daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _guarded(self, run: Callable[..., None], *args: Any) -> None:
        try:
            run(*args)
        except _Cancelled:
            logger.info("global-database operation %s cancelled by a reset", run.__name__)
        except Exception:  # a failed data-plane action must not kill the emulator
            logger.exception("global-database operation %s failed", run.__name__)

    def _wait(self, seconds: float) -> None:
        """Let emulated time pass; raises ``_Cancelled`` once a reset began."""
        self._resetting.wait(seconds)
        if self._resetting.is_set() or self.emulator.stopping.is_set():
            raise _Cancelled()

    def _failover(self, global_cluster: GlobalCluster, old: DBCluster, new: DBCluster) -> None:
        total = self.emulator.timing.duration("global_failover")
        self._wait(0.1 * total)
        global_cluster.failover_state["Status"] = "failing-over"
        new.status = "promoting"
        self._wait(0.7 * total)
        self.emulator.dataplane.promote(region_of(new))
        with self._lock:
            self._swap_writer(old, new)
            old.lab_sync_status = "pending-resync"
            new.status = "modifying"
        self._wait(0.2 * total)
        with self._lock:
            new.status = "available"
            self._finish(global_cluster)
            old_down = self.is_down(old)
            if old_down:
                self.pending_rejoin[old.db_cluster_arn] = region_of(new)
        logger.info("unplanned failover done: %s is the writer", new.db_cluster_identifier)
        if not old_down:
            self._rejoin(old, region_of(new))

    def _switchover(self, global_cluster: GlobalCluster, old: DBCluster,
                    new: DBCluster) -> None:
        total = self.emulator.timing.duration("global_switchover")
        self._wait(0.1 * total)
        if self.is_down(old) or self.is_down(new):
            self._cancel(global_cluster)
            return
        global_cluster.failover_state["Status"] = "switching-over"
        old.status = new.status = "modifying"
        dataplane = self.emulator.dataplane
        try:
            dataplane.fence(region_of(old))
            dataplane.wait_caught_up(region_of(old), region_of(new),
                                     self.emulator.timing.scaled(CATCH_UP_TIMEOUT_S) + 10)
        except Exception:  # a Region went down mid-way (the data plane cannot reach it)
            logger.exception("switchover toward %s could not sync", new.db_cluster_identifier)
            self._abandon_switchover(global_cluster, old, new)
            return
        self._wait(0.4 * total)
        dataplane.promote(region_of(new))
        with self._lock:
            self._swap_writer(old, new)
        dataplane.rebuild_as_replica(region_of(old), region_of(new))
        self._wait(0.5 * total)
        with self._lock:
            old.status = new.status = "available"
            self._finish(global_cluster)
        logger.info("switchover done: %s is the writer", new.db_cluster_identifier)

    def _abandon_switchover(self, global_cluster: GlobalCluster, old: DBCluster,
                            new: DBCluster) -> None:
        """Added with the data plane: the old primary takes writes again (when it is up),
        both members are left as they were, and the operation is cancelled."""
        unfence = getattr(self.emulator.dataplane, "unfence", None)
        if unfence is not None and not self.is_down(old):
            self._guarded(unfence, region_of(old))
        with self._lock:
            old.status = new.status = "available"
        self._cancel(global_cluster)

    def _cancel(self, global_cluster: GlobalCluster) -> None:
        global_cluster.failover_state["Status"] = "cancelling"
        logger.warning("switchover of %s cancelled: a member's Region is unreachable",
                       global_cluster.global_cluster_identifier)
        self._wait(0.1 * self.emulator.timing.duration("global_switchover"))
        with self._lock:
            self._finish(global_cluster)

    def _promote_detached(self, cluster: DBCluster) -> None:
        self._wait(self.emulator.timing.duration("detach_promote"))
        self.emulator.dataplane.promote(region_of(cluster))
        with self._lock:
            cluster.is_writer = True
            cluster.status = "available"
        logger.info("%s is a standalone writer", cluster.db_cluster_identifier)

    def _rejoin(self, old: DBCluster, writer_region: str) -> None:
        """After a managed failover the old primary comes back as a secondary."""
        old.status = "modifying"
        self.emulator.dataplane.rebuild_as_replica(region_of(old), writer_region)
        self._wait(self.emulator.timing.duration("rejoin_as_secondary"))
        with self._lock:
            old.status = "available"
            old.lab_sync_status = "connected"
        logger.info("%s rejoined as a secondary of %s", old.db_cluster_identifier,
                    writer_region)

    def _swap_writer(self, old: DBCluster, new: DBCluster) -> None:
        old.is_writer = False
        new.is_writer = True

    def _finish(self, global_cluster: GlobalCluster) -> None:
        global_cluster.status = "available"
        global_cluster.failover_state = None

    # --- Region events ----------------------------------------------------------------------

    def region_recovered(self, region: str) -> None:
        with self._lock:
            due = [arn for arn in self.pending_rejoin if arn.split(":")[3] == region]
            rejoins = [(arn, self.pending_rejoin.pop(arn)) for arn in due]
        for arn, writer_region in rejoins:
            cluster = self._cluster_by_arn(arn)
            if cluster is not None:
                self._spawn(self._rejoin, cluster, writer_region)

    def _cluster_by_arn(self, arn: str) -> DBCluster | None:
        region = arn.split(":")[3]
        for cluster in rds_backends[DEFAULT_ACCOUNT_ID][region].clusters.values():
            if cluster.db_cluster_arn == arn:
                return cluster
        return None

    def reset(self) -> None:
        """Stop the operations in flight (each at its next wait, so no data-plane action
        of theirs overlaps the reset) and forget the pending rejoins."""
        self._resetting.set()
        with self._lock:
            threads = list(self._threads)
        deadline = time.monotonic() + CANCEL_JOIN_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self.pending_rejoin.clear()
        self._resetting.clear()
