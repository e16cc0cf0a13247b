"""RTO of a failover on the lab: this project's engine, a plain sequential runbook, and the
critical-path bound, measured in the same run.

    .venv/bin/python bench/failover.py [--time-scale 0.05] [--trials 1]

Each trial starts from a freshly deployed lab, cuts us-east-1 off (region outage: its APIs
and data plane stop), and measures RTO the way the DR plan defines it: from the fault to
the first order written through the shop's public name and stored by us-west-2. A client
outside the engine resolves the name at the lab's DNS server (keeping each answer for its
TTL, as a resolver does) and posts an order every 0.1 s. Detection (until 2 of 4 signals
agree) is the same wait for both procedures.

- engine: `dr.failover` (evacuate, then promotion and scale-up in parallel, verify...).
- runbook: written here, one thing after another as a wiki page would say: promote and
  wait, then scale up and wait, then switch traffic and wait for DNS.
- bound: detection + the longer of promotion and scale-up (as the engine measured them in
  this trial) + the DNS TTL, scaled like every other lab duration.

Columns: detection (fault to agreeing signals), decision (agreeing signals to the start of
the promotion: the engine's evidence gate, pre-flight, lease, notice and evacuation),
promotion, capacity and traffic (each as the procedure measured it), RTO (fault to the
first order stored by us-west-2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from dr import database, failover, naming, preflight, signals  # noqa: E402
from dr.clients import pooled  # noqa: E402
from dr.lab import lab as lab_ops  # noqa: E402
from dr.lab.client import ControlClient  # noqa: E402
from dr.lab.config import DEFAULT_REGIONS, LabConfig, RegionAddresses  # noqa: E402
from dr.lab.config import read as read_config  # noqa: E402
from dr.lab.topology import deploy  # noqa: E402
from dr.probe import ProbeError, resolve_a  # noqa: E402
from dr.settings import load_pair  # noqa: E402
from dr.traffic import https_post  # noqa: E402
from dr.waiting import Timeouts  # noqa: E402

EAST, WEST = "us-east-1", "us-west-2"
DNS_TTL_S = 60  # the TTL the zone answers with for the shop's alias (the ALB's, 60 s)
LIMIT_S = 600.0  # every wait of the benchmark stops by itself


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class ShopClient(threading.Thread):
    """Posts an order through the public name every 0.1 s until one lands in ``region``."""

    def __init__(self, lab, domain: str, region: str, ttl_s: float) -> None:
        super().__init__(daemon=True)
        self.lab, self.domain, self.region, self.ttl_s = lab, domain, region, ttl_s
        self.port = {r.app_host: r.app_port for r in lab.regions}
        self.served_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        answer, expires, sequence = (), 0.0, 0
        deadline = time.monotonic() + LIMIT_S
        while not self.stop.is_set() and time.monotonic() < deadline:
            now = time.time()
            try:
                if now >= expires:
                    answer = resolve_a(self.domain, self.lab.dns_host, self.lab.dns_port, 1.0)
                    expires = now + self.ttl_s
                if answer:
                    sequence += 1
                    status, text = https_post(answer[0], self.port[answer[0]], "/orders",
                                              self.domain, {"client_id": "bench",
                                                            "sequence": sequence}, 1.0)
                    if 200 <= status < 300 and json.loads(text).get("region") == self.region:
                        self.served_at = time.time()
                        return
            except (ProbeError, KeyError, ValueError):
                pass
            self.stop.wait(0.1)


def wait(check, what: str, poll_s: float = 0.1):
    deadline = time.monotonic() + LIMIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"gave up waiting for {what} after {LIMIT_S:.0f} s")


def runbook(target, pair) -> dict[str, float]:
    """The sequential runbook, plainly: each step waits for the previous one to finish."""
    west = pair.secondary
    rds = target.client("rds", WEST)
    times = {}
    started = time.time()
    arn = database.read_cluster(rds, WEST).arn
    rds.failover_global_cluster(GlobalClusterIdentifier=naming.global_cluster_id(),
                                TargetDbClusterIdentifier=arn, AllowDataLoss=True)

    def promoted() -> bool:
        view = database.read_global(rds, WEST)
        member = view.member(arn)
        return bool(member and member.is_writer and view.operation is None
                    and database.read_cluster(rds, WEST).status == "available")

    wait(promoted, "the promotion", 0.25)
    times["promotion"] = time.time() - started
    started = time.time()
    autoscaling = target.client("autoscaling", WEST)
    names = naming.asg_names(WEST, west.az_count)
    active = west.capacity.active
    for name in names:
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=active.min,
                                              DesiredCapacity=active.desired,
                                              MaxSize=active.max)

    def in_service() -> bool:
        groups = autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=names)["AutoScalingGroups"]
        return all(sum(i["LifecycleState"] == "InService" for i in g["Instances"])
                   >= g["DesiredCapacity"] for g in groups)

    wait(in_service, "instances InService", 0.25)
    times["capacity"] = time.time() - started
    started = time.time()
    target.client("cloudwatch", WEST).put_metric_data(
        Namespace=naming.EVACUATION_NAMESPACE, MetricData=[{
            "MetricName": naming.EVACUATION_METRIC, "Value": 1.0,
            "Dimensions": [{"Name": naming.EVACUATION_DIMENSION, "Value": EAST}]}])
    times["traffic"] = time.time() - started
    return times


def trial(lab, control, method: str, pair, scale: float, work: Path) -> dict[str, float]:
    control.reset()
    deploy(load_pair(PROJECT_DIR), read_config(lab.lab_dir), lab.target(), control)
    project = Path(tempfile.mkdtemp(dir=work, prefix=f"{method}-"))
    for name in ("Pulumi.primary.yaml", "Pulumi.secondary.yaml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    target = pooled(lab.target())
    # Aurora reports the lag about once a minute; a fresh lab has none until the first one.
    wait(lambda: preflight.replication_lag_s(target, WEST, Timeouts().scaled(scale))[0]
         is not None, "the first AuroraGlobalDBRPOLag datapoint", 0.2)
    client = ShopClient(lab, pair.primary.domain, WEST, DNS_TTL_S * scale)
    client.start()
    fault_at = time.time()
    control.set_fault(EAST, "outage")
    wait(lambda: signals.collect_evidence(target, pair, lab_dir=lab.lab_dir, timeout_s=2.0)
         .meets(pair.primary.evidence), "the evidence to agree", 0.2)
    figures = {"detection": time.time() - fault_at}
    if method == "engine":
        services, _ = failover.prepare(lab.target(), project, failover.FailoverOptions(),
                                       trigger={"by": "bench/failover.py"}, lab_dir=lab.lab_dir)
        services.failure_epoch = fault_at
        result = failover.run_failover(services)
        if result.outcome.status != "complete":
            raise RuntimeError(f"the engine's failover ended {result.outcome.status}:"
                               f" {result.outcome.error}")
        steps = {s.name: s for s in result.outcome.steps}
        figures.update(decision=steps["promote-database"].started_epoch - fault_at
                       - figures["detection"],
                       promotion=steps["promote-database"].duration_s,
                       capacity=steps["scale-up"].duration_s,
                       traffic=steps["evacuate-primary"].duration_s)
    else:
        figures.update(decision=0.0, **runbook(target, pair))
    wait(lambda: client.served_at, "the first order stored by us-west-2")
    client.stop.set()
    figures["rto"] = client.served_at - fault_at
    control.clear()
    return figures


def lab_config(lab_dir: Path, scale: float) -> LabConfig:
    regions = {name: RegionAddresses(a.app_host, free_port(a.app_host), free_port())
               for name, a in DEFAULT_REGIONS.items()}
    return LabConfig(lab_dir=str(lab_dir), project_dir=str(PROJECT_DIR),
                     emulator_port=free_port(), dns_port=free_port(), time_scale=scale,
                     regions=regions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/failover.py")
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--trials", type=int, default=1)
    args = parser.parse_args(argv)
    pair = load_pair(PROJECT_DIR)
    work = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    lab = lab_ops.up(lab_config(work / "lab", args.time_scale)).state
    control = ControlClient(lab.control_url, timeout_s=60)
    rows: dict[str, list[dict[str, float]]] = {"engine": [], "runbook": []}
    try:
        for _ in range(args.trials):
            for method in rows:
                rows[method].append(trial(lab, control, method, pair, args.time_scale, work))
    finally:
        lab_ops.down(lab.lab_dir)
        shutil.rmtree(work, ignore_errors=True)
    report(rows, args.time_scale)
    return 0


def report(rows: dict[str, list[dict[str, float]]], scale: float) -> None:
    def median(method: str, key: str) -> float:
        return statistics.median(row[key] for row in rows[method])

    ttl = DNS_TTL_S * scale
    bound = statistics.median(
        row["detection"] + max(row["promotion"], row["capacity"]) + ttl
        for row in rows["engine"])
    print(f"time scale {scale:g} (lab durations = AWS durations x {scale:g}); "
          f"{len(rows['engine'])} trial(s), medians in lab seconds")
    columns = ("detection", "decision", "promotion", "capacity", "traffic")
    print(f"{'':16}" + "".join(f"{name:>10}" for name in columns) + f"{'RTO':>8}")
    for method in rows:
        print(f"{method:16}" + "".join(f"{median(method, k):>10.2f}" for k in columns)
              + f"{median(method, 'rto'):>8.2f}")
    print(f"{'critical path':16}{'':>50}{bound:>8.2f}   (detection + max(promotion,"
          f" capacity) + DNS TTL {ttl:.1f})")
    engine, plain = median("engine", "rto"), median("runbook", "rto")
    print(f"engine / runbook {engine / plain:.2f}; engine / bound {engine / bound:.2f};"
          f" runbook / bound {plain / bound:.2f}")


if __name__ == "__main__":
    sys.exit(main())
