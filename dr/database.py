"""The Aurora global database during a failover: read its shape, promote the secondary.

Every call goes to the surviving region (a global cluster can be read and failed over from
any member region), so a dead primary region never blocks the promotion. Promotion is
reconciled against what AWS shows before anything is asked of it: a run that is resumed
after an interruption waits for the promotion it started instead of starting another one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import botocore.exceptions

from dr import naming
from dr.aws import Target, error_code
from dr.waiting import Observation, Timeouts, WaitTimedOut, call, describe_error, wait_for
from dr.waiting import is_transient

logger = logging.getLogger(__name__)

# States a cluster or a global cluster passes through on its way to ``available`` during a
# failover, switchover or detach; any other state stops the wait with its name.
CLUSTER_WAIT_STATES = frozenset({"failing-over", "switching-over", "promoting", "modifying"})
GLOBAL_WAIT_STATES = frozenset({"failing-over", "switching-over", "modifying"})
OPERATION_WAIT_STATES = frozenset({"pending", "failing-over", "switching-over"})

MANAGED_FAILOVER = "managed-failover"
DETACH_AND_PROMOTE = "detach-and-promote"
SWITCHOVER = "switchover"
ALREADY_WRITER = "already-writer"

# The global operation is impossible, as opposed to the API being briefly unavailable.
_REFUSALS = frozenset(
    {
        "InvalidGlobalClusterStateFault", "InvalidDBClusterStateFault",
        "InvalidParameterCombination", "InvalidParameterValue", "InvalidAction",
        "UnsupportedOperation",
    }
)


class DatabaseError(RuntimeError):
    """Base of the database failures a user can act on."""


class UnknownDatabaseState(DatabaseError):
    def __init__(self, subject: str, state: str, waiting_for: str) -> None:
        self.subject = subject
        self.state = state
        super().__init__(
            f"{subject} is in state {state!r}, which the promotion waiter does not know (it"
            f" waits through {', '.join(sorted(CLUSTER_WAIT_STATES))} until available) while"
            f" waiting for {waiting_for}; look at it in the RDS console of its region and run"
            " `invoke status` before running the failover again"
        )


class DatabaseNotFound(DatabaseError):
    def __init__(self, what: str, region: str) -> None:
        super().__init__(
            f"{what} was not found in {region}; check that the stacks are deployed (or, on"
            " the lab, that `invoke lab.up` finished) and that the stack files name the"
            " right regions"
        )


class OperationElsewhere(DatabaseError):
    """The global cluster is busy failing over toward another cluster."""


class PromotionFailed(DatabaseError):
    """Neither the managed failover nor detach-and-promote made the secondary a writer."""


class SwitchoverFailed(DatabaseError):
    """A planned switchover could not finish; the planned path never loses data, so it stops."""


@dataclass(frozen=True)
class Member:
    cluster_arn: str
    is_writer: bool

    @property
    def region(self) -> str:
        return self.cluster_arn.split(":")[3]

    @property
    def cluster_id(self) -> str:
        return self.cluster_arn.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class GlobalView:
    """The global cluster as one region's API shows it."""

    status: str
    engine_version: str
    members: tuple[Member, ...]
    operation: str | None  # FailoverState.Status, None when nothing is in progress
    operation_target_arn: str | None
    operation_allows_data_loss: bool | None

    @property
    def writer(self) -> Member | None:
        return next((m for m in self.members if m.is_writer), None)

    def member(self, cluster_arn: str) -> Member | None:
        return next((m for m in self.members if m.cluster_arn == cluster_arn), None)


@dataclass(frozen=True)
class ClusterView:
    cluster_id: str
    arn: str
    region: str
    status: str
    engine: str
    engine_version: str


