"""When `invoke failover` must not act, it says why and leaves the lab and the files as
they were: too little evidence, too much replication lag, bad stack files, a dry run, no
one to confirm. The API endpoint shares the engine and the lease."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest

from dr import handler, naming
from dr.lease import Lease
from dr.settings import SettingsError
from test_failover_support import (  # noqa: F401 - fixtures
    EAST, UNPLANNED_STEPS, WEST, global_members, lab_snapshot, notices, project, run_engine,
    run_task, wait_for_lag,
)

pytestmark = pytest.mark.lab

EAST_IS_WRITER = {"shopsmart-db-us-east-1": True, "shopsmart-db-us-west-2": False}


@contextmanager
def alb_answering_5xx(target):
    """Keep us-east-1's ALB 5xx count high while the block runs, so its alarm stays in
    ALARM through every evaluation (a set_alarm_state would last one evaluation only)."""
    cloudwatch = target.client("cloudwatch", EAST)
    balancer = target.client("elbv2", EAST).describe_load_balancers(
        Names=[naming.alb_name(EAST)])["LoadBalancers"][0]["LoadBalancerArn"]
    dimension = [{"Name": "LoadBalancer", "Value": balancer.split(":loadbalancer/")[-1]}]
    stop = threading.Event()

    def publish() -> None:
        for _ in range(240):  # at most 2 minutes
            cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{
                "MetricName": "HTTPCode_ELB_5XX_Count", "Value": 50.0,
                "Timestamp": datetime.now(timezone.utc), "Dimensions": dimension}])
            if stop.wait(0.5):
                return

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        alarm = naming.alarm(EAST, "alb-5xx")
        for _ in range(120):
            states = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
            if states and states[0]["StateValue"] == "ALARM":
                break
            time.sleep(0.25)
        yield
    finally:
        stop.set()
        publisher.join(timeout=5)


def test_evidence_gate_refuses_when_a_single_signal_failed(fresh_lab, project):
    before = project.texts()

    with alb_answering_5xx(fresh_lab.target()):
        result = run_engine(fresh_lab, project)

    assert result.outcome.status == "refused"
    assert result.outcome.failed_step == "gather-evidence"
    message = str(result.outcome.error.cause)
    assert message.startswith("1 of 6 signals say us-east-1 failed")
    assert "rule 2 of 4: not met" in message
    assert "cloudwatch-alarms: in ALARM: " in message
    assert "https-probe: https://127.0.1.10:" in message and "answered 200 OK" in message
    assert "run again with --force" in message
    assert global_members(fresh_lab) == EAST_IS_WRITER
    assert project.texts() == before
    assert notices(fresh_lab, WEST) == []


def test_force_overrides_the_evidence_gate_and_is_recorded(fresh_lab, project):
    """Nothing failed, yet the operator insists: the failover runs, and says it was forced;
    us-east-1's API answers, so its compute is fenced."""
    assert wait_for_lag(fresh_lab) is not None
    result = run_engine(fresh_lab, project, force=True)

    assert result.outcome.status == "complete", result.outcome.error
    record = project.record(result.outcome.run_id)
    assert record["forced"] is True
    assert any(d["decision"].endswith("overridden by --force") for d in record["decisions"])
    fenced = result.outcome.result_of("fence-primary")
    assert fenced["fenced"] is True
    assert fenced["fencing"] == ("compute in us-east-1 fenced (shopsmart-app-us-east-1-0,"
                                    " shopsmart-app-us-east-1-1 scaled to 0)")


def test_replication_lag_beyond_the_rpo_budget_is_refused_without_consent(
        fresh_lab, lab_control, project):
    """Aurora reports 12 s of AuroraGlobalDBRPOLag for the secondary; the budget is 5 s."""
    lab_control.set_fault(EAST, "outage")
    fresh_lab.target().client("cloudwatch", WEST).put_metric_data(
        Namespace="AWS/RDS", MetricData=[{
            "MetricName": "AuroraGlobalDBRPOLag", "Value": 12000.0, "Unit": "Milliseconds",
            "Dimensions": [{"Name": "DBClusterIdentifier", "Value": naming.cluster_id(WEST)}],
            "Timestamp": datetime.now(timezone.utc),
        }])

    result = run_engine(fresh_lab, project, force=True)

    assert result.outcome.status == "refused"
    assert result.outcome.failed_step == "pre-flight"
    message = str(result.outcome.error.cause)
    assert "replication lag (AuroraGlobalDBRPOLag) is 12.0 s" in message
    assert "the RPO budget (objectives.rpoS) is 5 s" in message
    assert "--accept-data-loss" in message
    assert global_members(fresh_lab) == EAST_IS_WRITER


