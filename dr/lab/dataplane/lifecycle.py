"""Bring the data plane up and down: PostgreSQL pair, app stand-ins, DNS server.

``start`` records every step in ``dataplane.json`` as it goes, so that ``stop`` can clean up
after a start that failed half-way as well as after a normal run.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from dr.lab.dataplane import layout as layouts
from dr.lab.dataplane import processes, replication, tls
from dr.lab.dataplane.layout import REPLICA, WRITER, Layout, RegionLayout, RegionRuntime

logger = logging.getLogger(__name__)

APP_MODULE = "dr.lab.dataplane.app"
DNS_MODULE = "dr.lab.dataplane.dnsserver"


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int | None
    running: bool
    detail: str


def start(lab_dir: Path | str, regions: tuple[RegionLayout, ...], writer_region: str,
          *, dns_host: str = "127.0.0.1", dns_port: int = 5354,
          control_url: str = "") -> layouts.Snapshot:
    """Start everything; on failure stop what was started and re-raise.

    control_url: the emulator's control API; without it no DNS server is started (the DNS
    server answers from the emulator's view and has nothing to serve without one).
    """
    lab_dir = Path(lab_dir).resolve()
    began = time.monotonic()
    data_root = layouts.make_data_root(lab_dir)
    layout = Layout(str(lab_dir), str(data_root), tuple(regions), writer_region,
                    dns_host, dns_port, control_url)
    replica_region = layout.peer(writer_region)
    snapshot = layouts.Snapshot(layout, {
        writer_region: RegionRuntime(WRITER),
        replica_region: RegionRuntime(REPLICA, source=writer_region),
    })
    layouts.write(snapshot)
    try:
        snapshot = _start_servers(snapshot, writer_region, replica_region)
        tls.write_self_signed(layout.cert_path, layout.key_path,
                              [region.app_host for region in regions])
        # Started together and waited for together, so their start-ups overlap.
        apps = {region: _spawn_app(layout, region) for region in layout.region_names}
        for region, process in apps.items():
            snapshot = snapshot.with_region(region, app_pid=process.pid)
        dns = _spawn_dns(layout) if control_url else None
        snapshot = replace(snapshot, dns_pid=dns.pid if dns else None)
        layouts.write(snapshot)
        for region, process in apps.items():
            _wait_app(layout, region, process)
        if dns is not None:
            _wait_dns(layout, dns)
    except BaseException:
        logger.error("the data plane did not start; stopping what had started")
        _keep_server_logs(layout)
        stop(lab_dir)
        raise
    logger.info("data plane up in %.1f s (writer %s, replica %s)",
                time.monotonic() - began, writer_region, replica_region)
    return snapshot


def _start_servers(snapshot: layouts.Snapshot, writer_region: str,
                   replica_region: str) -> layouts.Snapshot:
    layout = snapshot.layout
    writer, replica = layout.server(writer_region), layout.server(replica_region)
    writer.init_primary()
    snapshot = snapshot.with_region(writer_region, postgres_pid=writer.start())
    layouts.write(snapshot)
    writer.create_schema()
    replica.init_replica_of(writer)
    snapshot = snapshot.with_region(replica_region, postgres_pid=replica.start())
    layouts.write(snapshot)
    replication.follow(replica, writer)
    return snapshot


def _keep_server_logs(layout: Layout) -> None:
    """The servers' logs live beside their data, which ``stop`` removes: keep copies in
    the lab's log directory, where the reason a server did not start can still be read."""
    for region in layout.region_names:
        log = layout.server(region).log_path
        if log.exists():
            kept = layout.log_path(f"postgres-{region}")
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, kept)
            logger.error("PostgreSQL of %s logged to %s", region, kept)


