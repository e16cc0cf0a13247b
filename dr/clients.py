"""Clients shared by the threads of one run: made once, from one boto3 session.

Making a boto3 client loads its service model, which costs a few hundred milliseconds on a
fresh session; a failover makes dozens of clients from parallel steps, and that time would
sit on the RTO's critical path. boto3 sessions are not thread-safe, so clients are made
under a lock; the clients themselves are thread-safe once made.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import boto3

from dr.aws import Target


class SharedSession:
    """Stands in for a boto3 session inside a ``Target``: ``client(...)`` returns the one
    client for the same service, region, endpoint and configuration."""

    def __init__(self) -> None:
        self._session = boto3.session.Session()
        self._lock = threading.Lock()
        self._clients: dict[tuple[Any, ...], Any] = {}

    def client(self, service: str, **kwargs: Any) -> Any:
        config = kwargs.get("config")
        options = getattr(config, "_user_provided_options", {}) if config else {}
        key = (service, kwargs.get("region_name"), kwargs.get("endpoint_url"),
               repr(sorted(options.items())))
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(service, **kwargs)
            return self._clients[key]


def pooled(target: Target) -> Target:
    """``target`` with its clients pooled for the life of one run."""
    return dataclasses.replace(target, _session=SharedSession())