def test_malformed_stack_file_is_refused_before_anything_is_touched(fresh_lab, project):
    path = project.root / "Pulumi.secondary.yaml"
    path.write_text(path.read_text() + "  shopsmart:db: [unclosed\n")
    before = lab_snapshot(fresh_lab, project)

    with pytest.raises(SettingsError, match="Pulumi.secondary.yaml: malformed YAML at line"):
        run_engine(fresh_lab, project)

    assert lab_snapshot(fresh_lab, project) == before


def test_two_stack_files_claiming_primary_are_refused_by_the_task_with_files_unchanged(
        fresh_lab, project):
    path = project.root / "Pulumi.secondary.yaml"
    path.write_text(path.read_text().replace("shopsmart:role: secondary",
                                             "shopsmart:role: primary"))
    before = lab_snapshot(fresh_lab, project)

    done = run_task(fresh_lab, project, "--yes", "--force")

    assert done.returncode == 1
    assert "both claim role primary; exactly one must" in done.stderr
    assert "Traceback" not in done.stderr
    assert lab_snapshot(fresh_lab, project) == before


def test_dry_run_prints_every_step_and_target_and_touches_nothing(fresh_lab, project):
    before = lab_snapshot(fresh_lab, project)

    done = run_task(fresh_lab, project, "--dry-run", whole_cli=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Plan failover (11 steps):")
    for expected in (
        *UNPLANNED_STEPS,
        "rds:FailoverGlobalCluster AllowDataLoss=True (fallback rds:RemoveFromGlobalCluster)"
        " us-west-2 shopsmart-global -> shopsmart-db-us-west-2",
        "cloudwatch:PutMetricData us-west-2 ShopSmart/DR Evacuate Region=us-east-1",
        "dynamodb:PutItem (conditional) us-west-2 shopsmart-dr-leases",
    ):
        assert expected in done.stdout
    assert lab_snapshot(fresh_lab, project) == before


def test_without_a_terminal_and_without_yes_the_task_refuses(fresh_lab, project):
    before = lab_snapshot(fresh_lab, project)

    done = run_task(fresh_lab, project, "--force")

    assert done.returncode == 2
    assert "refusing to fail over without confirmation" in done.stderr
    assert "Pass --yes" in done.stderr
    assert lab_snapshot(fresh_lab, project) == before


def test_api_endpoint_refuses_while_another_run_holds_the_lease(
        fresh_lab, project, monkeypatch):
    held = Lease(WEST, holder="alice@laptop (cli)", run_id="failover-20260101T000000Z-abcdef",
                 procedure="failover", target=fresh_lab.target())
    held.acquire()
    monkeypatch.setenv("SHOPSMART_TARGET", "lab")
    monkeypatch.setenv("SHOPSMART_LAB_DIR", fresh_lab.lab_dir)
    monkeypatch.setenv("SHOPSMART_PROJECT_DIR", str(project.root))
    monkeypatch.setenv("SHOPSMART_INCIDENTS_DIR", str(project.incidents))

    reply = handler.handle({"body": json.dumps({"force": True, "accept_data_loss": True})},
                           None)

    assert reply["statusCode"] == 409
    body = json.loads(reply["body"])
    assert body["status"] == "refused"
    assert body["failed_step"] == "take-lease"
    assert body["holder"]["holder"] == "alice@laptop (cli)"
    assert "run failover-20260101T000000Z-abcdef" in body["message"]
    assert global_members(fresh_lab) == EAST_IS_WRITER


def test_api_endpoint_dry_run_returns_the_plan(fresh_lab, project, monkeypatch):
    monkeypatch.setenv("SHOPSMART_TARGET", "lab")
    monkeypatch.setenv("SHOPSMART_LAB_DIR", fresh_lab.lab_dir)
    monkeypatch.setenv("SHOPSMART_PROJECT_DIR", str(project.root))
    monkeypatch.setenv("SHOPSMART_INCIDENTS_DIR", str(project.incidents))

    reply = handler.handle({"body": json.dumps({"dry_run": True, "planned": True})}, None)

    assert reply["statusCode"] == 200
    plan = json.loads(reply["body"])["plan"]
    assert plan.startswith("Plan switchover (10 steps):")
    assert "rds:SwitchoverGlobalCluster us-west-2 shopsmart-global" in plan
    assert project.runs() == []
