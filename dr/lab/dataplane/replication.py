"""The SQL that changes a server's role: promote, fence, hold and resume replication.

Each function acts on one running server and returns once the change is in effect, so the
caller can rely on it (a fence that is only "requested" would let a switchover lose writes).
"""

from __future__ import annotations

import logging
import time

import psycopg

from dr.lab.dataplane.postgres import HOST, SUPERUSER, PostgresServer

logger = logging.getLogger(__name__)


class ReplicaNotCaughtUp(RuntimeError):
    """The replica had not replayed everything the source wrote when the wait ran out."""

    def __init__(self, replica: str, source: str, behind_bytes: int, timeout_s: float) -> None:
        super().__init__(
            f"the replica of {replica} is still {behind_bytes} bytes of WAL behind {source} "
            f"after {timeout_s:.1f} s: check that replication runs (no replication-pause "
            "fault, both servers up) and retry, or fail over unplanned and accept the loss"
        )


class RoleChangeFailed(RuntimeError):
    """A server did not reach the state a role change asked for."""


def parse_lsn(text: str) -> int:
    """``'16/B374D848'`` -> a byte position, so LSNs compare as integers."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def conninfo(source: PostgresServer, replica_region: str) -> str:
    return (f"host={HOST} port={source.port} user={SUPERUSER} "
            f"application_name={replica_region}")


def is_in_recovery(server: PostgresServer) -> bool:
    return bool(server.scalar("SELECT pg_is_in_recovery()"))


def promote(server: PostgresServer) -> None:
    """End recovery now; WAL received but not yet replayed is replayed first, by Postgres."""
    if is_in_recovery(server):
        done = server.scalar("SELECT pg_promote(true, 60)")
        if not done:
            raise RoleChangeFailed(f"{server.region}: pg_promote did not finish within 60 s")
    _alter_system(server, "ALTER SYSTEM RESET primary_conninfo",
                  "ALTER SYSTEM RESET default_transaction_read_only")
    logger.info("PostgreSQL of %s promoted to writer", server.region)


def fence(server: PostgresServer, timeout_s: float = 10.0) -> None:
    """Refuse new writes and end every session that might still write.

    ``default_transaction_read_only`` is a default that a session could override with SET;
    the app stand-ins never do, and ending the sessions stops any transaction in flight.
    """
    _alter_system(server, "ALTER SYSTEM SET default_transaction_read_only = on")
    deadline = time.monotonic() + timeout_s
    while server.scalar("SHOW default_transaction_read_only") != "on":
        if time.monotonic() > deadline:
            raise RoleChangeFailed(f"{server.region}: the read-only default did not apply")
        time.sleep(0.02)
    ended = server.scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    logger.info("PostgreSQL of %s fenced: read-only, %s sessions ended", server.region, ended)


def unfence(server: PostgresServer) -> None:
    _alter_system(server, "ALTER SYSTEM RESET default_transaction_read_only")


def follow(replica: PostgresServer, source: PostgresServer) -> None:
    """Stream from ``source`` (again): the end of a replication hold, or a new source."""
    _alter_system(replica, f"ALTER SYSTEM SET primary_conninfo = "
                           f"'{conninfo(source, replica.region)}'",
                  "ALTER SYSTEM RESET default_transaction_read_only")


def hold(replica: PostgresServer, timeout_s: float = 10.0) -> None:
    """Stop the replica from *receiving* WAL, not only from replaying it.

    Pausing replay (pg_wal_replay_pause) would not lose anything at a promotion: promotion
    replays every record already received. An outage of the replication link loses what was
    never received, so the hold clears primary_conninfo, which stops the WAL receiver.
    """
    _alter_system(replica, "ALTER SYSTEM SET primary_conninfo = ''")
    deadline = time.monotonic() + timeout_s
    while server_receiving(replica):
        if time.monotonic() > deadline:
            raise RoleChangeFailed(f"{replica.region}: the WAL receiver did not stop")
        time.sleep(0.02)
    logger.info("replication into %s held: WAL receipt stopped", replica.region)


def server_receiving(replica: PostgresServer) -> bool:
    return bool(replica.scalar("SELECT count(*) FROM pg_stat_wal_receiver"))


def written_lsn(source: PostgresServer) -> int:
    return parse_lsn(str(source.scalar("SELECT pg_current_wal_flush_lsn()")))


def replayed_lsn(replica: PostgresServer) -> int:
    return parse_lsn(str(replica.scalar("SELECT pg_last_wal_replay_lsn()")))


def wait_caught_up(source: PostgresServer, replica: PostgresServer, timeout_s: float) -> None:
    """Block until the replica's replay position reaches the source's flushed WAL."""
    deadline = time.monotonic() + timeout_s
    while True:
        behind = written_lsn(source) - replayed_lsn(replica)
        if behind <= 0:
            return
        if time.monotonic() > deadline:
            raise ReplicaNotCaughtUp(replica.region, source.region, behind, timeout_s)
        time.sleep(0.02)


def lag_s(replica: PostgresServer, source_lsn: int | None) -> float:
    """Seconds of commits the replica has not replayed (AuroraGlobalDBRPOLag's meaning).

    Zero when the replica has replayed ``source_lsn`` (the source's last known flushed WAL);
    otherwise the age of the last replayed commit, i.e. how stale the replica's data is.
    """
    replayed = replayed_lsn(replica)
    received = replica.scalar("SELECT pg_last_wal_receive_lsn()")
    newest = max(source_lsn or 0, parse_lsn(str(received)) if received else 0)
    if replayed >= newest:
        return 0.0
    age = replica.scalar(
        "SELECT EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())"
    )
    return max(0.0, float(age)) if age is not None else 0.0


def _alter_system(server: PostgresServer, *statements: str) -> None:
    try:
        with server.connect(dbname="postgres") as conn:
            conn.autocommit = True  # ALTER SYSTEM cannot run inside a transaction block
            for statement in statements:
                conn.execute(statement)
            conn.execute("SELECT pg_reload_conf()")
    except psycopg.Error as err:
        raise RoleChangeFailed(f"{server.region}: {statements[0]} failed: {err}") from err