@dataclass(frozen=True)
class Promotion:
    """What the promotion did, for the journal and the incident record."""

    method: str
    region: str
    cluster_id: str
    old_primary_must_be_rebuilt: bool
    reconciled: bool  # True when an earlier run had already started or finished it
    fallback_reason: str | None
    states: tuple[str, ...]
    duration_s: float

    def summary(self) -> str:
        text = f"{self.cluster_id} is the writer ({self.method}, {self.duration_s:.1f} s)"
        if self.fallback_reason:
            text += f"; managed failover was not possible: {self.fallback_reason}"
        if self.old_primary_must_be_rebuilt:
            text += "; the old primary left the global database and must be rebuilt"
        return text


# --- reading -------------------------------------------------------------------------------

def rds_client(target: Target, region: str) -> Any:
    return target.client("rds", region)


def read_global(rds: Any, region: str) -> GlobalView:
    gid = naming.global_cluster_id()
    try:
        found = rds.describe_global_clusters(GlobalClusterIdentifier=gid)["GlobalClusters"]
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "GlobalClusterNotFoundFault":
            raise DatabaseNotFound(f"global cluster {gid}", region) from None
        raise
    raw = next((g for g in found if g.get("GlobalClusterIdentifier") == gid), None)
    if raw is None:
        raise DatabaseNotFound(f"global cluster {gid}", region)
    state = raw.get("FailoverState") or {}
    return GlobalView(
        status=raw.get("Status", "unknown"),
        engine_version=raw.get("EngineVersion", ""),
        members=tuple(
            Member(m["DBClusterArn"], bool(m.get("IsWriter")))
            for m in raw.get("GlobalClusterMembers", [])
        ),
        operation=state.get("Status") or None,
        operation_target_arn=state.get("ToDbClusterArn"),
        operation_allows_data_loss=state.get("IsDataLossAllowed"),
    )


def read_cluster(rds: Any, region: str) -> ClusterView:
    cid = naming.cluster_id(region)
    try:
        found = rds.describe_db_clusters(DBClusterIdentifier=cid)["DBClusters"]
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "DBClusterNotFoundFault":
            raise DatabaseNotFound(f"cluster {cid}", region) from None
        raise
    if not found:
        raise DatabaseNotFound(f"cluster {cid}", region)
    raw = found[0]
    return ClusterView(
        cluster_id=cid,
        arn=raw["DBClusterArn"],
        region=region,
        status=raw.get("Status", "unknown"),
        engine=raw.get("Engine", ""),
        engine_version=raw.get("EngineVersion", ""),
    )


def writer_region(target: Target, region: str) -> str | None:
    """The region whose cluster writes, as ``region``'s API sees the global cluster."""
    rds = rds_client(target, region)
    cluster = read_cluster(rds, region)
    view = read_global(rds, region)
    if view.member(cluster.arn) is None and cluster.status == "available":
        return region  # detached: a standalone cluster is its own writer
    writer = view.writer
    return writer.region if writer else None


# --- promotion -----------------------------------------------------------------------------

