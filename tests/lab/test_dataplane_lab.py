"""The data plane inside the whole lab: the emulator's global-cluster operations, faults and
health checks drive the real PostgreSQL servers, app stand-ins and DNS answers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dns.message
import dns.query
import psycopg
import pytest

from dr import naming
from dr.lab import lab as lab_ops
from dr.lab.dataplane import layout as layouts
from dr.lab.dataplane import lifecycle, processes
from dr.lab.dataplane.client import AppClient, AppUnreachable
from dr.settings import load_pair

pytestmark = pytest.mark.lab

EAST, WEST = "us-east-1", "us-west-2"
DOMAIN = load_pair(lab_ops.lab_state.PROJECT_DIR).primary.domain


def app(state, region: str) -> AppClient:
    addresses = state.region(region)
    return AppClient(addresses.app_host, addresses.app_port)


def resolve(state, name: str) -> list[str]:
    reply = dns.query.udp(dns.message.make_query(name, "A"), state.dns_host,
                          port=state.dns_port, timeout=2)
    return sorted(rdata.address for rrset in reply.answer for rdata in rrset)


def fail_over(client, cluster_arns, to_region: str) -> None:
    client("rds", to_region).failover_global_cluster(
        GlobalClusterIdentifier=naming.global_cluster_id(),
        TargetDbClusterIdentifier=cluster_arns[to_region], AllowDataLoss=True)


def writer_of(client, region: str) -> str | None:
    found = client("rds", region).describe_global_clusters(
        GlobalClusterIdentifier=naming.global_cluster_id())["GlobalClusters"][0]
    if found["Status"] != "available":
        return None
    writers = [m["DBClusterArn"] for m in found["GlobalClusterMembers"] if m["IsWriter"]]
    return writers[0].split(":")[3] if writers else None


def health_of(application: AppClient) -> str:
    try:
        return application.health().body.get("database", "unhealthy")
    except AppUnreachable:
        return "unreachable"


def test_lab_env_exports_the_dns_servers_address(lab) -> None:
    exports = lab_ops.env(lab, EAST)

    assert f"export SHOPSMART_LAB_DNS=127.0.0.1:{lab.dns_port}" in exports


def test_dns_answers_flip_when_the_primarys_app_stops_and_back_when_it_returns(
        fresh_lab, lab_control, poll) -> None:
    east_app, west_app = fresh_lab.region(EAST).app_host, fresh_lab.region(WEST).app_host
    poll(lambda: resolve(fresh_lab, DOMAIN), lambda found: found == [east_app])

    lab_control.set_fault(EAST, "outage")  # stops us-east-1's app and database
    poll(lambda: resolve(fresh_lab, DOMAIN), lambda found: found == [west_app])

    lab_control.clear()
    poll(lambda: resolve(fresh_lab, DOMAIN), lambda found: found == [east_app])


def test_cluster_endpoints_resolve_through_the_lab_dns_to_each_regions_server(
        fresh_lab, client) -> None:
    roles = {}
    for region in (EAST, WEST):
        cluster = client("rds", region).describe_db_clusters(
            DBClusterIdentifier=naming.cluster_id(region))["DBClusters"][0]
        assert cluster["Port"] == fresh_lab.region(region).postgres_port
        [address] = resolve(fresh_lab, cluster["Endpoint"])
        with psycopg.connect(host=address, port=cluster["Port"], user="shopsmart",
                             dbname="shopsmart", connect_timeout=3) as conn:
            roles[region] = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]

    assert roles == {EAST: False, WEST: True}


def test_an_unplanned_failover_promotes_the_replica_and_the_old_writer_rejoins_as_replica(
        fresh_lab, lab_control, client, cluster_arns, poll) -> None:
    east, west = app(fresh_lab, EAST), app(fresh_lab, WEST)
    assert east.place_order("drill", 1).status == 201
    poll(lambda: west.order("drill", 1).status, lambda status: status == 200)

    lab_control.set_fault(EAST, "outage")
    fail_over(client, cluster_arns, WEST)
    poll(lambda: writer_of(client, WEST), lambda writer: writer == WEST)

    assert west.place_order("drill", 2).status == 201
    lab_control.clear()  # the region returns: the emulator rebuilds its server as a replica
    poll(lambda: health_of(east), lambda role: role == "replica")
    poll(lambda: east.sequences("drill"), lambda found: found == [1, 2])
    assert east.place_order("drill", 3).status == 503


def test_a_switchover_under_steady_writes_loses_no_acknowledged_write(
        fresh_lab, client, cluster_arns, poll) -> None:
    east, west = app(fresh_lab, EAST), app(fresh_lab, WEST)
    acknowledged: list[int] = []

    def steady_writes() -> None:  # 200 writes, one every 20 ms; to us-west-2 once refused
        target = east
        for sequence in range(1, 201):
            reply = target.place_order("load", sequence)
            if reply.status == 201:
                acknowledged.append(sequence)
            elif target is east:
                target = west
            time.sleep(0.02)

    writer = threading.Thread(target=steady_writes)
    writer.start()
    time.sleep(0.5)
    client("rds", EAST).switchover_global_cluster(
        GlobalClusterIdentifier=naming.global_cluster_id(),
        TargetDbClusterIdentifier=cluster_arns[WEST])
    poll(lambda: writer_of(client, WEST), lambda found: found == WEST)
    writer.join(timeout=60)

    assert len(acknowledged) > 20
    assert west.sequences("load") == sorted(acknowledged)


def test_a_replication_pause_then_an_unplanned_failover_loses_exactly_the_paused_writes(
        fresh_lab, lab_control, client, cluster_arns, poll) -> None:
    east, west = app(fresh_lab, EAST), app(fresh_lab, WEST)
    assert [east.place_order("drill", n).status for n in range(1, 6)] == [201] * 5
    poll(lambda: west.sequences("drill"), lambda found: found == [1, 2, 3, 4, 5])

    lab_control.set_fault(WEST, "replication-pause", seconds=60)
    assert [east.place_order("drill", n).status for n in range(6, 11)] == [201] * 5
    fail_over(client, cluster_arns, WEST)
    poll(lambda: writer_of(client, WEST), lambda writer: writer == WEST)

    assert west.sequences("drill") == [1, 2, 3, 4, 5]


def test_lab_up_then_down_leaves_no_postgres_process_data_directory_or_port(
        tmp_path, make_lab_config) -> None:
    config = make_lab_config(tmp_path / "own-lab")
    lab_ops.up(config)
    snapshot = layouts.read(config.lab_dir)
    pids = [snapshot.dns_pid] + [pid for runtime in snapshot.regions.values()
                                 for pid in (runtime.postgres_pid, runtime.app_pid)]
    assert all(processes.is_running(pid) for pid in pids)

    lab_ops.down(config.lab_dir)

    assert not any(processes.is_running(pid) for pid in pids)
    assert lifecycle.status(config.lab_dir) == []
    assert not any(Path(snapshot.layout.data_root, region).exists() for region in (EAST, WEST))
    for region, addresses in config.regions.items():
        assert not processes.port_open("127.0.0.1", addresses.postgres_port)
        assert not processes.port_open(addresses.app_host, addresses.app_port)
    assert not processes.port_open(config.host, config.dns_port)
