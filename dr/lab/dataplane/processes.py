"""Starting and stopping the data plane's processes, always by PID.

The processes outlive the one that started them (``invoke lab.up`` exits; the emulator
restarts a region's processes after an outage), so every stop works from a PID alone. A PID
is only signalled after its command line was checked, because PIDs are reused.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Sequence

logger = logging.getLogger(__name__)


class ProcessDidNotStart(RuntimeError):
    """A process exited, or never opened its port, within the time allowed."""

    def __init__(self, what: str, found: str, log_path: Path | None) -> None:
        # The log is quoted now: a failed start's cleanup may remove it with the data.
        where = f"; its log {log_path} ends: {_log_tail(log_path)}" if log_path else ""
        super().__init__(f"{what} did not start: {found}{where}")


def _log_tail(log_path: Path, lines: int = 5) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError as err:
        return f"(unreadable: {err.strerror})"
    return " | ".join(line for line in text.strip().splitlines()[-lines:]) or "(empty)"


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    user: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Start ``argv`` in its own session with output to ``log_path``; ``user`` drops root."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        identity = {"user": user, "group": user, "extra_groups": []} if user else {}
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,  # a Ctrl-C in the starting terminal must not reach it
            **identity,
        )
    logger.debug("started PID %d: %s", process.pid, " ".join(argv))
    _watch(process)
    return process


_children: list[subprocess.Popen] = []
_children_lock = threading.Lock()
_reaper: threading.Thread | None = None


def _watch(process: subprocess.Popen) -> None:
    """Collect ``process``'s exit status as soon as it ends, whoever stopped it.

    ``lab.down`` stops by PID from another process the servers that the emulator restarted;
    without a parent that waits for them they would linger as zombies, which look alive to
    a PID check. The reaper thread ends when no child is left.
    """
    global _reaper
    with _children_lock:
        _children.append(process)
        if _reaper is None:
            _reaper = threading.Thread(target=_reap_children, name="reaper", daemon=True)
            _reaper.start()


def _reap_children() -> None:
    global _reaper
    while True:
        with _children_lock:
            _children[:] = [child for child in _children if child.poll() is None]
            if not _children:
                _reaper = None  # under the lock: the next spawn starts a new reaper
                return
        time.sleep(0.2)


def is_running(pid: int | None, marker: str = "") -> bool:
    """True if ``pid`` runs and its command line contains ``marker``; zombies count as gone."""
    if not pid:
        return False
    proc = Path(f"/proc/{pid}")
    try:
        status = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    if status in ("Z", "X"):
        _reap(pid)
        return False
    return marker in cmdline


def stop(pid: int | None, marker: str, *, sig: int = signal.SIGTERM,
         timeout_s: float = 15.0) -> bool:
    """Signal ``pid`` and wait until it is gone; SIGKILL after ``timeout_s``.

    Returns False when there was nothing to stop (gone already, or the PID now belongs to a
    process whose command line lacks ``marker``).
    """
    if not is_running(pid, marker):
        return False
    assert pid is not None
    logger.debug("stopping PID %d (%s) with %s", pid, marker, signal.Signals(sig).name)
    os.kill(pid, sig)
    if _wait_gone(pid, marker, timeout_s):
        return True
    logger.warning("PID %d (%s) ignored %s for %.0f s: killing it", pid, marker,
                   signal.Signals(sig).name, timeout_s)
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, marker, 5.0)
    return True


def wait_for_port(host: str, port: int, *, what: str, process: subprocess.Popen,
                  log_path: Path | None, timeout_s: float = 20.0) -> None:
    """Block until ``host:port`` accepts TCP connections while ``process`` stays alive."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessDidNotStart(
                what, f"PID {process.pid} exited with code {process.returncode}", log_path)
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise ProcessDidNotStart(what, f"{host}:{port} closed after {timeout_s:.0f} s", log_path)


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (and, for DNS, free for UDP too)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
            return port
    raise OSError(f"no port free for both TCP and UDP on {host} after 50 tries")


def _wait_gone(pid: int, marker: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_running(pid, marker):
            return True
        time.sleep(0.05)
    return False


def _reap(pid: int) -> None:
    """Collect the exit status when ``pid`` is our own child, so it leaves no zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
