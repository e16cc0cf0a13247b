"""`lab.up` / `lab.down`: idempotent, clean, and clear about what stops them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dr.lab import lab as lab_ops
from dr.lab import state as lab_state
from dr.lab.processes import LabPortTaken, require_free

pytestmark = pytest.mark.lab

CONTROL_PLANE_ONLY = ""  # no data plane: these tests are about the emulator's lifecycle


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens there (connections in TIME_WAIT do not count, as for the lab)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def test_up_then_down_twice_leaves_no_process_and_no_port(tmp_path: Path,
                                                          make_lab_config) -> None:
    config = make_lab_config(tmp_path / "lab")
    for _ in range(2):
        started = lab_ops.up(config)
        assert started.already_running is False
        assert lab_state.load(config.lab_dir).endpoint_url == config.endpoint_url

        pids = started.state.pids
        lab_ops.down(config.lab_dir)
        assert [name for name, pid in pids.items() if lab_state.pid_alive(pid)] == []
        assert port_is_free(config.emulator_port) is True
        assert all(port_is_free(a.app_port, a.app_host) and port_is_free(a.postgres_port)
                   for a in config.regions.values())
        assert lab_state.read(config.lab_dir) is None


def test_second_up_reports_the_running_lab_and_changes_nothing(tmp_path: Path,
                                                               make_lab_config) -> None:
    config = make_lab_config(tmp_path / "lab", dataplane=CONTROL_PLANE_ONLY)
    first = lab_ops.up(config)
    try:
        second = lab_ops.up(config)
        assert second.already_running is True
        assert second.state.pids == first.state.pids
    finally:
        lab_ops.down(config.lab_dir)


def test_down_of_a_lab_that_is_not_running_stops_nothing(tmp_path: Path) -> None:
    assert lab_ops.down(tmp_path / "nothing-here") == []


def test_a_taken_port_is_reported_with_its_address_before_anything_starts(
        tmp_path: Path, make_lab_config) -> None:
    config = make_lab_config(tmp_path / "lab")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", config.emulator_port))
        squatter.listen()
        with pytest.raises(LabPortTaken, match=f"127.0.0.1:{config.emulator_port}/tcp"):
            lab_ops.up(config)
    assert lab_state.read(config.lab_dir) is None


def closed_connection_in_time_wait(closing_first: str) -> int:
    """A port whose only socket is a TIME-WAIT left by a connection to it, closed first by
    the ``"client"`` or the ``"server"`` (a listener with SO_REUSEADDR, as servers have)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        server, _ = listener.accept()
        first, second = (client, server) if closing_first == "client" else (server, client)
        first.close()
        second.recv(1)  # the peer's FIN: the first closer is the one left in TIME-WAIT
        second.close()
    return port


@pytest.mark.parametrize("closing_first", ["client", "server"])
def test_a_port_held_only_by_a_closed_connection_in_time_wait_counts_as_free(
        closing_first: str) -> None:
    port = closed_connection_in_time_wait(closing_first)
    time_wait = subprocess.run(["ss", "-Htan", "state", "time-wait", f"( sport = :{port}"
                                f" or dport = :{port} )"], capture_output=True, text=True)
    assert time_wait.stdout.strip() != ""  # the situation under test is really there

    require_free("PostgreSQL of us-west-2", "127.0.0.1", port)  # raises when it is taken


def test_the_lab_target_names_the_missing_lab_and_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(lab_state.LabNotRunning, match="run `invoke lab.up`"):
        lab_state.target(tmp_path)