def promote_secondary(
    target: Target, region: str, *, planned: bool, timeouts: Timeouts,
    on_state: Callable[[str], None] | None = None,
) -> Promotion:
    """Make ``region``'s cluster the writer and wait until it is available.

    Unplanned: managed failover with data loss allowed; when AWS refuses it or it hangs past
    ``timeouts.managed_failover_s``, detach the secondary from the global cluster and let it
    promote itself (the old primary then has to be rebuilt). Planned: switchover, which never
    loses data and therefore never falls back: it fails with ``SwitchoverFailed`` instead.
    """
    started = time.monotonic()
    rds = rds_client(target, region)
    seen: list[str] = []

    def note(state: str) -> None:
        seen.append(state)
        if on_state is not None:
            on_state(state)

    cluster = _look_up(lambda: read_cluster(rds, region), timeouts)
    view = _look_up(lambda: read_global(rds, region), timeouts)
    member = view.member(cluster.arn)
    if member is None and cluster.status == "available":
        logger.info("%s already left the global cluster and writes on its own", cluster.cluster_id)
        return _result(DETACH_AND_PROMOTE, cluster, True, None, seen, started)
    if _is_writer(view, cluster) and view.operation is None and cluster.status == "available":
        logger.info("%s is already the writer; nothing to promote", cluster.cluster_id)
        return _result(ALREADY_WRITER, cluster, True, None, seen, started)
    method = _under_way(view, cluster, planned)
    reconciled = method is not None
    if method is None:
        method = SWITCHOVER if planned else MANAGED_FAILOVER
    else:
        logger.info("%s: resuming the wait for a %s an earlier run started",
                    cluster.cluster_id, method)
    if method == SWITCHOVER:
        return _switchover(rds, cluster, reconciled, timeouts, note, seen, started)
    if method == DETACH_AND_PROMOTE:
        _wait_detached(rds, cluster, timeouts.promotion_s, timeouts, note)
        return _result(DETACH_AND_PROMOTE, cluster, reconciled, None, seen, started)

    fallback_reason = _managed_failover(rds, cluster, reconciled, timeouts, note)
    if fallback_reason is None:
        return _result(MANAGED_FAILOVER, cluster, reconciled, None, seen, started)
    logger.warning(
        "managed failover toward %s not possible (%s): detaching it from %s to promote it",
        cluster.cluster_id, fallback_reason, naming.global_cluster_id(),
    )
    try:
        _detach(rds, cluster, timeouts, fallback_reason)
    except _DetachRefused as refused:
        # AWS refuses to detach while the global cluster is busy; a slow managed failover
        # may still finish, so it gets the rest of the promotion's time.
        if refused.code != "InvalidGlobalClusterStateFault":
            raise PromotionFailed(str(refused)) from None
        logger.warning("%s; waiting for the managed failover instead", refused)
        try:
            _wait_writer(rds, cluster, _left(started, timeouts), timeouts, note,
                         "managed failover")
        except (WaitTimedOut, _Cancelled) as error:
            raise PromotionFailed(f"{refused}; and then: {error}") from None
        return _result(MANAGED_FAILOVER, cluster, reconciled, fallback_reason, seen, started)
    _wait_detached(rds, cluster, _left(started, timeouts), timeouts, note)
    return _result(DETACH_AND_PROMOTE, cluster, reconciled, fallback_reason, seen, started)


def _left(started: float, timeouts: Timeouts) -> float:
    return max(timeouts.poll_s, timeouts.promotion_s - (time.monotonic() - started))


def _under_way(view: GlobalView, cluster: ClusterView, planned: bool) -> str | None:
    """The method of a promotion an earlier run started, or None when none is under way."""
    if view.member(cluster.arn) is None:
        return DETACH_AND_PROMOTE
    if view.operation is None:
        # Already the writer but not yet available: wait, never ask for a second promotion.
        if _is_writer(view, cluster):
            return SWITCHOVER if planned else MANAGED_FAILOVER
        return None
    if view.operation_target_arn != cluster.arn:
        raise OperationElsewhere(
            f"{naming.global_cluster_id()} is already {view.operation} toward"
            f" {view.operation_target_arn}, not toward {cluster.cluster_id}; wait for it to"
            " finish and run `invoke status` before trying again"
        )
    if view.operation_allows_data_loss is False or view.operation == "switching-over":
        return SWITCHOVER if planned else MANAGED_FAILOVER
    return MANAGED_FAILOVER


