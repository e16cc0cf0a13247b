"""A plain moto server on a free loopback port, for the engine's unit tests.

The engine's building blocks (lease, notifications) need only stock DynamoDB, SNS and SQS,
so they run against moto itself, not the full lab. One server serves the whole session;
tests keep apart by using their own table and topic names or by cleaning what they made.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from dr.aws import Target


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def engine_moto(tmp_path_factory) -> Target:
    """A ``Target`` for a moto server process started for this session, stopped by PID."""
    port = _free_port()
    environment = {**os.environ, "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_ACCESS_KEY_ID": "lab", "AWS_SECRET_ACCESS_KEY": "lab-secret"}
    log = open(tmp_path_factory.mktemp("moto") / "moto.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=environment,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server on {url} did not start; see {log.name}")
                time.sleep(0.1)
        yield Target.lab(url, read_timeout_s=10, max_attempts=1)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@pytest.fixture(autouse=True)
def _no_metadata_lookups(monkeypatch) -> None:
    # Dummy credentials and no instance metadata: nothing here may look for real AWS.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "lab")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lab-secret")


@pytest.fixture
def table(engine_moto) -> str:
    """A lease table of its own in us-west-2, shaped like ``naming.lease_table()``."""
    name = f"leases-{uuid.uuid4().hex[:8]}"
    engine_moto.client("dynamodb", "us-west-2").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "lease", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lease", "AttributeType": "S"}],
    )
    return name
