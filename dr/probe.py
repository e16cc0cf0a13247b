"""Data-plane probes made from here: an HTTPS request to an endpoint and a DNS question.

Both are what Route 53 itself does (a health checker that does not validate certificates,
a resolver asking the zone's servers), so they keep working when a region's AWS APIs do not.
Each is bounded by a timeout and raises ``ProbeError`` in words when it gets no answer.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

logger = logging.getLogger(__name__)


class ProbeError(OSError):
    """A probe got no usable answer: refused, reset, timed out or malformed."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    reason: str
    body: bytes

    @property
    def healthy(self) -> bool:
        """Route 53's rule for HTTP(S) checks: a 2xx or 3xx status is healthy."""
        return 200 <= self.status < 400


def https_get(host: str, port: int, path: str, host_header: str | None = None,
              timeout_s: float = 3.0) -> HttpAnswer:
    """GET ``path`` over HTTPS from ``host:port`` without validating the certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(host, port, timeout=timeout_s, context=context)
    headers = {"Host": host_header} if host_header else {}
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read(64 * 1024)
    except (OSError, http.client.HTTPException) as err:
        raise ProbeError(f"https://{host}:{port}{path} gave no answer: {_words(err)}") from err
    finally:
        connection.close()
    logger.debug("https://%s:%s%s -> %s", host, port, path, response.status)
    return HttpAnswer(response.status, response.reason, body)


def resolve_a(name: str, server: str, port: int = 53, timeout_s: float = 2.0) -> tuple[str, ...]:
    """The A records ``server`` answers for ``name`` (asked directly, no recursion)."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    try:
        response = dns.query.udp(query, server, port=port, timeout=timeout_s)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, server, port=port, timeout=timeout_s)
    except (dns.exception.DNSException, OSError) as err:
        raise ProbeError(f"DNS server {server}:{port} gave no answer for {name}: "
                         f"{_words(err)}") from err
    if response.rcode() != dns.rcode.NOERROR:
        rcode = dns.rcode.to_text(response.rcode())
        raise ProbeError(f"DNS server {server}:{port} answered {rcode} for {name}")
    addresses = tuple(
        item.address
        for rrset in response.answer if rrset.rdtype == dns.rdatatype.A
        for item in rrset
    )
    logger.debug("%s @%s:%s -> %s", name, server, port, addresses)
    return addresses


def resolve_system(name: str, timeout_s: float = 3.0) -> tuple[str, ...]:
    """IPv4 addresses of ``name`` from this machine's resolver (used on AWS targets only)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as err:
        raise ProbeError(f"{name} did not resolve: {_words(err)}") from err
    finally:
        socket.setdefaulttimeout(previous)
    return tuple(sorted({info[4][0] for info in infos}))


def _words(err: BaseException) -> str:
    if isinstance(err, (socket.timeout, TimeoutError, dns.exception.Timeout)):
        return "timed out"
    return str(err) or type(err).__name__