def _managed_failover(
    rds: Any, cluster: ClusterView, reconciled: bool, timeouts: Timeouts,
    note: Callable[[str], None],
) -> str | None:
    """Run (or keep waiting for) the managed failover; the reason it failed, or None."""
    if not reconciled:
        logger.info(
            "failing %s over to %s (unplanned, AllowDataLoss=True)",
            naming.global_cluster_id(), cluster.cluster_id,
        )
        try:
            _start_once(
                rds, cluster, timeouts,
                lambda: rds.failover_global_cluster(
                    GlobalClusterIdentifier=naming.global_cluster_id(),
                    TargetDbClusterIdentifier=cluster.arn,
                    AllowDataLoss=True,
                ),
            )
        except botocore.exceptions.ClientError as error:
            if error_code(error) in _REFUSALS:
                return f"failover_global_cluster refused: {error_code(error)}: {_message(error)}"
            raise
        except _NotStarted as error:
            return str(error)
    try:
        _wait_writer(rds, cluster, timeouts.managed_failover_s, timeouts, note, "managed failover")
    except WaitTimedOut as error:
        return f"it did not finish within {error.timeout_s:.0f} s (last: {error.last_state})"
    except _Cancelled as error:
        return str(error)
    return None


def _switchover(
    rds: Any, cluster: ClusterView, reconciled: bool, timeouts: Timeouts,
    note: Callable[[str], None], seen: list[str], started: float,
) -> Promotion:
    advice = (
        "a switchover needs both regions healthy; if the primary region is down, run"
        " `invoke failover` without --planned (unplanned failover, data loss bounded by the"
        " RPO budget)"
    )
    if not reconciled:
        logger.info(
            "switching %s over to %s (planned, no data loss)",
            naming.global_cluster_id(), cluster.cluster_id,
        )
        try:
            _start_once(
                rds, cluster, timeouts,
                lambda: rds.switchover_global_cluster(
                    GlobalClusterIdentifier=naming.global_cluster_id(),
                    TargetDbClusterIdentifier=cluster.arn,
                ),
            )
        except botocore.exceptions.ClientError as error:
            raise SwitchoverFailed(
                f"switchover of {naming.global_cluster_id()} toward {cluster.cluster_id} was"
                f" refused: {error_code(error)}: {_message(error)}; {advice}"
            ) from None
        except _NotStarted as error:
            raise SwitchoverFailed(f"{error}; {advice}") from None
    try:
        _wait_writer(rds, cluster, timeouts.promotion_s, timeouts, note, "switchover")
    except (WaitTimedOut, _Cancelled) as error:
        raise SwitchoverFailed(
            f"switchover of {naming.global_cluster_id()} toward {cluster.cluster_id} did not"
            f" complete: {error}; {advice}"
        ) from None
    return _result(SWITCHOVER, cluster, reconciled, None, seen, started)


def _detach(rds: Any, cluster: ClusterView, timeouts: Timeouts, why: str) -> None:
    def detach() -> Any:
        current = read_global(rds, cluster.region)
        if current.member(cluster.arn) is None:
            return None  # an earlier attempt whose answer was lost already detached it
        return rds.remove_from_global_cluster(
            GlobalClusterIdentifier=naming.global_cluster_id(), DbClusterIdentifier=cluster.arn
        )

    try:
        call(detach, what=f"detach {cluster.cluster_id}", timeout_s=timeouts.call_s,
             poll_s=timeouts.poll_s)
    except botocore.exceptions.ClientError as error:
        raise _DetachRefused(
            error_code(error) or "",
            f"could not promote {cluster.cluster_id}: managed failover was not possible ({why})"
            f" and remove_from_global_cluster failed too: {describe_error(error)}:"
            f" {_message(error)}; promote it by hand in the RDS console of {cluster.region}",
        ) from None


class _NotStarted(DatabaseError):
    pass


class _DetachRefused(DatabaseError):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class _Cancelled(DatabaseError):
    pass


def _start_once(rds: Any, cluster: ClusterView, timeouts: Timeouts, start: Callable[[], Any]):
    """Ask for a global operation once; after a lost answer, look before asking again."""
    deadline = time.monotonic() + timeouts.call_s
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            start()
            return
        except Exception as error:  # noqa: BLE001 - only transient failures are retried
            if not is_transient(error):
                raise
            last = describe_error(error)
        time.sleep(timeouts.poll_s)
        try:
            view = read_global(rds, cluster.region)
        except Exception as error:  # noqa: BLE001
            if not is_transient(error):
                raise
            continue
        if view.operation_target_arn == cluster.arn or _is_writer(view, cluster):
            return  # the lost request did start it
    raise _NotStarted(
        f"the request to promote {cluster.cluster_id} got no usable answer within"
        f" {timeouts.call_s:.0f} s (last: {last})"
    )


