"""Evidence: k of n failed signals, where silence ("no-answer") never counts as failure.

The sources are asked for real: AWS APIs on a moto server (``engine_moto``), an HTTPS
endpoint served here on loopback, and an address where nothing listens. Each test uses its
own pair of regions, so the session's shared server keeps tests apart.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from pathlib import Path

import pytest

from dr import naming
from dr.addresses import ShopAddresses
from dr.aws import Target
from dr.lab.dataplane.tls import write_self_signed
from dr.settings import EvidenceRule, StackPair, parse, read_stack_file
from dr.signals import (ALARMS, CLUSTER, DNS, FAILED, NO_ANSWER, OK, PROBE, ROUTE53, Evidence,
                        Signal, collect_evidence)

PROJECT_DIR = Path(__file__).resolve().parents[2]
TWO_OF_FOUR = EvidenceRule(required=2, of=4)


def stack_pair(primary: str, secondary: str) -> StackPair:
    """The project's stack files, moved to two regions of the test's own."""
    stacks = []
    for stack, region, peer in (("primary", primary, secondary),
                                ("secondary", secondary, primary)):
        config = read_stack_file(PROJECT_DIR / f"Pulumi.{stack}.yaml")
        values = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("shopsmart:")}
        values["peerRegion"] = peer
        values["db"] = {**values["db"], "homeRegion": primary}
        stacks.append(parse(stack, f"Pulumi.{stack}.yaml", region, values))
    return StackPair(*stacks)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def https_endpoint(tmp_path_factory):
    """An HTTPS endpoint on loopback answering 200 on /health and 503 elsewhere."""
    directory = tmp_path_factory.mktemp("tls")
    write_self_signed(directory / "cert.pem", directory / "key.pem", ["127.0.0.1"])

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address
    server.shutdown()
    server.server_close()


def test_meets_counts_only_failed_signals():
    evidence = Evidence("us-east-1", "us-west-2", (
        Signal(PROBE, FAILED, "refused"), Signal(DNS, FAILED, "answers us-west-2"),
        Signal(ROUTE53, NO_ANSWER, "API did not answer"), Signal(ALARMS, NO_ANSWER, "silent"),
    ))

    assert evidence.counts == {FAILED: 2, OK: 0, NO_ANSWER: 2}
    assert evidence.meets(TWO_OF_FOUR)
    assert not evidence.meets(EvidenceRule(required=3, of=4))


def test_a_single_failed_signal_does_not_meet_two_of_four():
    evidence = Evidence("us-east-1", "us-west-2", (
        Signal(PROBE, FAILED, "refused"), Signal(DNS, OK, "answers us-east-1"),
        Signal(ROUTE53, NO_ANSWER, "silent"), Signal(ALARMS, NO_ANSWER, "silent"),
        Signal(CLUSTER, NO_ANSWER, "silent"),
    ))

    assert evidence.counts[FAILED] == 1
    assert not evidence.meets(TWO_OF_FOUR)


def test_fewer_signals_than_the_rule_names_never_meet_it():
    evidence = Evidence("us-east-1", "us-west-2", (
        Signal(PROBE, FAILED, "refused"), Signal(DNS, FAILED, "answers us-west-2")))

    assert not evidence.meets(TWO_OF_FOUR)


def test_unreachable_apis_are_no_answer_and_the_live_endpoint_is_ok(https_endpoint):
    dead = Target.lab(f"http://127.0.0.1:{closed_port()}", connect_timeout_s=1, max_attempts=1)
    pair = stack_pair("ap-south-1", "ap-southeast-1")
    addresses = ShopAddresses(endpoints={"ap-south-1": https_endpoint})

    evidence = collect_evidence(dead, pair, addresses=addresses, timeout_s=2)

    verdicts = {s.source: s.verdict for s in evidence.signals}
    assert verdicts == {
        "route53-health-check": NO_ANSWER, "cloudwatch-alarms": NO_ANSWER,
        "https-probe": OK, "aurora-cluster": NO_ANSWER, "dns-answer": NO_ANSWER,
        "aws-health": NO_ANSWER,
    }
    assert evidence.signal(ROUTE53).detail == "API did not answer (EndpointConnectionError)"
    assert not evidence.meets(EvidenceRule(required=1, of=4))


def test_an_endpoint_that_refuses_connections_fails_the_probe():
    dead = Target.lab(f"http://127.0.0.1:{closed_port()}", connect_timeout_s=1, max_attempts=1)
    pair = stack_pair("ap-south-1", "ap-southeast-1")
    port = closed_port()
    addresses = ShopAddresses(endpoints={"ap-south-1": ("127.0.0.1", port)})

    evidence = collect_evidence(dead, pair, addresses=addresses, timeout_s=2, sources=[PROBE])

    assert evidence.signal(PROBE).verdict == FAILED
    assert f"https://127.0.0.1:{port}/health gave no answer" in evidence.signal(PROBE).detail


def test_alarm_in_alarm_state_fails_the_alarm_signal(engine_moto):
    pair = stack_pair("eu-west-1", "eu-central-1")
    cloudwatch = engine_moto.client("cloudwatch", "eu-west-1")
    for what in ("unhealthy-hosts-0", "alb-5xx"):
        cloudwatch.put_metric_alarm(
            AlarmName=naming.alarm("eu-west-1", what), MetricName="UnHealthyHostCount",
            Namespace="AWS/ApplicationELB", Statistic="Maximum", Period=60,
            EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=naming.alarm("eu-west-1", "alb-5xx"),
                               StateValue="ALARM", StateReason="5xx above threshold")

    evidence = collect_evidence(engine_moto, pair, addresses=ShopAddresses(), timeout_s=3,
                                sources=[ALARMS])

    assert evidence.signal(ALARMS).verdict == FAILED
    assert evidence.signal(ALARMS).detail == (
        "in ALARM: shopsmart-eu-west-1-alb-5xx (2 alarms read)")


def test_route53_check_found_by_name_tag_reports_its_checkers(engine_moto):
    pair = stack_pair("sa-east-1", "us-east-2")
    route53 = engine_moto.client("route53", naming.ROUTE53_REGION)
    check = route53.create_health_check(CallerReference="signals-test", HealthCheckConfig={
        "Type": "HTTPS", "IPAddress": "127.0.0.1", "Port": 8443, "ResourcePath": "/health",
        "RequestInterval": 10, "FailureThreshold": 3})["HealthCheck"]["Id"]
    route53.change_tags_for_resource(ResourceType="healthcheck", ResourceId=check, AddTags=[
        {"Key": "Name", "Value": naming.endpoint_health_check("sa-east-1")}])

    evidence = collect_evidence(engine_moto, pair, addresses=ShopAddresses(), timeout_s=3,
                                sources=[ROUTE53])

    # Stock moto reports every check healthy from one checker; the lab evaluates them.
    assert evidence.signal(ROUTE53).verdict == OK
    assert evidence.signal(ROUTE53).detail == (
        "shopsmart-sa-east-1-endpoint: 1 of 1 checkers report healthy")


def test_a_missing_cluster_is_no_answer_with_the_global_view(engine_moto):
    pair = stack_pair("ca-central-1", "us-west-1")

    evidence = collect_evidence(engine_moto, pair, addresses=ShopAddresses(), timeout_s=3,
                                sources=[CLUSTER])

    assert evidence.signal(CLUSTER).verdict == NO_ANSWER
    assert evidence.signal(CLUSTER).detail.startswith(
        "shopsmart-db-ca-central-1: API answered DBClusterNotFoundFault")


def test_the_suspects_own_replication_lag_alarm_is_not_evidence_against_it(engine_moto):
    # After a failover the new primary keeps the lag alarm of its replica days; it breaches
    # once nothing replicates into it, which says nothing about the writer having failed.
    pair = stack_pair("sa-east-1", "ca-central-1")
    cloudwatch = engine_moto.client("cloudwatch", "sa-east-1")
    for what in ("alb-5xx", "replication-lag"):
        cloudwatch.put_metric_alarm(
            AlarmName=naming.alarm("sa-east-1", what), MetricName="AuroraGlobalDBRPOLag",
            Namespace="AWS/RDS", Statistic="Maximum", Period=60,
            EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=naming.alarm("sa-east-1", "replication-lag"),
                               StateValue="ALARM", StateReason="no replication into it")

    evidence = collect_evidence(engine_moto, pair, addresses=ShopAddresses(), timeout_s=3,
                                sources=[ALARMS])

    assert evidence.signal(ALARMS).verdict == OK
    assert evidence.signal(ALARMS).detail == "none of 1 alarms in ALARM"
