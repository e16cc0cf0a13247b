"""Lab control-plane figures: lab up time, health-check detection time, emulated unplanned
failover duration. Every run is bounded and uses its own lab directory and free ports.

    .venv/bin/python bench/lab.py [--rounds 3] [--scales 1,0.05]
"""

from __future__ import annotations

import argparse
import http.server
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from dr import naming  # noqa: E402
from dr.lab import lab as lab_ops  # noqa: E402
from dr.lab.client import ControlClient  # noqa: E402
from dr.lab.config import DEFAULT_REGIONS, LabConfig, RegionAddresses  # noqa: E402
from dr.settings import load_pair  # noqa: E402

EAST, WEST = "us-east-1", "us-west-2"
BOUND_S = 600.0  # no single measurement waits longer


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def config(lab_dir: str, time_scale: float, dataplane: str | None = None) -> LabConfig:
    regions = {name: RegionAddresses(a.app_host, free_port(a.app_host), free_port())
               for name, a in DEFAULT_REGIONS.items()}
    return LabConfig(lab_dir=lab_dir, project_dir=str(ROOT), emulator_port=free_port(),
                     dns_port=free_port(), time_scale=time_scale, regions=regions,
                     dataplane=dataplane)


def wait_for(read, until, bound_s: float = BOUND_S, every_s: float = 0.02) -> float:
    began = time.monotonic()
    while time.monotonic() - began < bound_s:
        if until(read()):
            return time.monotonic() - began
        time.sleep(every_s)
    raise TimeoutError(f"not within {bound_s} s")


def measure_up(rounds: int, dataplane: str | None, label: str) -> None:
    took = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as lab_dir:
            began = time.monotonic()
            lab_ops.up(config(lab_dir, 0.05, dataplane))
            took.append(time.monotonic() - began)
            lab_ops.down(lab_dir)
    print(f"lab.up ({label}), {rounds} rounds: median {statistics.median(took):.1f} s,"
          f" max {max(took):.1f} s")


class FlakyEndpoint:
    def __init__(self) -> None:
        self.status = 200
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def measure_detection(rounds: int, time_scale: float) -> None:
    dns = load_pair(ROOT).primary.dns
    with tempfile.TemporaryDirectory() as lab_dir:
        state = lab_ops.up(config(lab_dir, time_scale, dataplane="")).state
        control = ControlClient(state.control_url)
        route53 = state.target().client("route53", EAST)
        endpoint = FlakyEndpoint()
        try:
            check = route53.create_health_check(CallerReference=str(uuid.uuid4()),
                                                HealthCheckConfig={
                "Type": "HTTP", "IPAddress": "127.0.0.1",
                "Port": endpoint.server.server_address[1], "ResourcePath": dns.health_path,
                "RequestInterval": dns.health_check_interval_s,
                "FailureThreshold": dns.failure_threshold})["HealthCheck"]["Id"]
            healthy = lambda: control.dns_view()["health_checks"][check]  # noqa: E731
            down, up = [], []
            for _ in range(rounds):
                wait_for(healthy, lambda h: h is True)
                endpoint.status = 503
                down.append(wait_for(healthy, lambda h: h is False))
                endpoint.status = 200
                up.append(wait_for(healthy, lambda h: h is True))
        finally:
            endpoint.close()
            lab_ops.down(lab_dir)
    scale = f"time scale {time_scale}"
    print(f"health check detection (interval {dns.health_check_interval_s} s, threshold"
          f" {dns.failure_threshold}, {scale}), {rounds} rounds: unhealthy after median"
          f" {statistics.median(down):.2f} s (max {max(down):.2f} s; AWS-equivalent"
          f" {statistics.median(down) / time_scale:.1f} s), healthy again after median"
          f" {statistics.median(up):.2f} s")


def measure_failover(time_scale: float) -> None:
    with tempfile.TemporaryDirectory() as lab_dir:
        state = lab_ops.up(config(lab_dir, time_scale)).state
        control = ControlClient(state.control_url)
        rds = state.target(max_attempts=1).client("rds", WEST)
        try:
            control.set_fault(EAST, "outage")
            began = time.monotonic()
            rds.failover_global_cluster(
                GlobalClusterIdentifier=naming.global_cluster_id(),
                TargetDbClusterIdentifier=(f"arn:aws:rds:{WEST}:123456789012:cluster:"
                                           f"{naming.cluster_id(WEST)}"),
                AllowDataLoss=True)
            accepted = time.monotonic() - began

            def writer_is_west(cluster: dict) -> bool:
                members = {m["DBClusterArn"].split(":")[3]: m["IsWriter"]
                           for m in cluster["GlobalClusterMembers"]}
                return cluster["Status"] == "available" and members[WEST]

            done = wait_for(lambda: rds.describe_global_clusters()["GlobalClusters"][0],
                            writer_is_west, every_s=0.05)
        finally:
            lab_ops.down(lab_dir)
    print(f"unplanned failover (east down, AllowDataLoss, time scale {time_scale}):"
          f" accepted in {accepted:.2f} s, us-west-2 writer and global cluster available"
          f" after {done:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scales", default="1,0.05")
    args = parser.parse_args()
    scales = [float(s) for s in args.scales.split(",")]

    measure_up(args.rounds, "", "control plane only")
    measure_up(args.rounds, None, "with the data plane")
    for scale in scales:
        measure_detection(args.rounds, scale)
    for scale in scales:
        measure_failover(scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
