"""Starting and stopping the lab's processes by PID, and checking its ports."""

from __future__ import annotations

import errno
import os
import signal
import socket
import time

from dr.lab.state import pid_alive


class LabPortTaken(RuntimeError):
    """A port the lab needs is already in use."""

    def __init__(self, what: str, host: str, port: int, protocol: str) -> None:
        self.port = port
        super().__init__(
            f"port {host}:{port}/{protocol} for the {what} is already in use: stop whatever"
            f" listens there, or give the lab another port in invoke.yaml (lab:) or by flag"
        )


def require_free(what: str, host: str, port: int, udp: bool = False) -> None:
    """Raise ``LabPortTaken`` unless ``host:port`` can be bound (TCP, and UDP if asked)."""
    for kind, name in ((socket.SOCK_STREAM, "tcp"),) + (((socket.SOCK_DGRAM, "udp"),)
                                                          if udp else ()):
        probe = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                raise LabPortTaken(what, host, port, name) from None
            raise
        finally:
            probe.close()


def stop_pid(pid: int, grace_s: float = 10.0) -> bool:
    """SIGTERM ``pid`` (and its process group, when it leads one), SIGKILL after ``grace_s``.
    Returns True when it had been running."""
    if not pid_alive(pid):
        return False
    leads_group = _leads_group(pid)
    _signal(pid, signal.SIGTERM, leads_group)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _reap(pid):
            return True
        time.sleep(0.05)
    _signal(pid, signal.SIGKILL, leads_group)
    for _ in range(100):
        if not _reap(pid):
            break
        time.sleep(0.02)
    return True


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _signal(pid: int, signum: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reap(pid: int) -> bool:
    """True while ``pid`` is still alive; collects it if it is our exited child."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    return pid_alive(pid)
