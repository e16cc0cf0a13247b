"""The lab's DNS: Route 53's failover rules over the emulator's view, served on loopback.

The first tests read ``View`` directly; the others run the real DNS server process against
a real HTTP server on loopback that serves a view the test changes, as the emulator's
control API does while its health checks change state.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from dr.lab.dataplane import lifecycle, processes
from dr.lab.dataplane.dnsview import View
from dr.lab.dataplane.layout import Layout

ZONE = "shop.example.com."
EAST_ALB = "shopsmart-alb-us-east-1-1234.us-east-1.elb.amazonaws.com"
WEST_ALB = "shopsmart-alb-us-west-2-5678.us-west-2.elb.amazonaws.com"
EAST_CLUSTER = "shopsmart-db-us-east-1.cluster-abc.us-east-1.rds.amazonaws.com"


def failover_alias(role: str, region: str, alb: str, check: str) -> dict[str, Any]:
    return {"Name": ZONE, "Type": "A", "SetIdentifier": region, "Failover": role,
            "HealthCheckId": check,
            "AliasTarget": {"HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": alb + ".",
                            "EvaluateTargetHealth": False}}


VIEW: dict[str, Any] = {
    "zones": [{"id": "Z00000000EXAMPLE0000", "name": ZONE, "records": [
        {"Name": ZONE, "Type": "SOA", "TTL": 900, "ResourceRecords": [{
            "Value": "ns-1.lab. hostmaster.lab. 1 7200 900 1209600 86400"}]},
        {"Name": ZONE, "Type": "NS", "TTL": 172800,
         "ResourceRecords": [{"Value": "ns-1.lab."}]},
        failover_alias("PRIMARY", "us-east-1", EAST_ALB, "hc-east"),
        failover_alias("SECONDARY", "us-west-2", WEST_ALB, "hc-west"),
        {"Name": "static." + ZONE, "Type": "A", "TTL": 300,
         "ResourceRecords": [{"Value": "127.0.3.1"}]},
        {"Name": "www." + ZONE, "Type": "A",
         "AliasTarget": {"HostedZoneId": "Z00000000EXAMPLE0000", "DNSName": ZONE,
                         "EvaluateTargetHealth": True}},
    ]}],
    "health_checks": {"hc-east": True, "hc-west": True},
    "names": {EAST_ALB: "127.0.1.10", WEST_ALB: "127.0.2.10",
              EAST_CLUSTER: {"address": "127.0.0.1", "ttl": 5}},
}


def view_with(east: bool, west: bool) -> View:
    document = copy.deepcopy(VIEW)
    document["health_checks"] = {"hc-east": east, "hc-west": west}
    return View.from_json(document)


# --- the rules -----------------------------------------------------------------------------

def test_the_primary_answers_while_its_health_check_is_healthy() -> None:
    answer = view_with(east=True, west=True).answer("shop.example.com", "A")

    assert answer.records == ((ZONE, "A", 60, "127.0.1.10"),)


def test_the_secondary_answers_when_the_primary_is_unhealthy() -> None:
    answer = view_with(east=False, west=True).answer("shop.example.com", "A")

    assert answer.records == ((ZONE, "A", 60, "127.0.2.10"),)


def test_the_primary_answers_when_both_are_unhealthy() -> None:
    answer = view_with(east=False, west=False).answer("shop.example.com", "A")

    assert answer.records == ((ZONE, "A", 60, "127.0.1.10"),)


def test_a_plain_record_answers_with_its_configured_ttl() -> None:
    answer = view_with(True, True).answer("STATIC.shop.example.com.", "A")

    assert answer.records == (("static." + ZONE, "A", 300, "127.0.3.1"),)


def test_an_alias_to_a_zone_record_follows_that_records_failover() -> None:
    answer = view_with(east=False, west=True).answer("www.shop.example.com", "A")

    assert answer.records == (("www." + ZONE, "A", 60, "127.0.2.10"),)


def test_a_cluster_endpoint_of_the_name_table_resolves_to_its_postgres_server() -> None:
    answer = view_with(True, True).answer(EAST_CLUSTER, "A")

    assert answer.records == ((EAST_CLUSTER + ".", "A", 5, "127.0.0.1"),)


def test_unknown_names_are_nxdomain_in_the_zone_and_refused_outside_it() -> None:
    view = view_with(True, True)

    assert view.answer("nope.shop.example.com", "A").rcode == "NXDOMAIN"
    assert view.answer("www.example.org", "A").rcode == "REFUSED"


# --- the server ----------------------------------------------------------------------------

class ControlApi:
    """A stand-in for the emulator's control API, serving the view the test sets."""

    def __init__(self) -> None:
        self.view = copy.deepcopy(VIEW)
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(api.view).encode()
                self.send_response(200 if self.path == "/_shopsmart/dns-view" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/_shopsmart"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_health(self, check: str, healthy: bool) -> None:
        self.view["health_checks"] = {**self.view["health_checks"], check: healthy}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def control():
    api = ControlApi()
    yield api
    api.close()


@pytest.fixture
def dns_port(control: ControlApi, tmp_path: Path):
    port = processes.free_port()
    layout = Layout(str(tmp_path), str(tmp_path), (), "us-east-1", "127.0.0.1", port,
                    control.url)
    pid = lifecycle.launch_dns(layout)
    yield port
    processes.stop(pid, lifecycle.DNS_MODULE)


def ask(port: int, name: str = ZONE, *, tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(name, "A")
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, "127.0.0.1", port=port, timeout=2)


def addresses(reply: dns.message.Message) -> list[str]:
    return sorted(rdata.address for rrset in reply.answer for rdata in rrset)


def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.lab
def test_answers_flip_to_the_secondary_when_the_primary_fails_and_back_when_it_recovers(
        control: ControlApi, dns_port: int) -> None:
    assert eventually(lambda: addresses(ask(dns_port)) == ["127.0.1.10"])

    control.set_health("hc-east", False)
    assert eventually(lambda: addresses(ask(dns_port)) == ["127.0.2.10"])

    control.set_health("hc-east", True)
    assert eventually(lambda: addresses(ask(dns_port)) == ["127.0.1.10"])


@pytest.mark.lab
def test_answers_are_authoritative_with_the_ttl_over_udp_and_tcp(
        control: ControlApi, dns_port: int) -> None:
    assert eventually(lambda: ask(dns_port).rcode() == dns.rcode.NOERROR)

    for reply in (ask(dns_port, "static." + ZONE), ask(dns_port, "static." + ZONE, tcp=True)):
        assert addresses(reply) == ["127.0.3.1"]
        assert reply.answer[0].ttl == 300
        assert reply.flags & dns.flags.AA


@pytest.mark.lab
def test_a_missing_name_is_nxdomain_with_the_zones_soa(control: ControlApi,
                                                        dns_port: int) -> None:
    assert eventually(lambda: ask(dns_port).rcode() == dns.rcode.NOERROR)

    reply = ask(dns_port, "missing." + ZONE)

    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.authority[0].name.to_text() == ZONE
    assert reply.authority[0].ttl == 900


@pytest.mark.lab
def test_the_server_keeps_answering_from_its_last_view_when_the_emulator_is_gone(
        control: ControlApi, dns_port: int) -> None:
    control.set_health("hc-east", False)
    assert eventually(lambda: addresses(ask(dns_port)) == ["127.0.2.10"])

    control.close()
    time.sleep(0.5)  # a few polls fail meanwhile

    assert addresses(ask(dns_port)) == ["127.0.2.10"]
