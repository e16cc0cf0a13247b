"""A client of an app stand-in, for drills, probes, tests and benchmarks.

It speaks HTTPS without verifying the certificate (the stand-ins' certificate is
self-signed, as Route 53's checks tolerate) and returns the status and JSON body of every
answer, errors included, so callers decide what a 503 means.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Any

_UNVERIFIED = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
_UNVERIFIED.check_hostname = False
_UNVERIFIED.verify_mode = ssl.CERT_NONE


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class AppUnreachable(ConnectionError):
    """The app stand-in did not answer at all (refused, reset, timed out)."""


@dataclass(frozen=True)
class AppClient:
    host: str
    port: int
    timeout_s: float = 5.0

    def health(self) -> Reply:
        return self.request("GET", "/health")

    def place_order(self, client_id: str, sequence: int, item: str = "") -> Reply:
        return self.request("POST", "/orders",
                            {"client_id": client_id, "sequence": sequence, "item": item})

    def order(self, client_id: str, sequence: int) -> Reply:
        return self.request("GET", f"/orders/{client_id}-{sequence}")

    def sequences(self, client_id: str) -> list[int]:
        reply = self.request("GET", f"/orders?client_id={client_id}")
        if not reply.ok:
            raise AppUnreachable(f"{self.host}:{self.port} could not list orders: {reply}")
        return list(reply.body["sequences"])

    def request(self, method: str, path: str, document: dict[str, Any] | None = None) -> Reply:
        body = json.dumps(document).encode() if document is not None else None
        headers = {"Content-Type": "application/json"} if body else {}
        connection = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout_s,
                                                 context=_UNVERIFIED)
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
        except (OSError, http.client.HTTPException) as err:
            raise AppUnreachable(f"{method} https://{self.host}:{self.port}{path}: {err}") from err
        finally:
            connection.close()
        try:
            parsed = json.loads(payload) if payload else {}
        except ValueError:
            parsed = {"raw": payload.decode(errors="replace")}
        return Reply(answer.status, parsed)
