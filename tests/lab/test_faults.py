"""Injected faults: a region's API endpoint fails like AWS's does, and only that region's;
every fault can be switched on and off while calls are in flight."""

from __future__ import annotations

import subprocess
import threading
import time

import botocore.exceptions
import pytest

from dr.aws import error_code, is_unreachable
from dr.lab.client import ControlApiError

pytestmark = pytest.mark.lab

EAST, WEST = "us-east-1", "us-west-2"


def calls(client, region: str) -> dict:
    """One cheap call per protocol botocore speaks (query, EC2, JSON, CBOR, REST-XML)."""
    return {
        "rds": lambda: client("rds", region).describe_db_clusters(),
        "ec2": lambda: client("ec2", region).describe_vpcs(),
        "dynamodb": lambda: client("dynamodb", region).list_tables(),
        "cloudwatch": lambda: client("cloudwatch", region).describe_alarms(),
        "sqs": lambda: client("sqs", region).list_queues(),
    }


def failure(call) -> BaseException | None:
    try:
        call()
    except Exception as err:  # the test inspects what was raised
        return err
    return None


def test_an_outage_drops_connections_for_that_region_only(lab, lab_control, client) -> None:
    lab_control.set_fault(EAST, "outage")

    errors = {name: failure(call) for name, call in calls(client, EAST).items()}
    assert {name: is_unreachable(err) for name, err in errors.items()} == {
        "rds": True, "ec2": True, "dynamodb": True, "cloudwatch": True, "sqs": True}
    assert all(error_code(err) is None for err in errors.values())
    assert {name: failure(call) for name, call in calls(client, WEST).items()} == {
        "rds": None, "ec2": None, "dynamodb": None, "cloudwatch": None, "sqs": None}

    lab_control.clear(EAST)
    assert failure(calls(client, EAST)["rds"]) is None


def test_route53_api_is_down_with_us_east_1(lab, lab_control, client) -> None:
    lab_control.set_fault(WEST, "outage")
    assert failure(lambda: client("route53", EAST).list_hosted_zones()) is None

    lab_control.set_fault(EAST, "outage")
    assert is_unreachable(failure(lambda: client("route53", EAST).list_hosted_zones()))


def test_throttling_answers_throttling_exception_in_every_protocol(lab, lab_control,
                                                                    client) -> None:
    lab_control.set_fault(WEST, "throttle", rate=1.0)
    codes = {name: error_code(failure(call)) for name, call in calls(client, WEST).items()}
    assert codes == {name: "ThrottlingException" for name in codes}


def test_throttling_at_a_rate_hits_some_calls_and_spares_others(lab, lab_control,
                                                               client) -> None:
    lab_control.set_fault(WEST, "throttle", rate=0.5)
    outcomes = {error_code(failure(calls(client, WEST)["dynamodb"])) for _ in range(20)}
    assert outcomes == {None, "ThrottlingException"}


def test_errors_answer_http_503(lab, lab_control, client) -> None:
    lab_control.set_fault(WEST, "errors", rate=1.0)
    err = failure(calls(client, WEST)["rds"])
    assert isinstance(err, botocore.exceptions.ClientError)
    assert (err.response["ResponseMetadata"]["HTTPStatusCode"], error_code(err)) == (
        503, "ServiceUnavailable")


def test_latency_delays_each_call_by_at_least_the_fault(lab, lab_control, client) -> None:
    lab_control.set_fault(WEST, "latency", ms=400)
    began = time.monotonic()
    assert failure(calls(client, WEST)["sqs"]) is None
    assert time.monotonic() - began >= 0.4


def test_a_call_waiting_when_the_outage_begins_fails_as_unreachable(lab, lab_control,
                                                                    client) -> None:
    lab_control.set_fault(WEST, "latency", ms=5000)
    outcome: list[BaseException | None] = []
    waiting = threading.Thread(target=lambda: outcome.append(
        failure(calls(client, WEST)["rds"])))
    waiting.start()
    time.sleep(0.5)
    lab_control.set_fault(WEST, "outage")
    waiting.join(timeout=10)

    assert len(outcome) == 1 and is_unreachable(outcome[0])


def test_clearing_a_region_leaves_the_other_regions_faults(lab, lab_control) -> None:
    lab_control.set_fault(EAST, "throttle", rate=0.2)
    lab_control.set_fault(WEST, "latency", ms=50)
    cleared = lab_control.clear(EAST)

    assert [(f["region"], f["kind"]) for f in cleared] == [(EAST, "throttle")]
    assert [(f["region"], f["kind"]) for f in lab_control.faults()] == [(WEST, "latency")]


def test_an_unknown_fault_kind_is_refused(lab, lab_control) -> None:
    with pytest.raises(ControlApiError, match="unknown fault kind 'flood'"):
        lab_control.set_fault(WEST, "flood")


def test_the_tasks_set_and_clear_faults_of_the_running_lab(lab, lab_control) -> None:
    def invoke(*args: str) -> str:
        done = subprocess.run([".venv/bin/invoke", *args, "--lab-dir", lab.lab_dir],
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout.strip()

    assert invoke("lab.fault", "--region", WEST, "--kind", "errors", "--rate", "0.3") == (
        "fault set: us-west-2 errors rate 0.3")
    assert lab_control.faults() == [
        {"region": WEST, "kind": "errors", "rate": 0.3, "ms": 0, "seconds": 0.0}]
    assert invoke("lab.clear", "--region", WEST) == "cleared: us-west-2 errors"
    assert lab_control.faults() == []
