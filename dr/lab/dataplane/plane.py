"""``LabDataPlane``: the ``dr.lab.hooks.DataPlane`` protocol over the real servers.

The emulator decides when a global cluster fails over, switches over or rejoins, following
AWS's semantics; this class does it to the PostgreSQL servers and app stand-ins that
``lifecycle.start`` brought up, and records every role change in ``dataplane.json``.
The emulator calls it from several request threads, so every action holds one lock.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import replace
from pathlib import Path

import psycopg

from dr.lab import state as lab_state
from dr.lab.dataplane import layout as layouts
from dr.lab.dataplane import lifecycle, processes, replication
from dr.lab.dataplane.layout import REPLICA, WRITER, Snapshot

logger = logging.getLogger(__name__)

MAX_HOLD_S = 3600.0  # a replication hold always ends by itself


class DataPlaneNotRunning(RuntimeError):
    """There is no data plane in the lab directory."""

    def __init__(self, lab_dir: Path) -> None:
        super().__init__(f"no data plane in {lab_dir} (no {layouts.STATE_FILE}): "
                         "run `invoke lab.up`")


class RegionIsDown(RuntimeError):
    """An action needs a region's database while an outage fault has stopped it."""

    def __init__(self, region: str, action: str) -> None:
        super().__init__(f"cannot {action} {region}: its region is down (outage fault); "
                         "clear the outage first")


class NotAReplica(RuntimeError):
    """A replica-only action was asked of a writer."""

    def __init__(self, region: str, action: str) -> None:
        super().__init__(f"cannot {action} {region}: its database is a writer, not a replica;"
                         " name the replica's region")


