"""Helpers for tests against the running lab: clients, bounded polling, names."""

from __future__ import annotations

import time
from typing import Any, Callable

import pytest

from dr import naming

EAST, WEST = "us-east-1", "us-west-2"
ACCOUNT = "123456789012"


def cluster_arn(region: str) -> str:
    return f"arn:aws:rds:{region}:{ACCOUNT}:cluster:{naming.cluster_id(region)}"


def _poll(read: Callable[[], Any], until: Callable[[Any], bool], timeout_s: float = 30.0,
         every_s: float = 0.1) -> list[Any]:
    """Read until ``until(value)``; returns every value read. Bounded: fails at timeout."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen.append(read())
        if until(seen[-1]):
            return seen
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s} s; last value: {seen[-1:]}")


@pytest.fixture
def poll() -> Callable[..., list[Any]]:
    """``poll(read, until, timeout_s=30)``: read until ``until(value)``, bounded."""
    return _poll


@pytest.fixture
def cluster_arns() -> dict[str, str]:
    return {region: cluster_arn(region) for region in (EAST, WEST)}


@pytest.fixture(scope="session")
def client(lab_session) -> Callable[..., Any]:
    """``client(service, region)`` against the lab, one attempt per call (faults show)."""
    target = lab_session.target(max_attempts=1, read_timeout_s=10)
    cache: dict[tuple[str, str], Any] = {}

    def make(service: str, region: str) -> Any:
        key = (service, region)
        if key not in cache:
            cache[key] = target.client(service, region)
        return cache[key]

    return make


@pytest.fixture
def http_endpoint():
    from endpoints import SwitchableEndpoint

    endpoint = SwitchableEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture
def https_endpoint(tmp_path):
    from endpoints import SwitchableEndpoint

    endpoint = SwitchableEndpoint(tls_dir=tmp_path)
    yield endpoint
    endpoint.close()


@pytest.fixture
def health(lab_control) -> Callable[[str], bool]:
    """``health(check_id)``: the check's state as the DNS data plane sees it."""
    return lambda check_id: lab_control.dns_view()["health_checks"][check_id]
