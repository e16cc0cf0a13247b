"""One region's real PostgreSQL server: create, start, stop, and the SQL that changes roles.

Debian's packages put the server binaries outside PATH (``/usr/lib/postgresql/<v>/bin``);
``pg_config --bindir`` or the newest such directory finds them. PostgreSQL refuses to run
as root, so when we are root every server command runs as the unprivileged ``postgres``
user and the data directories belong to it.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import psycopg

from dr.lab.dataplane import processes

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
DATABASE = "shopsmart"
APP_ROLE = "shopsmart"
SUPERUSER = "postgres"
UNPRIVILEGED_USER = "postgres"
MARKER = "postgres -D"  # in the postmaster's command line; checked before signalling a PID

# Lab settings. fsync is off because a lab's data is disposable and the speed matters; the
# replication behaviour under test does not depend on it. WAL is kept long enough for a
# replica to catch up after a replication pause without a slot pinning WAL forever.
SERVER_SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",
    "max_connections": "40",
    "shared_buffers": "16MB",
    "fsync": "off",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "wal_keep_size": "256MB",
    "hot_standby": "on",
    "wal_receiver_status_interval": "1s",
    "wal_retrieve_retry_interval": "500ms",
    "logging_collector": "off",
}

SCHEMA = """
CREATE TABLE orders (
    client_id  text        NOT NULL,
    sequence   bigint      NOT NULL,
    item       text        NOT NULL DEFAULT '',
    region     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (client_id, sequence)
);
"""


class PostgresNotInstalled(RuntimeError):
    """No PostgreSQL server binaries on this machine."""

    def __init__(self, looked: str) -> None:
        super().__init__(
            f"PostgreSQL server binaries not found (looked at {looked}): "
            "install them, e.g. `apt-get install -y postgresql`"
        )


class PostgresCommandFailed(RuntimeError):
    """initdb, pg_basebackup or another server command exited non-zero."""

    def __init__(self, argv: list[str], output: str) -> None:
        super().__init__(f"{' '.join(argv)} failed: {output.strip()[-800:]}")


@lru_cache(maxsize=1)
def bindir() -> Path:
    """Where ``postgres``, ``initdb`` and ``pg_basebackup`` live."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(found.stdout.strip())
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda path: int(Path(path).parent.name), reverse=True)
    candidates.extend(versions)
    for candidate in candidates:
        if candidate and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    raise PostgresNotInstalled(", ".join(candidates) or "pg_config, /usr/lib/postgresql/*")


def server_user() -> str | None:
    """The user to run server commands as: ``postgres`` when we are root, else ourselves."""
    return UNPRIVILEGED_USER if os.geteuid() == 0 else None


def give_to_server_user(path: Path) -> None:
    user = server_user()
    if user:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass(frozen=True)
class PostgresServer:
    """A server of one region: its port and data directory (which it owns)."""

    region: str
    port: int
    datadir: Path

    @property
    def log_path(self) -> Path:
        return self.datadir.parent / f"{self.datadir.name}.log"

    # --- lifecycle -------------------------------------------------------------------------

    def init_primary(self) -> None:
        """A new, empty cluster with the shop's database, role and schema."""
        self._prepare_parent()
        self._run("initdb", "-D", str(self.datadir), "--no-locale", "-E", "UTF8",
                  "-A", "trust", "-U", SUPERUSER, "--no-sync")
        self._write_settings()

    def init_replica_of(self, source: "PostgresServer") -> None:
        """A streaming replica made from a base backup of ``source`` (``-R``: standby)."""
        self._prepare_parent()
        shutil.rmtree(self.datadir, ignore_errors=True)
        # The settings come with the copy of source's postgresql.conf; the port is given on
        # the command line, so the copy serves this region unchanged.
        self._run("pg_basebackup", "-h", HOST, "-p", str(source.port), "-U", SUPERUSER,
                  "-D", str(self.datadir), "-R", "-X", "stream", "-c", "fast", "--no-sync")

    def start(self, timeout_s: float = 30.0) -> int:
        """Start the postmaster; returns its PID once it accepts connections."""
        argv = [str(bindir() / "postgres"), "-D", str(self.datadir), "-p", str(self.port)]
        process = processes.spawn(argv, self.log_path, user=server_user(),
                                  cwd=self.datadir.parent, env={"LC_ALL": "C", "TZ": "UTC"})
        processes.wait_for_port(HOST, self.port, what=f"PostgreSQL of {self.region}",
                                process=process, log_path=self.log_path, timeout_s=timeout_s)
        self._wait_accepting(process, timeout_s)
        logger.info("PostgreSQL of %s is up on %s:%d (PID %d)",
                    self.region, HOST, self.port, process.pid)
        return process.pid

    def stop(self, pid: int | None, *, crash: bool = False) -> bool:
        """Fast shutdown (SIGINT), or an immediate one like a lost host (SIGQUIT)."""
        sig = signal.SIGQUIT if crash else signal.SIGINT
        return processes.stop(pid, f"{MARKER} {self.datadir}", sig=sig, timeout_s=20.0)

    def is_running(self, pid: int | None) -> bool:
        return processes.is_running(pid, f"{MARKER} {self.datadir}")

    def create_schema(self) -> None:
        with self.connect(dbname="postgres") as conn:
            conn.autocommit = True
            conn.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {APP_ROLE}")
        with self.connect(user=APP_ROLE) as conn:
            conn.execute(SCHEMA)

    def remove_datadir(self) -> None:
        shutil.rmtree(self.datadir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)

    # --- connections -----------------------------------------------------------------------

    def connect(self, *, user: str = SUPERUSER, dbname: str = DATABASE,
                timeout_s: float = 3.0) -> psycopg.Connection:
        return psycopg.connect(host=HOST, port=self.port, user=user, dbname=dbname,
                               connect_timeout=max(1, int(timeout_s)))

    def scalar(self, sql: str, *params: object) -> object:
        with self.connect(dbname="postgres") as conn:
            row = conn.execute(sql, params or None).fetchone()
        return row[0] if row else None

    # --- internals -------------------------------------------------------------------------

    def _prepare_parent(self) -> None:
        self.datadir.parent.mkdir(parents=True, exist_ok=True)

    def _write_settings(self) -> None:
        lines = [f"{name} = '{value}'" for name, value in SERVER_SETTINGS.items()]
        conf = self.datadir / "postgresql.conf"
        with open(conf, "a", encoding="utf-8") as handle:
            handle.write("\n# shopsmart lab\n" + "\n".join(lines) + "\n")

    def _run(self, program: str, *args: str) -> str:
        argv = [str(bindir() / program), *args]
        found = subprocess.run(argv, capture_output=True, text=True, user=server_user(),
                               group=server_user(), extra_groups=[] if server_user() else None,
                               cwd=self.datadir.parent, env={"LC_ALL": "C", "TZ": "UTC"},
                               timeout=120)
        if found.returncode != 0:
            raise PostgresCommandFailed(argv, found.stdout + found.stderr)
        return found.stdout + found.stderr

    def _wait_accepting(self, process: subprocess.Popen, timeout_s: float) -> None:
        """The port opens before recovery ends; wait until a session can really start."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self.connect(dbname="postgres", timeout_s=1):
                    return
            except psycopg.OperationalError as err:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise processes.ProcessDidNotStart(
                        f"PostgreSQL of {self.region}", str(err).strip(), self.log_path
                    ) from err
                time.sleep(0.05)
