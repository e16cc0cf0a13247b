"""Lab data plane figures: PostgreSQL pair start, replica catch-up, DNS answer flip.

    .venv/bin/python bench/dataplane.py [--rounds N] [--pause-s S] [--time-scale X]

1. pair start: initdb of the writer, its schema, a base backup into the replica and the
   replica streaming (median and maximum of N rounds, each in a fresh directory).
2. catch-up: replication into the replica is held for S seconds while orders are written
   at a steady rate; then the time from the release until the replica has replayed it all.
3. DNS flip: a whole lab on free ports; the primary's app stand-in is stopped, and the time
   until the lab DNS answers the secondary's address is measured, then the app is started
   again and the time until the answer flips back. Health checks run at the stack files'
   interval and failure threshold, multiplied by the time scale (1.0: as configured).
Everything runs on loopback and everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dns.exception  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402

from dr.lab import config as lab_config  # noqa: E402
from dr.lab import lab as lab_ops  # noqa: E402
from dr.lab.dataplane import layout as layouts  # noqa: E402
from dr.lab.dataplane import lifecycle, postgres, processes, replication  # noqa: E402
from dr.lab.dataplane.layout import RegionLayout  # noqa: E402
from dr.lab.dataplane.plane import LabDataPlane  # noqa: E402
from dr.settings import load_pair  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parents[1]
EAST, WEST = "us-east-1", "us-west-2"
WRITES_PER_S = 50


def pair_start(rounds: int) -> list[float]:
    seconds = []
    for _ in range(rounds):
        root = Path(tempfile.mkdtemp(prefix="shopsmart-bench-pg-"))
        postgres.give_to_server_user(root)
        writer = postgres.PostgresServer(EAST, processes.free_port(), root / EAST)
        replica = postgres.PostgresServer(WEST, processes.free_port(), root / WEST)
        pids: list[tuple[postgres.PostgresServer, int]] = []
        try:
            began = time.perf_counter()
            writer.init_primary()
            pids.append((writer, writer.start()))
            writer.create_schema()
            replica.init_replica_of(writer)
            pids.append((replica, replica.start()))
            replication.follow(replica, writer)
            seconds.append(time.perf_counter() - began)
        finally:
            for server, pid in pids:
                server.stop(pid)
            shutil.rmtree(root, ignore_errors=True)
    return seconds


def catch_up(pause_s: float) -> tuple[int, float]:
    """(orders written during the hold, seconds from release to replayed)."""
    lab_dir = Path(tempfile.mkdtemp(prefix="shopsmart-bench-lab-"))
    regions = (RegionLayout(EAST, "127.0.1.10", processes.free_port(), processes.free_port()),
               RegionLayout(WEST, "127.0.2.10", processes.free_port(), processes.free_port()))
    try:
        snapshot = lifecycle.start(lab_dir, regions, EAST)
        plane = LabDataPlane(lab_dir)
        writer = snapshot.layout.server(EAST)
        plane.hold_replication(WEST, seconds=3600)
        written, deadline = 0, time.monotonic() + pause_s
        with writer.connect(user=postgres.APP_ROLE) as conn:
            conn.autocommit = True
            while time.monotonic() < deadline:
                conn.execute("INSERT INTO orders (client_id, sequence, item, region) "
                             "VALUES ('bench', %s, repeat('x', 200), %s)", (written, EAST))
                written += 1
                time.sleep(1 / WRITES_PER_S)
        began = time.perf_counter()
        plane.release_replication(WEST)
        plane.wait_caught_up(EAST, WEST, timeout_s=120)
        return written, time.perf_counter() - began
    finally:
        lifecycle.stop(lab_dir)
        shutil.rmtree(lab_dir, ignore_errors=True)


def answer(state, name: str) -> list[str]:
    try:
        reply = dns.query.udp(dns.message.make_query(name, "A"), state.dns_host,
                              port=state.dns_port, timeout=1)
    except dns.exception.Timeout:
        return []
    return sorted(rdata.address for rrset in reply.answer for rdata in rrset)


def wait_for_answer(state, name: str, address: str, timeout_s: float) -> float:
    began = time.perf_counter()
    while time.perf_counter() - began < timeout_s:
        if answer(state, name) == [address]:
            return time.perf_counter() - began
        time.sleep(0.05)
    raise SystemExit(f"DNS did not answer {address} for {name} within {timeout_s:.0f} s")


def dns_flip(time_scale: float) -> tuple[float, float, float]:
    """(lab.up seconds, flip to the secondary, flip back) with the primary app stopped."""
    lab_dir = Path(tempfile.mkdtemp(prefix="shopsmart-bench-lab-"))
    addresses = {name: lab_config.RegionAddresses(a.app_host, processes.free_port(a.app_host),
                                                  processes.free_port())
                 for name, a in lab_config.DEFAULT_REGIONS.items()}
    config = lab_config.LabConfig(
        lab_dir=str(lab_dir), project_dir=str(PROJECT_DIR), emulator_port=processes.free_port(),
        dns_port=processes.free_port(), time_scale=time_scale, regions=addresses)
    domain = load_pair(PROJECT_DIR).primary.domain
    patience = 600 * max(time_scale, 0.05)
    try:
        began = time.perf_counter()
        state = lab_ops.up(config).state
        up_s = time.perf_counter() - began
        wait_for_answer(state, domain, addresses[EAST].app_host, patience)
        snapshot = layouts.read(lab_dir)
        processes.stop(snapshot.runtime(EAST).app_pid, lifecycle.app_marker(EAST))
        away = wait_for_answer(state, domain, addresses[WEST].app_host, patience)
        layouts.write(snapshot.with_region(EAST, app_pid=lifecycle.launch_app(
            snapshot.layout, EAST)))
        back = wait_for_answer(state, domain, addresses[EAST].app_host, patience)
        return up_s, away, back
    finally:
        lab_ops.down(lab_dir)
        shutil.rmtree(lab_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="pair starts to time (1-20)")
    parser.add_argument("--pause-s", type=float, default=5.0, help="replication hold (1-120)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="factor on health-check intervals (0.01-1)")
    options = parser.parse_args()
    rounds = min(max(options.rounds, 1), 20)
    pause_s = min(max(options.pause_s, 1.0), 120.0)
    time_scale = min(max(options.time_scale, 0.01), 1.0)
    dns_settings = load_pair(PROJECT_DIR).primary.dns

    starts = pair_start(rounds)
    print(f"PostgreSQL pair start ({rounds} rounds): median {statistics.median(starts):.2f} s,"
          f" max {max(starts):.2f} s")
    written, caught_up = catch_up(pause_s)
    print(f"replica catch-up after a {pause_s:.0f} s hold with {written} orders written"
          f" ({WRITES_PER_S}/s): {caught_up:.3f} s")
    up_s, away, back = dns_flip(time_scale)
    interval = dns_settings.health_check_interval_s * time_scale
    print(f"lab.up (emulator, topology, data plane): {up_s:.1f} s")
    print(f"DNS flip after the primary's app stops (interval {interval:g} s, threshold"
          f" {dns_settings.failure_threshold}): {away:.2f} s; back after it returns:"
          f" {back:.2f} s")


if __name__ == "__main__":
    main()
