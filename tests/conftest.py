"""Shared fixtures: one lab for the whole session, in a temporary lab directory on free
loopback ports, so tests never touch a user's lab; and cheap resets between tests."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# Before any boto3 client exists: never ask an instance metadata service for credentials.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
for _name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

PROJECT_DIR = Path(__file__).resolve().parents[1]
LAB_TIME_SCALE = 0.05


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def lab_config(lab_dir: Path, **overrides):
    """A LabConfig on free ports (app stand-ins on their usual 127.0.x.10 addresses)."""
    from dr.lab.config import DEFAULT_REGIONS, LabConfig, RegionAddresses

    regions = {
        name: RegionAddresses(a.app_host, free_port(a.app_host), free_port())
        for name, a in DEFAULT_REGIONS.items()
    }
    values = dict(lab_dir=str(lab_dir), project_dir=str(PROJECT_DIR),
                  emulator_port=free_port(), dns_port=free_port(),
                  time_scale=LAB_TIME_SCALE, regions=regions)
    values.update(overrides)
    return LabConfig(**values)


@pytest.fixture
def make_lab_config():
    """``make_lab_config(lab_dir, **overrides)``: a LabConfig of its own on free ports."""
    return lab_config


@pytest.fixture(scope="session")
def lab_session(tmp_path_factory):
    """The running lab (LabState) shared by every test of the session; down at the end."""
    from dr.lab import lab as lab_ops

    lab_dir = tmp_path_factory.mktemp("lab")
    result = lab_ops.up(lab_config(lab_dir))
    try:
        yield result.state
    finally:
        lab_ops.down(lab_dir)


@pytest.fixture
def lab_control(lab_session):
    """The shared lab's control API; whatever fault a test set is cleared after it. (Its
    timeout covers a reset that rebuilds real PostgreSQL servers on a loaded machine.)"""
    from dr.lab.client import ControlClient

    control = ControlClient(lab_session.control_url)
    yield control
    control.clear()


@pytest.fixture
def lab(lab_session, lab_control):
    """The shared lab in the roles it was deployed with: redeployed first when an earlier
    test of this worker left it failed over; faults a test injected are cleared after it."""
    if not _in_deployed_roles(lab_session):
        _redeploy(lab_session)
    yield lab_session
    lab_control.clear()


def _in_deployed_roles(state) -> bool:
    from dr import naming
    from dr.settings import load_pair

    primary = load_pair(PROJECT_DIR).primary.region
    rds = _deploy_target(state).client("rds", primary)
    members = rds.describe_global_clusters(GlobalClusterIdentifier=naming.global_cluster_id())[
        "GlobalClusters"][0]["GlobalClusterMembers"]
    writers = [m["DBClusterArn"].split(":")[-1] for m in members if m["IsWriter"]]
    return writers == [naming.cluster_id(primary)] and len(members) == 2


_TARGETS: dict[str, object] = {}


def _deploy_target(state):
    """One target (and so one boto3 session) per lab: redeploying reuses loaded models."""
    if state.lab_dir not in _TARGETS:
        _TARGETS[state.lab_dir] = state.target()
    return _TARGETS[state.lab_dir]


def _redeploy(state):
    from dr.lab.client import ControlClient
    from dr.lab.config import read as read_config
    from dr.lab.topology import deploy
    from dr.settings import load_pair

    control = ControlClient(state.control_url)
    control.reset()
    return deploy(load_pair(PROJECT_DIR), read_config(state.lab_dir), _deploy_target(state),
                  control)


@pytest.fixture
def lab_deployment(lab_session):
    """Reset the shared lab and deploy the topology again; the ``Deployment`` it made."""
    return _redeploy(lab_session)


@pytest.fixture(scope="module")
def module_fresh_lab(lab_session):
    """The shared lab reset once for the module: for tests that only read or are refused,
    placed before the module's tests that change the lab."""
    from dr.lab.client import ControlClient

    _redeploy(lab_session)
    yield lab_session
    ControlClient(lab_session.control_url).clear()


@pytest.fixture
def fresh_lab(lab_session, lab_control, lab_deployment):
    """The shared lab reset to the topology just deployed (control plane: roles, alarms,
    health checks, metrics; the data plane's own reset when it has one); faults cleared
    before and after. A few seconds."""
    yield lab_session
    lab_control.clear()
