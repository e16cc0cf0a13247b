"""The lab's DNS server: answers for the hosted zone over UDP and TCP on loopback.

It reads the emulator's data-plane view (``GET <control>/dns-view``) a few times a second and
answers from the last view it got, so a short gap in the emulator changes nothing for
clients, as Route 53's answers do not depend on its control plane. Until a first view
arrives it answers SERVFAIL. It stops by itself when the emulator has been unreachable for
``--orphan-after`` seconds, so a lab torn down without it leaves no server behind.

Run: ``python -m dr.lab.dataplane.dnsserver --host 127.0.0.1 --port 5354
--control-url http://127.0.0.1:5566/_shopsmart``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import socket
import socketserver
import struct
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from dr.lab.dataplane.dnsview import SERVFAIL, Answer, View

logger = logging.getLogger(__name__)

UDP_PAYLOAD = 512  # without EDNS, answers over UDP must fit here or be truncated
MAX_TCP_QUERIES = 50  # per connection, so one client cannot hold a thread for ever


class ViewSource:
    """The latest view of the emulator, refreshed by a bounded background poll."""

    def __init__(self, control_url: str, poll_s: float, orphan_after_s: float) -> None:
        self.url = control_url.rstrip("/") + "/dns-view"
        self.poll_s = poll_s
        self.orphan_after_s = orphan_after_s
        self.view: View | None = None
        self.orphaned = threading.Event()

    def refresh(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as reply:
                self.view = View.from_json(json.loads(reply.read()))
            return True
        except (urllib.error.URLError, OSError, ValueError, KeyError) as err:
            logger.debug("no view from %s (%s): answering from the last one", self.url, err)
            return False

    def poll(self, stopping: threading.Event) -> None:
        last_seen = time.monotonic()
        while not stopping.wait(self.poll_s):
            if self.refresh():
                last_seen = time.monotonic()
            elif time.monotonic() - last_seen > self.orphan_after_s:
                logger.warning("the emulator at %s has not answered for %.0f s: stopping",
                               self.url, self.orphan_after_s)
                self.orphaned.set()
                return


def respond(source: ViewSource, wire: bytes, max_size: int) -> bytes | None:
    """The wire answer to one query; None for a packet that is not a query at all."""
    try:
        query = dns.message.from_wire(wire)
    except dns.exception.DNSException:
        return None
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if len(query.question) != 1 or source.view is None:
        response.set_rcode(dns.rcode.SERVFAIL)
        return response.to_wire()
    question = query.question[0]
    answer = source.view.answer(question.name.to_text(), dns.rdatatype.to_text(question.rdtype))
    _fill(response, source.view, answer)
    limit = max(max_size, query.payload if query.edns >= 0 else 0)
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer.clear()
        response.authority.clear()
        response.flags |= dns.flags.TC
        return response.to_wire()


def _fill(response: dns.message.Message, view: View, answer: Answer) -> None:
    response.set_rcode(dns.rcode.from_text(answer.rcode))
    if answer.rcode == SERVFAIL:
        return
    for owner, kind, ttl, value in answer.records:
        rdtype = dns.rdatatype.from_text(kind)
        rrset = response.find_rrset(response.answer, dns.name.from_text(owner),
                                    dns.rdataclass.IN, rdtype, create=True)
        rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, value), ttl)
    if not answer.records and answer.zone:
        soa = view.soa(answer.zone)
        if soa is not None and soa.values:
            rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.SOA, soa.values[0])
            rrset = response.find_rrset(response.authority, dns.name.from_text(soa.name),
                                        dns.rdataclass.IN, dns.rdatatype.SOA, create=True)
            rrset.add(rdata, min(soa.ttl or 900, rdata.minimum))


class UdpHandler(socketserver.BaseRequestHandler):
    source: ViewSource

    def handle(self) -> None:
        wire, sock = self.request
        reply = respond(self.source, wire, UDP_PAYLOAD)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class TcpHandler(socketserver.BaseRequestHandler):
    source: ViewSource

    def handle(self) -> None:
        self.request.settimeout(5)
        for _ in range(MAX_TCP_QUERIES):
            header = _read_exactly(self.request, 2)
            if header is None:
                return
            wire = _read_exactly(self.request, struct.unpack("!H", header)[0])
            reply = respond(self.source, wire or b"", 65535)
            if reply is None:
                return
            self.request.sendall(struct.pack("!H", len(reply)) + reply)


def _read_exactly(sock: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        try:
            chunk = sock.recv(count - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


class _ThreadingUdp(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = True


class _ThreadingTcp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(host: str, port: int, control_url: str, poll_s: float, orphan_after_s: float) -> None:
    """Serve until SIGTERM/SIGINT or until the emulator has been gone too long."""
    source = ViewSource(control_url, poll_s, orphan_after_s)
    source.refresh()
    handlers: dict[str, Any] = {"source": source}
    udp = _ThreadingUdp((host, port), type("Udp", (UdpHandler,), handlers))
    tcp = _ThreadingTcp((host, port), type("Tcp", (TcpHandler,), handlers))
    stopping = threading.Event()
    threads = [threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                daemon=True) for server in (udp, tcp)]
    threads.append(threading.Thread(target=source.poll, args=(stopping,), daemon=True))
    for thread in threads:
        thread.start()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    logger.info("lab DNS on %s:%d (UDP+TCP), view from %s", host, port, source.url)
    while not stopping.wait(0.5):
        if source.orphaned.is_set():
            break
    stopping.set()
    for server in (udp, tcp):
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-url", required=True)
    parser.add_argument("--poll-s", type=float, default=0.2)
    parser.add_argument("--orphan-after", type=float, default=600.0)
    options = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(options.host, options.port, options.control_url, options.poll_s,
          options.orphan_after)


if __name__ == "__main__":
    main()