def stop(lab_dir: Path | str) -> list[str]:
    """Stop every data-plane process by its recorded PID and remove the data; idempotent."""
    snapshot = layouts.read(lab_dir)
    if snapshot is None:
        return []
    layout = snapshot.layout
    stopped = []
    if processes.stop(snapshot.dns_pid, DNS_MODULE):
        stopped.append(f"dns (PID {snapshot.dns_pid})")
    for region, runtime in snapshot.regions.items():
        if processes.stop(runtime.app_pid, app_marker(region)):
            stopped.append(f"app {region} (PID {runtime.app_pid})")
        if layout.server(region).stop(runtime.postgres_pid):
            stopped.append(f"postgres {region} (PID {runtime.postgres_pid})")
    shutil.rmtree(layout.data_root, ignore_errors=True)
    shutil.rmtree(layout.cert_path.parent, ignore_errors=True)
    layouts.remove(lab_dir)
    logger.info("data plane stopped: %s", ", ".join(stopped) or "nothing was running")
    return stopped


def status(lab_dir: Path | str) -> list[ProcessStatus]:
    snapshot = layouts.read(lab_dir)
    if snapshot is None:
        return []
    layout = snapshot.layout
    found = []
    for region, runtime in snapshot.regions.items():
        role = runtime.role + (f" of {runtime.source}" if runtime.source else "")
        flags = [flag for flag in ("fenced", "held", "down") if getattr(runtime, flag)]
        detail = f"{role}{' (' + ', '.join(flags) + ')' if flags else ''}, " \
                 f"127.0.0.1:{layout.region(region).postgres_port}"
        found.append(ProcessStatus(f"postgres {region}", runtime.postgres_pid,
                                   layout.server(region).is_running(runtime.postgres_pid),
                                   detail))
        app = layout.region(region)
        found.append(ProcessStatus(f"app {region}", runtime.app_pid,
                                   processes.is_running(runtime.app_pid, app_marker(region)),
                                   f"https://{app.app_host}:{app.app_port}"))
    if layout.control_url:
        found.append(ProcessStatus("dns", snapshot.dns_pid,
                                   processes.is_running(snapshot.dns_pid, DNS_MODULE),
                                   f"{layout.dns_host}:{layout.dns_port} (UDP+TCP)"))
    return found


def app_marker(region: str) -> str:
    return f"{APP_MODULE} --region {region}"


def launch_app(layout: Layout, region: str) -> int:
    """Start ``region``'s app stand-in; its PID once it listens."""
    process = _spawn_app(layout, region)
    _wait_app(layout, region, process)
    return process.pid


def launch_dns(layout: Layout) -> int:
    """Start the DNS server; its PID once it listens."""
    process = _spawn_dns(layout)
    _wait_dns(layout, process)
    return process.pid


def _spawn_app(layout: Layout, region: str) -> subprocess.Popen:
    app = layout.region(region)
    argv = [sys.executable, "-m", APP_MODULE, "--region", region,
            "--host", app.app_host, "--port", str(app.app_port),
            "--db-port", str(app.postgres_port),
            "--cert", str(layout.cert_path), "--key", str(layout.key_path)]
    return processes.spawn(argv, layout.log_path(f"app-{region}"), env=_python_env())


def _wait_app(layout: Layout, region: str, process: subprocess.Popen) -> None:
    app = layout.region(region)
    processes.wait_for_port(app.app_host, app.app_port, what=f"app stand-in of {region}",
                            process=process, log_path=layout.log_path(f"app-{region}"))


def _spawn_dns(layout: Layout) -> subprocess.Popen:
    argv = [sys.executable, "-m", DNS_MODULE, "--host", layout.dns_host,
            "--port", str(layout.dns_port), "--control-url", layout.control_url]
    return processes.spawn(argv, layout.log_path("dns"), env=_python_env())


def _wait_dns(layout: Layout, process: subprocess.Popen) -> None:
    processes.wait_for_port(layout.dns_host, layout.dns_port, what="lab DNS server",
                            process=process, log_path=layout.log_path("dns"))


def _python_env() -> dict[str, str]:
    """The child runs this project's code whatever the current directory is."""
    env = dict(os.environ)
    project = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = project + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
