"""The journal of a run: what a procedure did, step by step, durable across kill -9.

Each run owns a directory ``incidents/<run-id>/`` with an append-only ``journal.jsonl``:
one JSON object per line, flushed and fsynced before the call returns, so a record that was
written survives a crash of the process or the machine. A kill in the middle of a write
leaves a torn last line; readers skip it and the next writer cuts it off first.

"The open run" is the newest run of a procedure that has no ``run-closed`` record and whose
process is gone (its lock file is not held). Running the procedure again resumes it; a run
still held by a live process is never resumed by another one (that one will meet the lease).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

logger = logging.getLogger(__name__)

JOURNAL = "journal.jsonl"
LOCK = "run.lock"

# Record kinds written by the runner (dr.plan); other modules may add their own kinds.
RUN_STARTED = "run-started"
RUN_RESUMED = "run-resumed"
RUN_STOPPED = "run-stopped"  # the process ended the run without closing it (resumable)
RUN_CLOSED = "run-closed"  # nothing more will happen in this run
STEP_STARTED = "step-started"
STEP_COMPLETED = "step-completed"
STEP_FAILED = "step-failed"
STEP_RECONCILED = "step-reconciled"
PLAN_RECORDED = "plan"
DECISION = "decision"


class JournalError(RuntimeError):
    """A journal that cannot be used: unreadable, of another procedure, or busy."""


class RunBusy(JournalError):
    """The run is being executed by another live process on this machine."""

    def __init__(self, run_id: str, directory: Path) -> None:
        self.run_id = run_id
        super().__init__(
            f"run {run_id} is being executed by another process (its lock {directory / LOCK}"
            " is held); wait for it to finish or stop that process, then run again"
        )


def now_iso(epoch: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id(procedure: str, epoch: float | None = None) -> str:
    """``<procedure>-<UTC timestamp>-<random>``: sorts by time and never collides."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, timezone.utc)
    return f"{procedure}-{moment.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def read_records(path: Path | str) -> list[dict[str, Any]]:
    """Every complete record of a journal file; a torn last line is skipped with a warning."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # the last line, no newline after it: a torn write
                logger.warning("%s: ignoring a torn last record (%d bytes)", path, len(line))
                continue
            raise JournalError(f"{path}: line {number} is not JSON; the journal is damaged")
    return records


class Journal:
    """Append-only JSON-lines file; ``append`` returns once the record is on disk."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._write_lock = threading.Lock()  # parallel steps journal from their own threads
        self._cut_torn_tail()

    def _cut_torn_tail(self) -> None:
        # A new record must start on its own line, so a torn tail is removed, not continued.
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            logger.warning("%s: cutting a torn last record (%d bytes)", self.path,
                           len(data) - keep)
            with open(self.path, "r+b") as handle:
                handle.truncate(keep)
                os.fsync(handle.fileno())

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Write ``{"kind": kind, "at": <ISO UTC>, "epoch": <s>, **fields}`` durably."""
        epoch = time.time()
        record = {"kind": kind, "at": now_iso(epoch), "epoch": round(epoch, 3), **fields}
        line = json.dumps(record, separators=(",", ":"), default=str, ensure_ascii=False)
        with self._write_lock:
            created = not self.path.exists()
            with open(self.path, "ab") as handle:
                handle.write(line.encode("utf-8") + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            if created:
                _fsync_dir(self.path.parent)
        logger.debug("journal %s: %s %s", self.path.parent.name, kind, fields.get("step", ""))
        return record

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.path)


@dataclass
class Run:
    """An open run directory: its id, journal and the lock that marks its process alive.

    Create with ``Run.start`` or ``Run.resume`` (or ``open_run`` for "resume if unfinished,
    else start"), use as a context manager or call ``release`` at the end. ``params`` and
    ``trigger`` are those recorded when the run started, also after a resume.
    """

    run_id: str
    procedure: str
    directory: Path
    journal: Journal
    trigger: dict[str, Any]
    params: dict[str, Any]
    resumed: bool
    _lock: Any = None

    @classmethod
    def start(cls, incidents_dir: Path | str, procedure: str, trigger: Mapping[str, Any],
              params: Mapping[str, Any] | None = None, run_id: str | None = None) -> "Run":
        run_id = run_id or new_run_id(procedure)
        directory = Path(incidents_dir) / run_id
        directory.mkdir(parents=True, exist_ok=False)
        lock = _lock(directory, run_id)
        journal = Journal(directory / JOURNAL)
        _fsync_dir(directory.parent)  # the run's directory entry must survive a crash too
        journal.append(RUN_STARTED, run_id=run_id, procedure=procedure, trigger=dict(trigger),
                       params=dict(params or {}), pid=os.getpid())
        logger.info("run %s started (%s), journal %s", run_id, procedure, journal.path)
        return cls(run_id, procedure, directory, journal, dict(trigger), dict(params or {}),
                   False, lock)

    @classmethod
    def resume(cls, incidents_dir: Path | str, run_id: str,
               trigger: Mapping[str, Any] | None = None) -> "Run":
        directory = Path(incidents_dir) / run_id
        first = _first_record(directory / JOURNAL)
        if first is None:
            raise JournalError(f"no journal for run {run_id} under {incidents_dir}")
        if _closed(directory / JOURNAL):
            raise JournalError(f"run {run_id} is closed; start a new run instead")
        lock = _lock(directory, run_id)
        journal = Journal(directory / JOURNAL)
        journal.append(RUN_RESUMED, run_id=run_id, trigger=dict(trigger or {}), pid=os.getpid())
        logger.info("resuming run %s (%s) from %s", run_id, first["procedure"], journal.path)
        return cls(run_id, first["procedure"], directory, journal, first.get("trigger", {}),
                   first.get("params", {}), True, lock)

    def records(self) -> list[dict[str, Any]]:
        return self.journal.records()

    def close(self, status: str, **fields: Any) -> None:
        """Mark the run finished (``complete``, ``failed``, ``refused``...): never resumed."""
        self.journal.append(RUN_CLOSED, status=status, **fields)

    def release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def open_run(incidents_dir: Path | str, procedure: str, trigger: Mapping[str, Any],
             params: Mapping[str, Any] | None = None) -> Run:
    """Resume the open run of ``procedure`` when there is one, else start a new one."""
    run_id = find_open_run(incidents_dir, procedure)
    if run_id is not None:
        return Run.resume(incidents_dir, run_id, trigger)
    return Run.start(incidents_dir, procedure, trigger, params)


def abandon_run(incidents_dir: Path | str, run_id: str, reason: str) -> None:
    """Close an open run without resuming it (an operator chose to start afresh).

    Raises ``RunBusy`` while its process still runs. The lease it held, if any, is left to
    expire: the new run meets it and may take it over once it is stale.
    """
    directory = Path(incidents_dir) / run_id
    if _first_record(directory / JOURNAL) is None:
        raise JournalError(f"no journal for run {run_id} under {incidents_dir}")
    lock = _lock(directory, run_id)
    try:
        Journal(directory / JOURNAL).append(RUN_CLOSED, status="abandoned", reason=reason)
        logger.warning("run %s abandoned: %s", run_id, reason)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def find_open_run(incidents_dir: Path | str, procedure: str) -> str | None:
    """The newest unclosed run of ``procedure`` whose process is gone, or None."""
    for directory in sorted(_run_dirs(incidents_dir), reverse=True):
        first = _first_record(directory / JOURNAL)
        if first is None or first.get("procedure") != procedure:
            continue
        if _closed(directory / JOURNAL) or _held(directory):
            continue
        return directory.name
    return None


def _run_dirs(incidents_dir: Path | str) -> Iterator[Path]:
    root = Path(incidents_dir)
    if not root.is_dir():
        return iter(())
    return (entry for entry in root.iterdir() if (entry / JOURNAL).is_file())


def _first_record(path: Path) -> dict[str, Any] | None:
    records = read_records(path)
    if not records or records[0].get("kind") != RUN_STARTED:
        return None
    return records[0]


def _closed(path: Path) -> bool:
    return any(record.get("kind") == RUN_CLOSED for record in read_records(path))


def _lock(directory: Path, run_id: str) -> Any:
    handle = open(directory / LOCK, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunBusy(run_id, directory) from None
    return handle


def _fsync_dir(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _held(directory: Path) -> bool:
    # flock is released by the kernel when its process dies, kill -9 included.
    try:
        handle = open(directory / LOCK, "a+")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