def _wait_writer(
    rds: Any, cluster: ClusterView, timeout_s: float, timeouts: Timeouts,
    note: Callable[[str], None], operation: str,
) -> None:
    def look() -> Observation[None]:
        view = read_global(rds, cluster.region)
        current = read_cluster(rds, cluster.region)
        if view.operation == "cancelling":
            raise _Cancelled(f"AWS is cancelling the {operation} toward {cluster.cluster_id}")
        _check_known(f"global cluster {naming.global_cluster_id()}", view.status,
                     GLOBAL_WAIT_STATES, operation)
        _check_known(f"cluster {cluster.cluster_id}", current.status, CLUSTER_WAIT_STATES,
                     operation)
        if view.operation is not None and view.operation not in OPERATION_WAIT_STATES:
            raise UnknownDatabaseState(
                f"the {operation} of {naming.global_cluster_id()}", view.operation, operation
            )
        writer = view.writer.cluster_id if view.writer else "none"
        state = (
            f"global {view.status}{'/' + view.operation if view.operation else ''},"
            f" {cluster.cluster_id} {current.status}, writer {writer}"
        )
        done = _is_writer(view, cluster) and current.status == "available"
        return Observation(done and view.operation is None and view.status == "available", state)

    wait_for(
        look, what=f"{operation} to make {cluster.cluster_id} the writer", timeout_s=timeout_s,
        poll_s=timeouts.poll_s, progress_s=timeouts.progress_s, on_state=note,
        remedy="see `invoke status` for where it stands",
    )


def _wait_detached(
    rds: Any, cluster: ClusterView, timeout_s: float, timeouts: Timeouts,
    note: Callable[[str], None],
) -> None:
    def look() -> Observation[None]:
        current = read_cluster(rds, cluster.region)
        _check_known(f"cluster {cluster.cluster_id}", current.status, CLUSTER_WAIT_STATES,
                     "detach-and-promote")
        member = read_global(rds, cluster.region).member(cluster.arn)
        state = f"{cluster.cluster_id} {current.status}, {'member' if member else 'detached'}"
        return Observation(member is None and current.status == "available", state)

    try:
        wait_for(
            look, what=f"{cluster.cluster_id} to promote itself after detaching",
            timeout_s=timeout_s, poll_s=timeouts.poll_s, progress_s=timeouts.progress_s,
            on_state=note, remedy="run the failover again to keep waiting; it resumes the wait",
        )
    except WaitTimedOut as error:
        raise PromotionFailed(str(error)) from None


def _check_known(subject: str, state: str, waiting: frozenset[str], operation: str) -> None:
    if state != "available" and state not in waiting:
        raise UnknownDatabaseState(subject, state, operation)


def _is_writer(view: GlobalView, cluster: ClusterView) -> bool:
    member = view.member(cluster.arn)
    return member is not None and member.is_writer


def _look_up(read: Callable[[], Any], timeouts: Timeouts) -> Any:
    return call(read, what="read the global database", timeout_s=timeouts.call_s,
                poll_s=timeouts.poll_s)


def _result(
    method: str, cluster: ClusterView, reconciled: bool, fallback: str | None,
    seen: list[str], started: float,
) -> Promotion:
    return Promotion(
        method=method,
        region=cluster.region,
        cluster_id=cluster.cluster_id,
        old_primary_must_be_rebuilt=method == DETACH_AND_PROMOTE,
        reconciled=reconciled,
        fallback_reason=fallback,
        states=tuple(seen),
        duration_s=round(time.monotonic() - started, 3),
    )


def _message(error: botocore.exceptions.ClientError) -> str:
    return error.response.get("Error", {}).get("Message", "")
