"""Where AWS calls go, and how they are made.

A ``Target`` is either real AWS (endpoints and credentials from the usual boto3 chain) or the
local lab (one moto-based endpoint on loopback, dummy credentials). Every client in ``dr/``
comes from a target, so nothing can reach AWS by accident while the lab is the default.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

logger = logging.getLogger(__name__)

TARGETS = ("lab", "aws")
LAB_ACCESS_KEY = "lab"
LAB_SECRET_KEY = "lab-secret"
LAB_ACCOUNT_ID = "123456789012"  # moto's default account


class TargetError(ValueError):
    """A target that cannot be used: unknown kind, or the lab is not running."""


@dataclass(frozen=True)
class Target:
    """Where the calls of a run go.

    kind: ``lab`` or ``aws``.
    endpoint_url: the lab's endpoint; ``None`` for AWS.
    connect_timeout_s, read_timeout_s, max_attempts: bounds on every call, so a dead region
    costs seconds, not the default minutes of retries.
    """

    kind: str
    endpoint_url: str | None = None
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 20.0
    max_attempts: int = 4
    _session: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in TARGETS:
            raise TargetError(f"unknown target {self.kind!r}: use one of {', '.join(TARGETS)}")
        if self.kind == "lab" and not self.endpoint_url:
            raise TargetError("the lab target needs the lab's endpoint URL")
        if self._session is None:
            # A fresh boto3 session loads every service model again (a few hundred ms per
            # client); one session per target keeps that off a failover's critical path.
            object.__setattr__(self, "_session", _LockedSession())

    @classmethod
    def lab(cls, endpoint_url: str, **bounds: Any) -> "Target":
        return cls("lab", endpoint_url, **bounds)

    @classmethod
    def aws(cls, **bounds: Any) -> "Target":
        return cls("aws", None, **bounds)

    @property
    def is_lab(self) -> bool:
        return self.kind == "lab"

    def config(self, **overrides: Any) -> botocore.config.Config:
        options: dict[str, Any] = {
            "connect_timeout": self.connect_timeout_s,
            "read_timeout": self.read_timeout_s,
            "retries": {"mode": "standard", "max_attempts": self.max_attempts},
        }
        options.update(overrides)
        return botocore.config.Config(**options)

    def client(self, service: str, region: str, **config: Any) -> Any:
        """A boto3 client for ``service`` in ``region``; ``config`` overrides the bounds."""
        session = self._session
        kwargs: dict[str, Any] = {"region_name": region, "config": self.config(**config)}
        if self.is_lab:
            kwargs.update(
                endpoint_url=self.endpoint_url,
                aws_access_key_id=LAB_ACCESS_KEY,
                aws_secret_access_key=LAB_SECRET_KEY,
            )
        logger.debug("client %s in %s via %s", service, region, self.endpoint_url or "AWS")
        return session.client(service, **kwargs)


class _LockedSession:
    """One boto3 session shared by the threads of a target: sessions are not thread-safe,
    so clients are made under a lock; the clients themselves are."""

    def __init__(self) -> None:
        self._session = boto3.session.Session()
        self._lock = threading.Lock()

    def client(self, service: str, **kwargs: Any) -> Any:
        with self._lock:
            return self._session.client(service, **kwargs)


UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)


def is_unreachable(error: BaseException) -> bool:
    """True when a call failed because the endpoint did not answer (a region outage)."""
    return isinstance(error, UNREACHABLE)


def error_code(error: BaseException) -> str | None:
    """AWS's error code of a failed call, or None when it failed before AWS answered."""
    if isinstance(error, botocore.exceptions.ClientError):
        return error.response.get("Error", {}).get("Code")
    return None
