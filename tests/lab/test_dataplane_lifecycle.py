"""Bringing the data plane up and down leaves nothing behind, even after a failed start.

The whole lab's up/down (emulator included) is checked in ``test_dataplane_lab.py``.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from dr.lab.dataplane import layout as layouts
from dr.lab.dataplane import lifecycle, processes
from dr.lab.dataplane.layout import RegionLayout

pytestmark = pytest.mark.lab

EAST, WEST = "us-east-1", "us-west-2"


def free_regions() -> tuple[RegionLayout, RegionLayout]:
    return (RegionLayout(EAST, "127.0.1.10", processes.free_port(), processes.free_port()),
            RegionLayout(WEST, "127.0.2.10", processes.free_port(), processes.free_port()))


def can_bind(host: str, port: int) -> bool:
    """Nobody holds the port (TIME_WAIT of closed connections is allowed, as for servers)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def test_down_without_a_data_plane_does_nothing(tmp_path: Path) -> None:
    assert lifecycle.stop(tmp_path) == []
    assert lifecycle.status(tmp_path) == []


def test_a_start_that_fails_half_way_stops_what_it_had_started(open_lab_dir: Path) -> None:
    east, west = free_regions()
    with socket.socket() as squatter:  # the replica's port is taken by someone else
        squatter.bind(("127.0.0.1", west.postgres_port))
        squatter.listen()
        with pytest.raises(processes.ProcessDidNotStart, match="PostgreSQL of us-west-2"):
            lifecycle.start(open_lab_dir, (east, west), EAST)

    assert layouts.read(open_lab_dir) is None
    assert not (open_lab_dir / "postgres").exists()  # the data directories are gone
    kept = (open_lab_dir / "logs" / "postgres-us-west-2.log").read_text()
    assert "Address already in use" in kept  # why it did not start can still be read
    assert can_bind("127.0.0.1", east.postgres_port)
    assert not processes.port_open("127.0.0.1", east.postgres_port)


@pytest.fixture
def open_lab_dir():
    """A lab directory the server user can enter, so the data lives inside it."""
    directory = Path(tempfile.mkdtemp(prefix="shopsmart-test-lab-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)
