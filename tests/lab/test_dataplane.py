"""The data plane's databases and apps: real PostgreSQL servers and HTTPS app stand-ins.

The tests of this file share one pair (writer in us-east-1, streaming replica in us-west-2)
on free ports in its own lab directory, reset before each test to those roles with no
orders, and drive it through ``LabDataPlane`` as the emulator does at failovers,
switchovers, rebuilds and outages.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
import pytest

from dr.lab.dataplane import lifecycle, processes
from dr.lab.dataplane.client import AppClient, AppUnreachable
from dr.lab.dataplane.layout import RegionLayout
from dr.lab.dataplane.plane import LabDataPlane

pytestmark = pytest.mark.lab

EAST, WEST = "us-east-1", "us-west-2"


@dataclass(frozen=True)
class Pair:
    plane: LabDataPlane
    east: AppClient
    west: AppClient


@pytest.fixture(scope="module")
def started_pair(tmp_path_factory: pytest.TempPathFactory):
    regions = (
        RegionLayout(EAST, "127.0.1.10", processes.free_port(), processes.free_port()),
        RegionLayout(WEST, "127.0.2.10", processes.free_port(), processes.free_port()),
    )
    lab_dir = tmp_path_factory.mktemp("dataplane") / "lab"
    lifecycle.start(lab_dir, regions, EAST)
    try:
        yield Pair(LabDataPlane(lab_dir),
                   AppClient(regions[0].app_host, regions[0].app_port),
                   AppClient(regions[1].app_host, regions[1].app_port))
    finally:
        lifecycle.stop(lab_dir)


@pytest.fixture
def pair(started_pair: Pair) -> Pair:
    started_pair.plane.reset_to(EAST)
    return started_pair


def place(app: AppClient, first: int, last: int, client: str = "drill") -> list[int]:
    """Place orders first..last; the sequence numbers the app acknowledged."""
    return [n for n in range(first, last + 1) if app.place_order(client, n).status == 201]


def test_a_write_on_the_writer_is_read_back_on_the_replica(pair: Pair) -> None:
    assert pair.east.place_order("drill", 1, "espresso machine").status == 201

    pair.plane.wait_caught_up(EAST, WEST, timeout_s=10)

    replica_copy = pair.west.order("drill", 1)
    assert replica_copy.status == 200
    assert replica_copy.body["item"] == "espresso machine"
    assert replica_copy.body["region"] == EAST


def test_the_replica_refuses_writes_with_a_clear_503(pair: Pair) -> None:
    refused = pair.west.place_order("drill", 1)

    assert refused.status == 503
    assert refused.body["error"] == "read-only"
    assert pair.west.health().body == {"status": "ok", "region": WEST, "database": "replica"}


def test_an_unplanned_promotion_takes_writes_and_the_fenced_old_writer_refuses_them(
        pair: Pair) -> None:
    pair.plane.promote(WEST)
    pair.plane.fence(EAST)

    assert pair.west.place_order("drill", 2).status == 201
    refused = pair.east.place_order("drill", 3)
    assert refused.status == 503
    assert refused.body["error"] == "read-only"
    assert pair.plane.role(WEST) == "writer"


def test_a_switchover_under_steady_writes_loses_nothing(pair: Pair) -> None:
    acknowledged: list[int] = []
    switched = threading.Event()

    def steady_writes() -> None:  # 150 writes, one every 10 ms, to whichever is the writer
        for sequence in range(1, 151):
            app = pair.west if switched.is_set() else pair.east
            if app.place_order("load", sequence).status == 201:
                acknowledged.append(sequence)
            time.sleep(0.01)

    writer = threading.Thread(target=steady_writes)
    writer.start()
    time.sleep(0.4)
    pair.plane.fence(EAST)
    pair.plane.wait_caught_up(EAST, WEST, timeout_s=10)
    pair.plane.promote(WEST)
    switched.set()
    writer.join(timeout=30)

    assert len(acknowledged) > 100  # the load really ran on both sides of the switch
    assert pair.west.sequences("load") == sorted(acknowledged)


def test_a_replication_pause_then_unplanned_failover_loses_exactly_the_paused_writes(
        pair: Pair) -> None:
    assert place(pair.east, 1, 5) == [1, 2, 3, 4, 5]
    pair.plane.wait_caught_up(EAST, WEST, timeout_s=10)
    pair.plane.hold_replication(WEST, seconds=60)

    assert place(pair.east, 6, 10) == [6, 7, 8, 9, 10]
    time.sleep(0.5)  # time for WAL to arrive, were it not held
    pair.plane.region_down(EAST)
    pair.plane.promote(WEST)

    assert pair.west.sequences("drill") == [1, 2, 3, 4, 5]


def test_replication_lag_is_zero_when_caught_up_and_counts_seconds_while_held(
        pair: Pair) -> None:
    place(pair.east, 1, 1)
    pair.plane.wait_caught_up(EAST, WEST, timeout_s=10)
    assert pair.plane.replication_lag_s(WEST) == 0.0
    assert pair.plane.replication_lag_s(EAST) is None  # a writer has no replication lag

    pair.plane.hold_replication(WEST, seconds=60)
    time.sleep(1.0)
    place(pair.east, 2, 2)

    assert pair.plane.replication_lag_s(WEST) >= 1.0


def test_a_replication_hold_ends_by_itself_and_the_replica_catches_up(pair: Pair) -> None:
    pair.plane.hold_replication(WEST, seconds=0.5)
    place(pair.east, 1, 3)

    pair.plane.wait_caught_up(EAST, WEST, timeout_s=15)

    assert pair.west.sequences("drill") == [1, 2, 3]
    assert pair.plane.snapshot().runtime(WEST).held is False


def test_an_outage_stops_the_regions_app_and_database_and_its_end_restarts_them(
        pair: Pair) -> None:
    place(pair.east, 1, 1)
    pair.plane.region_down(WEST)

    with pytest.raises(AppUnreachable):
        pair.west.health()
    assert place(pair.east, 2, 2) == [2]  # the writer's region is unaffected

    pair.plane.region_up(WEST)
    pair.plane.wait_caught_up(EAST, WEST, timeout_s=15)
    assert pair.west.health().body["database"] == "replica"
    assert pair.west.sequences("drill") == [1, 2]


def test_the_old_writer_is_rebuilt_as_a_replica_of_the_new_one_after_its_region_returns(
        pair: Pair) -> None:
    place(pair.east, 1, 1)
    pair.plane.wait_caught_up(EAST, WEST, timeout_s=10)
    pair.plane.region_down(EAST)
    pair.plane.promote(WEST)
    place(pair.west, 2, 2)

    pair.plane.region_up(EAST)
    pair.plane.rebuild_as_replica(EAST, WEST)
    pair.plane.wait_caught_up(WEST, EAST, timeout_s=15)

    assert pair.east.health().body == {"status": "ok", "region": EAST, "database": "replica"}
    assert pair.east.sequences("drill") == [1, 2]
    assert pair.east.place_order("drill", 3).status == 503
    assert pair.plane.snapshot().runtime(EAST).source == WEST
