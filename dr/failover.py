"""The major-incident procedure: fail the shop over to its secondary region.

``failover_plan`` builds the plan of steps (evidence, pre-flight, lease, notify, evacuate,
promote while scaling up, verify, flip the stack files, optionally ``pulumi up``, notify);
``prepare`` checks the stack files and builds what the steps share, touching nothing;
``run_failover`` runs or resumes the plan and writes the incident record. Every step talks
to the surviving region only, except fencing, which uses the failed region's API when it
answers. The regions are fixed when a run starts (recorded in its parameters), so a resumed
run acts on the same regions even after its own step has flipped the stack files.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from dr import database, naming, report, traffic
from dr import failover_steps as steps
from dr import journal as jr
from dr.aws import Target
from dr.clients import pooled
from dr.failover_steps import (
    MARGIN_S, EvidenceInsufficient, FailoverOptions, Regions, RolesChanged, Services,
    procedure,
)
from dr.lease import Lease
from dr.notify import Notice
from dr.plan import Parallel, Plan, Step
from dr.runner import RunOutcome, run_plan
from dr.settings import load_pair
from dr.waiting import Timeouts

__all__ = [
    "EvidenceInsufficient", "FailoverOptions", "FailoverResult", "Regions", "RolesChanged",
    "Services", "dry_run", "failover_plan", "prepare", "run_failover",
]

logger = logging.getLogger(__name__)


def failover_plan(services: Services) -> Plan:
    """The plan of one failover (or, with ``planned``, switchover); see the module doc.

    Unplanned, traffic leaves the failed region first (it is down anyway), then the
    promotion, the scale-up and the fencing of the old primary's compute run at the same
    time: fencing needs the failed region's API, which may not answer for a while, and the
    promotion must not wait for it (Aurora's failover fences the old writer itself).
    Planned, the database moves first, so a switchover AWS refuses leaves traffic alone.
    """
    s = services
    t = s.timeouts
    failed, survivor = s.regions.failed, s.regions.survivor
    gid, cid = naming.global_cluster_id(), naming.cluster_id(survivor)
    action = ("rds:SwitchoverGlobalCluster" if s.options.planned
              else "rds:FailoverGlobalCluster AllowDataLoss=True (fallback"
              " rds:RemoveFromGlobalCluster)")
    asgs = ", ".join(naming.asg_names(survivor, s.survivor.az_count))
    old_asgs = ", ".join(naming.asg_names(failed, s.failed.az_count))
    deciding: list[Step | Parallel] = [
        Step("gather-evidence", f"ask every signal whether {failed} failed",
             steps.gather_evidence,
             (f"route53/cloudwatch/rds reads about {failed}, HTTPS probe, DNS",),
             acts=False, phase="decision", timeout_s=60 + MARGIN_S),
        Step("pre-flight", f"check that {survivor} can take over", steps.preflight_check,
             (f"rds:DescribeGlobalClusters/DescribeDBClusters {survivor} {gid}, {cid}",
              f"cloudwatch:GetMetricStatistics {survivor} AuroraGlobalDBRPOLag",
              f"autoscaling:DescribeAutoScalingGroups {survivor} {asgs}")
             + ((f"rds:DescribeDBClusters {failed} (a switchover needs it)",)
                if s.options.planned else ()),
             acts=False, phase="decision", timeout_s=t.call_s * 4 + MARGIN_S),
        steps.lease_step_for(s),
        Step("notify-started", "tell the stakeholders the failover started",
             steps.notify_started, (f"sns:Publish {survivor} {naming.topic_name(survivor)}",),
             phase="decision", timeout_s=t.call_s + MARGIN_S),
    ]
    evacuate = Step(
        "evacuate-primary", f"evacuate {failed}: DNS answers with {survivor}", steps.evacuate,
        (f"cloudwatch:PutMetricData {failed} {naming.EVACUATION_NAMESPACE}"
         f" {naming.EVACUATION_METRIC} Region={survivor} = 0 (if thrown and {failed} answers)",
         f"cloudwatch:PutMetricData {survivor} {naming.EVACUATION_NAMESPACE}"
         f" {naming.EVACUATION_METRIC} Region={failed}",
         f"cloudwatch:DescribeAlarms {survivor} {naming.evacuation_alarm(failed)}"),
        phase="traffic", timeout_s=t.traffic_s + t.call_s * 2 + MARGIN_S)
    parallel = [
        Step("promote-database", f"make {cid} the writer", steps.promote,
             (f"{action} {survivor} {gid} -> {cid}",),
             once=True, reconcile=steps.promote_reconcile, phase="promotion",
             timeout_s=t.promotion_s + t.call_s * 2 + MARGIN_S),
        Step("scale-up", f"scale {asgs} to active capacity", steps.scale_up,
             (f"autoscaling:UpdateAutoScalingGroup {survivor} {asgs}",),
             phase="capacity", timeout_s=t.capacity_s + t.call_s + MARGIN_S),
    ]
    if not s.options.planned:
        parallel.append(Step(
            "fence-primary", f"fence {failed}'s compute if its API answers", steps.fence,
            (f"autoscaling:UpdateAutoScalingGroup {failed} {old_asgs} -> 0 (if it answers)",),
            phase="traffic", timeout_s=t.call_s * 2 + MARGIN_S))
    promote = Parallel("promote-and-scale", f"promote {cid} while scaling up {survivor}",
                       tuple(parallel))
    acting = [promote, evacuate] if s.options.planned else [evacuate, promote]
    closing: list[Step | Parallel] = [
        Step("verify", f"verify that {survivor} serves the shop and writes", steps.verify,
             (f"DNS A {s.survivor.domain} at the zone's servers, HTTPS GET"
              f" {s.survivor.dns.health_path} and POST {traffic.WRITE_PATH}",
              f"rds:DescribeGlobalClusters {survivor}"),
             acts=False, phase="verification", timeout_s=t.traffic_s + t.call_s + MARGIN_S),
        Step("flip-stack-files", f"record {survivor} as primary in the stack files",
             steps.flip_stack_files,
             (f"write {s.failed.origin} (role secondary) and {s.survivor.origin} (role"
              " primary), with backups",),
             once=True, reconcile=steps.flip_reconcile, timeout_s=60),
    ]
    if s.options.apply:
        closing.append(Step("pulumi-up", f"pulumi up the {s.survivor.stack} stack",
                            steps.pulumi_up, (f"pulumi up -s {s.survivor.stack} (Automation"
                                              " API)",), timeout_s=1800))
    closing.append(Step("notify-complete", "tell the stakeholders the failover is complete",
                        steps.notify_complete,
                        (f"sns:Publish {survivor} {naming.topic_name(survivor)}",),
                        timeout_s=t.call_s + MARGIN_S))
    items = deciding + acting + closing
    return Plan(procedure(s.options), tuple(items))


# --- running -------------------------------------------------------------------------------

@dataclass(frozen=True)
class FailoverResult:
    outcome: RunOutcome
    record_paths: tuple[str, ...]
    regions: Regions


def lab_timeouts(lab_dir: str | None = None) -> Timeouts:
    """AWS-sized bounds shrunk by the running lab's time model."""
    from dr.lab import state  # the lab is optional on an AWS install

    return Timeouts().scaled(state.load(lab_dir).time_scale)


def prepare(target: Target, project_dir: Path | str, options: FailoverOptions, *,
            trigger: dict[str, Any], lab_dir: str | None = None,
            timeouts: Timeouts | None = None,
            incidents_dir: Path | str | None = None) -> tuple[Services, str | None]:
    """Validate the stack files and build the services of a run; nothing is touched.

    Returns the services and the id of the open run this invocation would resume (None
    for a new run). Raises ``SettingsError`` for a malformed stack file or two primaries.
    """
    project_dir = Path(project_dir)
    pair = load_pair(project_dir)
    incidents = Path(incidents_dir or project_dir / "incidents")
    open_id = jr.find_open_run(incidents, procedure(options))
    regions = Regions(pair.primary.region, pair.secondary.region)
    if open_id is not None:
        params = jr.read_records(incidents / open_id / jr.JOURNAL)[0].get("params", {})
        regions = Regions(params["failed_region"], params["survivor_region"])
        options = FailoverOptions(**params["options"])
    if timeouts is None:
        timeouts = lab_timeouts(lab_dir) if target.is_lab else Timeouts()
    services = Services(pooled(target), project_dir, pair, regions, options, timeouts,
                        lab_dir=lab_dir, trigger=dict(trigger))
    return services, open_id


def dry_run(services: Services, open_id: str | None) -> str:
    """The exact plan, each step and each API call's target; nothing is called."""
    lines = [failover_plan(services).render()]
    if open_id is not None:
        lines.append(f"(would resume open run {open_id}; completed steps are not repeated)")
    lines.append(f"Failed region: {services.regions.failed}; surviving region:"
                 f" {services.regions.survivor}; options: {asdict(services.options)}")
    return "\n".join(lines)


def run_failover(services: Services, *, incidents_dir: Path | str | None = None,
                 on_progress: Callable[[str, str], None] | None = None) -> FailoverResult:
    """Run the failover, or resume its open run; always ends with an incident record."""
    s = services
    incidents = Path(incidents_dir or s.project_dir / "incidents")
    params = {"options": asdict(s.options), "failed_region": s.regions.failed,
              "survivor_region": s.regions.survivor}
    run = jr.open_run(incidents, procedure(s.options), s.trigger, params)
    started = time.monotonic()
    with run:
        outcome = run_plan(failover_plan(s), run, services=s, on_progress=on_progress,
                           progress_every_s=max(1.0, s.timeouts.progress_s))
        if outcome.status == "failed":
            _notify_failure(s, run.run_id, outcome)
            if isinstance(getattr(outcome.error, "cause", None), database.SwitchoverFailed):
                _abandon(s, run, outcome)
        paths = _write_record(s, run, outcome)
    logger.info("%s run %s ended %s after %.1f s", run.procedure, run.run_id, outcome.status,
                time.monotonic() - started)
    return FailoverResult(outcome, paths, s.regions)


def _abandon(s: Services, run: jr.Run, outcome: RunOutcome) -> None:
    """Close a run whose switchover AWS refused or cancelled, and free its lease.

    The writer did not move, so there is nothing to resume; keeping the lease would only
    block the unplanned failover that the error tells the operator to run next.
    """
    run.close("failed", step=outcome.failed_step, error=str(outcome.error), resumable=False)
    Lease(s.regions.survivor, holder=s.trigger.get("by", "unknown"), run_id=run.run_id,
          procedure=run.procedure, target=s.target).release()
    logger.warning("run %s closed: the switchover did not happen, nothing to resume",
                   run.run_id)


def _notify_failure(s: Services, run_id: str, outcome: RunOutcome) -> None:
    cause = getattr(outcome.error, "cause", None) or outcome.error
    steps.notify(s, Notice(
        kind="failed", procedure=outcome.procedure, run_id=run_id,
        subject=f"ShopSmart failover FAILED at {outcome.failed_step}",
        summary=f"The failover from {s.regions.failed} to {s.regions.survivor} stopped at"
                f" step {outcome.failed_step}.",
        details=("Running the same command again resumes it; completed steps are not"
                 " repeated.",),
        failing_step=outcome.failed_step, error=str(cause),
        facts={"failed_region": s.regions.failed, "survivor_region": s.regions.survivor},
    ))


def _write_record(s: Services, run: jr.Run, outcome: RunOutcome) -> tuple[str, ...]:
    evidence = outcome.result_of("gather-evidence") or {}
    checked = outcome.result_of("pre-flight") or {}
    lag = checked.get("lag_s")
    rpo = None
    if checked:
        rpo = report.Rpo(
            lost_writes=0 if s.options.planned else None,
            span_s=0.0 if s.options.planned else lag,
            budget_s=s.survivor.objectives.rpo_s,
            method="switchover (waits for sync)" if s.options.planned
            else "replication lag at promotion",
            detail="" if s.options.planned or lag is not None
            else "AuroraGlobalDBRPOLag could not be read",
        )
    record = report.build_record(
        run.records(), forced=bool(evidence.get("forced")), evidence=evidence.get("evidence"),
        classification=None if s.options.planned else "major",
        failure_epoch=s.failure_epoch or evidence.get("first_failed_at"),
        rto_objective_s=s.survivor.objectives.rto_s, rpo=rpo,
    )
    paths = report.write_record(record, run.directory.parent)
    return tuple(str(path) for path in paths)
