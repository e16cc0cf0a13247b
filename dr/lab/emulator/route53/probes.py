"""One health checker's probe of an endpoint, as Route 53 makes it.

HTTP and HTTPS count 2xx and 3xx as healthy (HTTPS without certificate validation, as Route
53 does); TCP needs the connection only. The target comes from the lab's name table; a
target that is not on loopback is reported failing and never contacted.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass


USER_AGENT = "Amazon-Route53-Health-Check-Service"


def _context_without_verification() -> ssl.SSLContext:
    # Built once: loading a context costs more than the probe. No CA certificates needed.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_NO_VERIFY = _context_without_verification()


@dataclass(frozen=True)
class Observation:
    healthy: bool
    status: str  # the StatusReport text, worded like Route 53's


def probe(kind: str, address: str | None, port: int, path: str | None, host_header: str | None,
          timeout_s: float, search_string: str | None = None) -> Observation:
    if address is None:
        return Observation(False, "Failure: DNS resolution failed: the lab knows no such name.")
    try:
        if kind == "TCP":
            with socket.create_connection((address, port), timeout=timeout_s):
                return Observation(True, f"Success: TCP connection established. Resolved IP:"
                                         f" {address}")
        return _http(kind, address, port, path or "/", host_header, timeout_s, search_string)
    except socket.timeout:
        return Observation(False, f"Failure: Connection timed out. Resolved IP: {address}")
    except (OSError, http.client.HTTPException) as err:
        return Observation(False, f"Failure: Connection failed ({err.__class__.__name__})."
                                  f" Resolved IP: {address}")


def _http(kind: str, address: str, port: int, path: str, host_header: str | None,
          timeout_s: float, search_string: str | None) -> Observation:
    if kind.startswith("HTTPS"):
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            address, port, timeout=timeout_s, context=_NO_VERIFY)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout_s)
    try:
        connection.request("GET", path, headers={"Host": host_header or address,
                                                  "User-Agent": USER_AGENT})
        response = connection.getresponse()
        body = response.read(5120) if search_string else b""
    finally:
        connection.close()
    code = response.status
    if not 200 <= code < 400:
        return Observation(False, f"Failure: HTTP Status Code {code}, {response.reason}."
                                  f" Resolved IP: {address}")
    if search_string and search_string.encode() not in body:
        return Observation(False, "Failure: Search string not found in response body.")
    return Observation(True, f"Success: HTTP Status Code {code}, {response.reason}."
                             f" Resolved IP: {address}")
