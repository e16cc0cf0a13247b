"""Client of the lab's control API (faults, DNS view, reset), for tasks, tests and the DNS
server. Plain HTTP on loopback with short timeouts; the control API is never faulted."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class ControlApiError(RuntimeError):
    """The control API refused a request or did not answer."""


@dataclass(frozen=True)
class ControlClient:
    control_url: str  # e.g. http://127.0.0.1:5566/_shopsmart
    # An outage or its end waits for the data plane to stop or restart a region (seconds,
    # more on a loaded machine); a reset rebuilds the replica.
    timeout_s: float = 120.0

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.control_url.rstrip('/')}/{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")
            raise ControlApiError(f"{method} {url} answered {err.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as err:
            raise ControlApiError(f"{method} {url} did not answer: {err}") from None

    def status(self) -> dict[str, Any]:
        return self.call("GET", "status")

    def set_fault(self, region: str, kind: str, rate: float = 1.0, ms: int = 0,
                  seconds: float = 0.0) -> dict:
        return self.call("POST", "faults", {"region": region, "kind": kind, "rate": rate,
                                            "ms": ms, "seconds": seconds})

    def clear(self, region: str | None = None) -> list[dict[str, Any]]:
        query = f"?{urllib.parse.urlencode({'region': region})}" if region else ""
        return self.call("DELETE", f"faults{query}")["cleared"]

    def faults(self) -> list[dict[str, Any]]:
        return self.call("GET", "faults")["faults"]

    def dns_view(self) -> dict[str, Any]:
        return self.call("GET", "dns-view")

    def reset(self) -> None:
        self.call("POST", "reset")

    def seed_hosted_zone(self, name: str, zone_id: str) -> dict[str, Any]:
        return self.call("POST", "seed/hosted-zone", {"name": name, "id": zone_id})
