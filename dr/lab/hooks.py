"""The seam between the lab's control plane (the emulator) and its data plane.

The emulator decides *when* a database is promoted, fenced or rebuilt, following AWS's
semantics for global clusters; the data plane does it to real PostgreSQL servers and app
stand-ins. Part 1 of the lab runs with ``NullDataPlane``; the data plane implements the same
protocol, and the emulator calls it from its own process.
"""

from __future__ import annotations

from typing import Protocol


class DataPlane(Protocol):
    def promote(self, region: str) -> None:
        """Make ``region``'s database a standalone writer now; unreplayed writes are lost."""

    def fence(self, region: str) -> None:
        """Stop accepting writes on ``region``'s database (first step of a switchover)."""

    def wait_caught_up(self, source_region: str, replica_region: str, timeout_s: float) -> None:
        """Block until the replica has replayed everything the source has written."""

    def rebuild_as_replica(self, region: str, source_region: str) -> None:
        """Rebuild ``region``'s database as a streaming replica of ``source_region``'s."""

    def replication_lag_s(self, region: str) -> float | None:
        """Replay lag of ``region``'s replica in seconds, or None when it is no replica."""

    def region_down(self, region: str) -> None:
        """A region outage begins: stop that region's app stand-in and database."""

    def region_up(self, region: str) -> None:
        """The region outage ends: start them again, in the role they had."""

    # Optional: the emulator looks these up with getattr, so a data plane may leave them out.
    #   unfence(region)                      undo ``fence`` when a switchover is cancelled
    #   hold_replication(region, seconds)    stop WAL receipt on the replica for a span
    #   release_replication(region)          end such a hold early
    #   reset()                              back to lab.up's roles with no orders


class NullDataPlane:
    """No data plane: every action is accepted and nothing lags."""

    def promote(self, region: str) -> None:
        return None

    def fence(self, region: str) -> None:
        return None

    def wait_caught_up(self, source_region: str, replica_region: str, timeout_s: float) -> None:
        return None

    def rebuild_as_replica(self, region: str, source_region: str) -> None:
        return None

    def replication_lag_s(self, region: str) -> float | None:
        return 0.0

    def region_down(self, region: str) -> None:
        return None

    def region_up(self, region: str) -> None:
        return None