class LabDataPlane:
    """Roles and processes of the lab's two regions; see ``dr.lab.hooks.DataPlane``."""

    def __init__(self, lab_dir: Path | str) -> None:
        # Nothing is read here: the emulator builds its data plane before ``lab.up`` has
        # started the servers, so every action reads ``dataplane.json`` when it runs.
        self.lab_dir = Path(lab_dir).resolve()
        self._lock = threading.RLock()
        self._hold_timers: dict[str, threading.Timer] = {}
        self._source_lsn: dict[str, int] = {}  # last flushed WAL seen on each replica's source

    # --- the DataPlane protocol ------------------------------------------------------------

    def promote(self, region: str) -> None:
        with self._lock:
            snapshot = self._up(region, "promote")
            self._cancel_hold(region)
            replication.promote(snapshot.layout.server(region))
            self._save(snapshot.with_region(region, role=WRITER, source=None,
                                            fenced=False, held=False))

    def fence(self, region: str) -> None:
        with self._lock:
            snapshot = self._up(region, "fence")
            replication.fence(snapshot.layout.server(region))
            self._save(snapshot.with_region(region, fenced=True))

    def unfence(self, region: str) -> None:
        """Take writes again: the end of a switchover that could not complete."""
        with self._lock:
            snapshot = self._up(region, "unfence")
            replication.unfence(snapshot.layout.server(region))
            self._save(snapshot.with_region(region, fenced=False))

    def wait_caught_up(self, source_region: str, replica_region: str, timeout_s: float) -> None:
        snapshot = self._snapshot()
        replication.wait_caught_up(snapshot.layout.server(source_region),
                                   snapshot.layout.server(replica_region), timeout_s)

    def rebuild_as_replica(self, region: str, source_region: str) -> None:
        with self._lock:
            snapshot = self._up(region, "rebuild")
            self._up(source_region, "rebuild a replica from")
            self._cancel_hold(region)
            server = snapshot.layout.server(region)
            source = snapshot.layout.server(source_region)
            server.stop(snapshot.runtime(region).postgres_pid)
            snapshot = snapshot.with_region(region, postgres_pid=None)
            self._save(snapshot)
            # A fresh base backup, not pg_rewind: pg_rewind judges divergence from the last
            # checkpoint and leaves an old writer whose shutdown checkpoint lies past the fork
            # as it is, which a standby of the new timeline cannot follow.
            server.init_replica_of(source)
            snapshot = snapshot.with_region(region, postgres_pid=server.start(), role=REPLICA,
                                            source=source_region, fenced=False, held=False)
            self._save(snapshot)
            replication.follow(server, source)
            logger.info("%s rebuilt as a replica of %s", region, source_region)

    def replication_lag_s(self, region: str) -> float | None:
        snapshot = layouts.read(self.lab_dir)
        if snapshot is None:
            return None  # asked before the servers exist (the emulator's lag loop starts first)
        runtime = snapshot.runtime(region)
        if runtime.role != REPLICA or runtime.down or runtime.source is None:
            return None
        try:
            source = snapshot.layout.server(runtime.source)
            self._source_lsn[region] = replication.written_lsn(source)
        except psycopg.Error:
            pass  # the source is unreachable: judge by the last WAL position seen on it
        try:
            return replication.lag_s(snapshot.layout.server(region),
                                     self._source_lsn.get(region))
        except psycopg.Error as err:
            logger.debug("no replication lag for %s: %s", region, err)
            return None

    def region_down(self, region: str) -> None:
        with self._lock:
            snapshot = self._snapshot()
            runtime = snapshot.runtime(region)
            processes.stop(runtime.app_pid, lifecycle.app_marker(region), sig=signal.SIGKILL)
            snapshot.layout.server(region).stop(runtime.postgres_pid, crash=True)
            self._save(snapshot.with_region(region, down=True, app_pid=None,
                                            postgres_pid=None))
            logger.info("region %s down: its app and database are stopped", region)

    def region_up(self, region: str) -> None:
        with self._lock:
            snapshot = self._snapshot()
            runtime = snapshot.runtime(region)
            if not runtime.down:
                return
            server = snapshot.layout.server(region)
            snapshot = snapshot.with_region(region, postgres_pid=server.start(), down=False)
            self._save(snapshot)
            if runtime.role == REPLICA and runtime.source and not runtime.held:
                replication.follow(server, snapshot.layout.server(runtime.source))
            snapshot = snapshot.with_region(
                region, app_pid=lifecycle.launch_app(snapshot.layout, region))
            self._save(snapshot)
            logger.info("region %s up again as %s", region, runtime.role)

    # --- the replication-pause fault -------------------------------------------------------

    def hold_replication(self, region: str, seconds: float) -> None:
        """Stop ``region``'s replica from receiving WAL for ``seconds`` (at most an hour)."""
        with self._lock:
            snapshot = self._up(region, "hold replication into")
            if snapshot.runtime(region).role != REPLICA:
                raise NotAReplica(region, "hold replication into")
            replication.hold(snapshot.layout.server(region))
            self._save(snapshot.with_region(region, held=True))
            self._cancel_hold(region)
            timer = threading.Timer(min(seconds, MAX_HOLD_S), self.release_replication,
                                    args=(region,))
            timer.daemon = True
            self._hold_timers[region] = timer
            timer.start()

    def release_replication(self, region: str) -> None:
        """End a hold early (or on time); a replica then catches up from its source."""
        with self._lock:
            self._cancel_hold(region)
            snapshot = self._snapshot()
            runtime = snapshot.runtime(region)
            if not runtime.held:
                return
            snapshot = snapshot.with_region(region, held=False)
            self._save(snapshot)
            if runtime.role == REPLICA and runtime.source and not runtime.down:
                replication.follow(snapshot.layout.server(region),
                                   snapshot.layout.server(runtime.source))
                logger.info("replication into %s released", region)

    # --- the lab's reset -------------------------------------------------------------------

    def reset_to(self, writer_region: str) -> None:
        """Back to the state of ``lab.up``: every region up, nothing held or fenced,
        ``writer_region`` the writer, its peer a replica of it, no orders stored."""
        with self._lock:
            for region in list(self._hold_timers):
                self._cancel_hold(region)
            for region in self._snapshot().layout.region_names:
                self.region_up(region)
                self.release_replication(region)
            snapshot = self._snapshot()
            replica_region = snapshot.layout.peer(writer_region)
            if snapshot.runtime(writer_region).role != WRITER:
                self.promote(writer_region)
            elif snapshot.runtime(writer_region).fenced:
                replication.unfence(snapshot.layout.server(writer_region))
                self._save(snapshot.with_region(writer_region, fenced=False))
            replica = self._snapshot().runtime(replica_region)
            if replica.role != REPLICA or replica.source != writer_region:
                self.rebuild_as_replica(replica_region, writer_region)
            writer = self._snapshot().layout.server(writer_region)
            with writer.connect() as conn:
                conn.execute("TRUNCATE orders")
            self.wait_caught_up(writer_region, replica_region, timeout_s=15)
            logger.info("data plane reset: %s writer, %s its replica",
                        writer_region, replica_region)

    # --- views -----------------------------------------------------------------------------

    def role(self, region: str) -> str:
        return self._snapshot().runtime(region).role

    def snapshot(self) -> Snapshot:
        return self._snapshot()

    # --- internals -------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        snapshot = layouts.read(self.lab_dir)
        if snapshot is None:
            raise DataPlaneNotRunning(self.lab_dir)
        return snapshot

    def _up(self, region: str, action: str) -> Snapshot:
        snapshot = self._snapshot()
        if snapshot.runtime(region).down:
            raise RegionIsDown(region, action)
        return snapshot

    def _save(self, snapshot: Snapshot) -> None:
        layouts.write(snapshot)
        self._sync_lab_state(snapshot)

    def _sync_lab_state(self, snapshot: Snapshot) -> None:
        """Keep ``state.json``'s PIDs true after a restart (outage end, rebuild), so that
        ``lab.status`` and ``lab.down`` see the processes that really run."""
        state = lab_state.read(self.lab_dir)
        if state is None:
            return
        pids = dict(state.pids)
        for region, runtime in snapshot.regions.items():
            for name, pid in ((f"postgres-{region}", runtime.postgres_pid),
                              (f"app-{region}", runtime.app_pid)):
                if pid:
                    pids[name] = pid
                else:
                    pids.pop(name, None)
        if pids != dict(state.pids):
            lab_state.save(replace(state, pids=pids))

    def _cancel_hold(self, region: str) -> None:
        timer = self._hold_timers.pop(region, None)
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