def test_ctrl_c_during_up_leaves_nothing_running(tmp_path: Path, make_lab_config) -> None:
    lab_dir = tmp_path / "lab"
    config = make_lab_config(lab_dir, dataplane=CONTROL_PLANE_ONLY)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from dr.lab import lab; from dr.lab.config import LabConfig, RegionAddresses;"
        "import json; c = json.loads(sys.argv[2]);"
        "c['regions'] = {k: RegionAddresses(**v) for k, v in c['regions'].items()};"
        "lab.up(LabConfig(**c))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, config.project_dir, json.dumps(config.to_json())],
        cwd=config.project_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    emulator = None
    for _ in range(300):  # until the emulator is spawned, at most 30 s
        state = lab_state.read(lab_dir)
        if state is not None:
            emulator = state.pids["emulator"]
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)

    assert emulator is not None
    assert lab_state.pid_alive(emulator) is False
    assert lab_state.read(lab_dir) is None
    assert port_is_free(config.emulator_port) is True


def invoke(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([".venv/bin/invoke", *args], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[2])


def test_lab_up_task_on_a_running_lab_says_so_and_exits_0(lab) -> None:
    done = invoke("lab.up", "--lab-dir", lab.lab_dir)
    assert (done.returncode, done.stdout.strip()) == (
        0, f"the lab is already running in {lab.lab_dir} at {lab.endpoint_url}")


def test_lab_env_task_prints_exports_for_the_running_lab(lab) -> None:
    done = invoke("lab.env", "--lab-dir", lab.lab_dir, "--region", "us-west-2")
    assert done.stdout.splitlines()[:4] == [
        f"export AWS_ENDPOINT_URL={lab.endpoint_url}", "export AWS_ACCESS_KEY_ID=lab",
        "export AWS_SECRET_ACCESS_KEY=lab-secret", "export AWS_DEFAULT_REGION=us-west-2"]


def test_lab_status_task_shows_roles_and_processes(fresh_lab) -> None:
    lines = invoke("lab.status", "--lab-dir", fresh_lab.lab_dir).stdout.splitlines()
    assert any("us-east-1" in line and "database writer" in line for line in lines)
    assert any(line.strip().startswith("process emulator") and "running" in line
               for line in lines)


def test_lab_tasks_refuse_the_aws_target_without_a_traceback(tmp_path: Path) -> None:
    done = invoke("lab.down", "--target", "aws", "--lab-dir", str(tmp_path))
    assert done.returncode == 2
    assert "lab tasks act on the local lab only" in done.stderr
    assert "Traceback" not in done.stderr


def test_lab_up_task_when_postgres_cannot_start_exits_quoting_its_log_and_stops_all(
        tmp_path: Path, make_lab_config) -> None:
    lab_dir = tmp_path / "lab"
    config = make_lab_config(lab_dir)
    west = config.regions["us-west-2"]
    settings = tmp_path / "invoke.yaml"
    settings.write_text(json.dumps({"lab": {  # JSON is YAML: the lab's own free ports
        "host": config.host, "emulator_port": config.emulator_port,
        "dns_port": config.dns_port, "time_scale": config.time_scale,
        "regions": {name: {"app_host": a.app_host, "app_port": a.app_port,
                           "postgres_port": a.postgres_port}
                    for name, a in config.regions.items()}}}))
    process = subprocess.Popen(
        [".venv/bin/invoke", "-f", str(settings), "lab.up", "--lab-dir", str(lab_dir)],
        cwd=config.project_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with socket.socket() as squatter:
        for _ in range(300):  # the port check is behind it once the emulator runs (<= 30 s)
            if lab_state.read(lab_dir) is not None or process.poll() is not None:
                break
            time.sleep(0.1)
        # Someone else takes the replica's port after the check, before its server starts.
        squatter.bind(("127.0.0.1", west.postgres_port))
        squatter.listen()
        _, stderr = process.communicate(timeout=120)

    assert process.returncode == 1
    assert "Traceback" not in stderr
    assert "lab.up failed: PostgreSQL of us-west-2 did not start" in stderr
    assert "Address already in use" in stderr  # quoted from the server's own log
    assert "Address already in use" in (lab_dir / "logs" / "postgres-us-west-2.log").read_text()
    assert lab_state.read(lab_dir) is None
    assert all(port_is_free(port) for port in (
        config.emulator_port, config.regions["us-east-1"].postgres_port, west.postgres_port))
