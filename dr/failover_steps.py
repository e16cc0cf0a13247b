"""The steps of the failover plan and the objects they share (see ``dr.failover``).

Each step function takes the runner's ``StepContext`` (``ctx.services`` is ``Services``)
and returns the JSON-able result the journal and the incident record keep. They act on the
regions recorded when the run started, never on what the stack files say now.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from dr import capacity, database, deploy, naming, preflight, stackfiles, traffic
from dr.addresses import ShopAddresses, shop_addresses
from dr.aws import Target
from dr.lease import Lease, lease_step
from dr.notify import Notice, Notifier
from dr.plan import Step
from dr.runner import StepContext
from dr.settings import StackPair, StackSettings, load_pair
from dr.signals import collect_evidence
from dr.waiting import Timeouts

logger = logging.getLogger(__name__)

PROCEDURE = "failover"
PLANNED_PROCEDURE = "switchover"
MARGIN_S = 30.0  # a step's bound is its waits' bounds plus this, so the waits speak first


class EvidenceInsufficient(RuntimeError):
    """Too few independent signals agree that the primary failed."""


class RolesChanged(RuntimeError):
    """The stack files no longer say what they said when the run started."""


@dataclass(frozen=True)
class FailoverOptions:
    """What the operator asked for; recorded with the run and used again on a resume."""

    planned: bool = False
    force: bool = False
    accept_data_loss: bool = False
    apply: bool = False


@dataclass(frozen=True)
class Regions:
    failed: str  # the primary when the run started: evacuated, fenced, demoted
    survivor: str  # the secondary when the run started: promoted


@dataclass
class Services:
    """The live objects every step of one invocation shares."""

    target: Target
    project_dir: Path
    pair: StackPair
    regions: Regions
    options: FailoverOptions
    timeouts: Timeouts
    lab_dir: str | None = None
    lease_duration_s: float = 300.0
    failure_epoch: float | None = None  # a drill's fault injection; else the evidence's
    trigger: dict[str, Any] = field(default_factory=dict)
    _addresses: ShopAddresses | None = None

    @property
    def failed(self) -> StackSettings:
        return self.pair.by_region(self.regions.failed)

    @property
    def survivor(self) -> StackSettings:
        return self.pair.by_region(self.regions.survivor)

    def addresses(self) -> ShopAddresses:
        if self._addresses is None:
            self._addresses = shop_addresses(self.target, self.pair, lab_dir=self.lab_dir)
        return self._addresses


def procedure(options: FailoverOptions) -> str:
    return PLANNED_PROCEDURE if options.planned else PROCEDURE


def gather_evidence(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    evidence = collect_evidence(s.target, s.pair, region=s.regions.failed, lab_dir=s.lab_dir,
                                addresses=s.addresses())
    rule = s.failed.evidence
    met = evidence.meets(rule)
    result = {"summary": evidence.summary(rule), "met": met, "evidence": evidence.to_dict(),
              "first_failed_at": evidence.first_failed_at}
    if s.options.planned:
        ctx.decide("planned switchover: the evidence gate does not apply", met=met)
    elif met:
        ctx.decide(f"evidence gate met ({rule.required} of {rule.of})", met=True)
    elif s.options.force:
        ctx.decide(f"evidence gate NOT met ({evidence.summary(rule)}); overridden by --force",
                   met=False, forced=True)
        result["forced"] = True
    else:
        failed = [f"{sig.source}: {sig.detail}" for sig in evidence.signals]
        raise EvidenceInsufficient(
            f"{evidence.summary(rule)}, so the failover was refused and nothing was changed."
            "\n  " + "\n  ".join(failed) + "\nIf you have other proof that"
            f" {s.regions.failed} is down, run again with --force (it is recorded)."
        )
    return result


def preflight_check(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    readiness = preflight.check_survivor(s.target, s.survivor, s.timeouts,
                                         planned=s.options.planned)
    problems = list(readiness.problems)
    if s.options.planned:
        problems += preflight.switchover_problems(s.target, s.failed)
    if problems:
        raise preflight.PreflightFailed(s.regions.survivor, problems)
    if not s.options.planned and not readiness.lag_within_budget:
        if not s.options.accept_data_loss:
            raise preflight.RpoBudgetExceeded(readiness.lag_s, readiness.rpo_budget_s,
                                              readiness.lag_source)
        ctx.decide("replication lag beyond the RPO budget accepted with --accept-data-loss",
                   lag_s=readiness.lag_s, rpo_budget_s=readiness.rpo_budget_s)
    lag = "no lag check (switchover waits for sync)" if s.options.planned else (
        f"lag {readiness.lag_s} s, budget {readiness.rpo_budget_s:g} s")
    return {"summary": f"{s.regions.survivor} can take over ({lag})", **readiness.to_dict()}


def lease_step_for(s: Services) -> Step:
    """The lease step, which also confirms that nobody failed over while this run started."""

    def make(ctx: StepContext) -> Lease:
        return Lease(s.regions.survivor, holder=s.trigger.get("by", "unknown"),
                     run_id=ctx.run_id, procedure=ctx.procedure, target=s.target,
                     duration_s=s.lease_duration_s)

    step = lease_step(make, name="take-lease", summary=f"take the DR lease in"
                      f" {s.regions.survivor} so no other run can act at the same time",
                      api_targets=(f"dynamodb:PutItem (conditional) {s.regions.survivor}"
                                   f" {naming.lease_table()}",))

    def take(ctx: StepContext) -> dict[str, Any]:
        result = step.run(ctx) or {}
        now = load_pair(s.project_dir)
        if now.primary.region != s.regions.failed and not ctx.resumed:
            raise RolesChanged(
                f"the stack files now say {now.primary.region} is primary: another failover"
                " finished while this one was starting. Nothing was changed; see"
                " `invoke status`"
            )
        return dict(result)

    return replace(step, run=take, phase="decision", timeout_s=s.timeouts.call_s + MARGIN_S)


def notify_started(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    evidence = ctx.result_of("gather-evidence")
    kind = "planned switchover" if s.options.planned else "failover"
    gate = " (evidence gate overridden by --force)" if evidence.get("forced") else ""
    notice = Notice(
        kind="started", procedure=ctx.procedure, run_id=ctx.run_id,
        subject=f"ShopSmart {kind} started: {s.regions.failed} -> {s.regions.survivor}",
        summary=f"A {kind} of the shop from {s.regions.failed} to {s.regions.survivor} has"
                f" started{gate}.",
        details=tuple([f"Triggered by: {s.trigger.get('by', 'unknown')}", "Signals:"] + [
            f"  - {sig['source']}: {sig['verdict']} ({sig['detail']})"
            for sig in evidence["evidence"]["signals"]]),
        classification=None if s.options.planned else "major",
        evidence=evidence["summary"] + gate,
        facts={"failed_region": s.regions.failed, "survivor_region": s.regions.survivor,
               "forced": bool(evidence.get("forced")), "planned": s.options.planned},
    )
    return notify(s, notice)


def evacuate(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    returned, words = traffic.return_region(s.target, s.regions.survivor, s.regions.failed,
                                            s.timeouts)
    if not returned:
        ctx.decide("the survivor's own evacuation switch could not be turned off",
                   detail=words)
    if s.options.planned and traffic.holds_primary_record(s.target, s.survivor, s.timeouts):
        # The survivor's record is the PRIMARY one: with its switch off, DNS answers with it,
        # and a switch thrown on the old primary would stay thrown (see return_region).
        ctx.decide("the old primary was not evacuated: the survivor holds the PRIMARY record",
                   detail=words)
        return {"summary": f"{s.regions.survivor} serves through its PRIMARY record; {words}",
                "alarm": None, "alarm_state": None, "switch_region": s.regions.failed,
                "survivor_switch": words}
    state = traffic.evacuate_region(s.target, s.regions.failed, s.regions.survivor,
                                            s.timeouts)
    alarm = naming.evacuation_alarm(s.regions.failed)
    return {"summary": f"{s.regions.failed} evacuated ({alarm} {state} in"
                       f" {s.regions.survivor})", "alarm": alarm, "alarm_state": state,
            "switch_region": s.regions.survivor, "survivor_switch": words}


def fence(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    fenced, words = traffic.fence_compute(s.target, s.failed, s.timeouts)
    if not fenced:
        ctx.decide("fencing relied on Aurora's write fencing", detail=words)
    return {"summary": words, "fenced": fenced, "fencing": words,
            "groups": naming.asg_names(s.regions.failed, s.failed.az_count)}


def promote(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    promotion = database.promote_secondary(
        s.target, s.regions.survivor, planned=s.options.planned, timeouts=s.timeouts,
        on_state=lambda state: ctx.progress(f"database: {state}"),
    )
    if promotion.fallback_reason:
        ctx.decide("detach-and-promote instead of managed failover",
                   reason=promotion.fallback_reason)
    if promotion.old_primary_must_be_rebuilt:
        ctx.decide(f"{naming.cluster_id(s.regions.failed)} must be rebuilt as a secondary",
                   reason="it left the global database")
    return {"summary": promotion.summary(), **asdict(promotion)}


def promote_reconcile(ctx: StepContext) -> dict[str, Any] | None:
    """After an interruption: done if the survivor already writes, else safe to run again
    (``promote_secondary`` waits for a promotion under way rather than asking twice)."""
    s: Services = ctx.services
    rds = database.rds_client(s.target, s.regions.survivor)
    cluster = database.read_cluster(rds, s.regions.survivor)
    view = database.read_global(rds, s.regions.survivor)
    member = view.member(cluster.arn)
    detached = member is None and cluster.status == "available"
    writes = member is not None and member.is_writer and view.operation is None
    if cluster.status == "available" and (detached or writes):
        method = database.DETACH_AND_PROMOTE if detached else "reconciled"
        return {"summary": f"{cluster.cluster_id} was already the writer ({method})",
                "method": method, "old_primary_must_be_rebuilt": detached}
    return None


def scale_up(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    scaling = capacity.scale_to_active(s.target, s.survivor, s.timeouts)
    return {"summary": scaling.summary(), "region": scaling.region,
            "capacity": asdict(scaling.capacity),
            "groups": [asdict(group) for group in scaling.groups]}


def verify(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    writer = database.writer_region(s.target, s.regions.survivor)
    if writer != s.regions.survivor:
        raise database.DatabaseError(
            f"{naming.cluster_id(s.regions.survivor)} is not the writer (the writer is in"
            f" {writer}); the promotion did not take: see `invoke status`"
        )
    serving = traffic.verify_serving(s.survivor, s.addresses(), s.timeouts,
                                     order={"client_id": ctx.run_id[-64:], "sequence": 1,
                                            "item": "failover verification"})
    return {"summary": f"{serving.summary()}; writer in {writer}", "writer_region": writer,
            **asdict(serving)}


def flip_stack_files(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    flip = stackfiles.assign_primary(s.project_dir, s.regions.survivor)
    later = deploy.later_command(s.project_dir, s.survivor.stack)
    result = {**flip.to_dict(), "summary": flip.summary(), "converge_command": later}
    if not s.options.apply:
        result["summary"] += f"; to converge the infrastructure run: {later}"
    return result


def flip_reconcile(ctx: StepContext) -> dict[str, Any] | None:
    s: Services = ctx.services
    now = load_pair(s.project_dir)
    if now.primary.region == s.regions.survivor:
        return {"summary": f"stack files already say {s.regions.survivor} is primary"}
    return None


def pulumi_up(ctx: StepContext) -> dict[str, Any]:
    # Known gap: the survivor's record turns PRIMARY while the failed stack's record still
    # says PRIMARY until that stack is updated, which Route 53 may refuse; swapping both
    # records in one change batch first (when Route 53's API answers) would avoid it.
    s: Services = ctx.services
    try:
        deployed = deploy.up(s.project_dir, s.survivor.stack,
                             on_output=lambda line: ctx.progress(f"pulumi: {line}"))
    except deploy.PulumiCliMissing as missing:
        ctx.decide("pulumi up not run: no Pulumi CLI here", command=missing.command)
        return {"summary": str(missing), "ran": False, "command": missing.command}
    return {"summary": deployed.summary(), "ran": True, **deployed.to_dict()}


def notify_complete(ctx: StepContext) -> dict[str, Any]:
    s: Services = ctx.services
    verify = ctx.result_of("verify")
    promote = ctx.result_of("promote-database")
    flip = ctx.result_of("flip-stack-files")
    notice = Notice(
        kind="complete", procedure=ctx.procedure, run_id=ctx.run_id,
        subject=f"ShopSmart failover complete: {s.regions.survivor} serves the shop",
        summary=f"{s.regions.survivor} now serves the shop and its database is the writer.",
        details=(f"Database: {promote['summary']}", f"Traffic: {verify['summary']}",
                 f"Stack files: {flip['summary']}", f"Incident record: incidents/{ctx.run_id}/"),
        classification=None if s.options.planned else "major",
        facts={"failed_region": s.regions.failed, "survivor_region": s.regions.survivor,
               "method": promote.get("method"),
               "old_primary_must_be_rebuilt": promote.get("old_primary_must_be_rebuilt")},
    )
    return notify(s, notice)


def notify(s: Services, notice: Notice) -> dict[str, Any]:
    delivery = Notifier(s.regions.survivor, target=s.target).publish(notice)
    told = "told" if delivery.sent else "NOT told (see the log)"
    return {"summary": f"stakeholders {told} on {delivery.topic} in {delivery.region}",
            "subject": notice.subject, **delivery.to_dict()}
