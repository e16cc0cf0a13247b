"""The run lease: at most one DR procedure at a time, across people and the API endpoint.

One item in the DynamoDB table ``naming.lease_table()`` of the *surviving* region (the
failover path needs nothing else from AWS, and never the failed region). Taking it is a
conditional write, so of two acquirers racing for it exactly one wins; the other learns who
holds it and since when. The holder renews it in the background while the run goes on; a
lease whose holder stopped renewing expires and may be taken over, and the taker is told
whom it displaced. The same run id may take its own lease back (a resume after kill -9).

Expiry is compared on each acquirer's wall clock; clocks that disagree by more than a small
part of ``duration_s`` would let a takeover come early, so keep NTP on (AWS hosts have it).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import botocore.exceptions

from dr import naming
from dr.aws import Target, error_code, is_unreachable
from dr.journal import now_iso
from dr.plan import Step

logger = logging.getLogger(__name__)

LEASE_KEY = "dr-run"  # one lease for every procedure: failover, failback, drill exclude each other
TRANSIENT_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "TransactionConflict",
})


class LeaseError(RuntimeError):
    """Base of the lease's errors."""


class LeaseHeld(LeaseError):
    """Another run holds the lease."""

    def __init__(self, record: "LeaseRecord", table: str, region: str) -> None:
        self.record = record
        super().__init__(
            f"another {record.procedure} holds the DR lease: {record.holder}, run"
            f" {record.run_id}, since {record.acquired_at} (renewed {record.renewed_at},"
            f" expires {now_iso(record.expires_at)}); checked table {table} in {region}."
            " Let that run finish, or stop it and wait for the lease to expire"
        )


class LeaseLost(LeaseError):
    """The lease this run held was taken by someone else, or could not be renewed."""


class LeaseUnavailable(LeaseError):
    """The lease table could not be read or written (missing table, region unreachable)."""


@dataclass(frozen=True)
class LeaseRecord:
    """The lease item as stored: who holds it, for which run, and until when (epoch s)."""

    holder: str
    run_id: str
    procedure: str
    acquired_at: str
    renewed_at: str
    expires_at: float

    def expired(self, now: float) -> bool:
        return self.expires_at < now

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Acquired:
    """A taken lease; ``took_over`` is the stale lease displaced, ``resumed`` says this run
    already held it (taken back after an interruption)."""

    record: LeaseRecord
    took_over: LeaseRecord | None
    resumed: bool


class Lease:
    """The DR lease for one run, in one region's table.

    region: the surviving region, whose table is used.
    holder: who acts, in words (``alice@laptop (cli)``, ``lambda shopsmart-failover-...``).
    run_id, procedure: the run taking the lease (``dr.journal.Run``).
    client: a DynamoDB client (tests, powertools-style injection); else made from ``target``.
    duration_s: how long the lease lasts without renewal; renewed every ``renew_every_s``
        (a third of it by default) for at most ``max_hold_s`` in total.
    retries: extra rounds (with backoff) after throttling, 5xx or no answer, on top of
        botocore's own retries.
    clock: wall-clock seconds (injectable to test expiry without waiting).
    """

    def __init__(self, region: str, *, holder: str, run_id: str, procedure: str,
                 client: Any = None, target: Target | None = None, table: str | None = None,
                 key: str = LEASE_KEY, duration_s: float = 300.0,
                 renew_every_s: float | None = None, max_hold_s: float = 4 * 3600.0,
                 retries: int = 3, clock: Callable[[], float] = time.time) -> None:
        if client is None and target is None:
            raise ValueError("Lease needs a DynamoDB client or a target")
        self.region, self.holder, self.run_id, self.procedure = region, holder, run_id, procedure
        self.client = client or target.client("dynamodb", region)
        self.table = table or naming.lease_table()
        self.key = key
        self.duration_s = duration_s
        self.renew_every_s = renew_every_s or duration_s / 3
        self.max_hold_s = max_hold_s
        self.retries = retries
        self.clock = clock
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._lost: str | None = None

    # --- reading ---------------------------------------------------------------------------

    def current(self) -> LeaseRecord | None:
        """The lease as stored now, or None when nobody holds it."""
        reply = self._call("get_item", TableName=self.table, Key=self._key(),
                           ConsistentRead=True)
        item = reply.get("Item")
        if not item:
            return None
        return LeaseRecord(
            holder=item["holder"]["S"], run_id=item["run_id"]["S"],
            procedure=item.get("procedure", {}).get("S", "procedure"),
            acquired_at=item["acquired_at"]["S"], renewed_at=item["renewed_at"]["S"],
            expires_at=float(item["expires_at"]["N"]),
        )

    # --- taking, keeping, giving back ------------------------------------------------------

    def acquire(self) -> Acquired:
        """Take the lease, or raise ``LeaseHeld`` naming the holder, run and since when."""
        for _ in range(3):  # a lease released between our read and our write: look again
            held = self.current()
            now = self.clock()
            if held is None:
                condition, values = "attribute_not_exists(#lease)", {}
            elif held.run_id == self.run_id:
                condition, values = "run_id = :me", {":me": {"S": self.run_id}}
            elif held.expired(now):
                condition = "run_id = :old AND expires_at = :old_expiry"
                values = {":old": {"S": held.run_id},
                          ":old_expiry": {"N": _number(held.expires_at)}}
            else:
                raise LeaseHeld(held, self.table, self.region)
            since = held.acquired_at if held and held.run_id == self.run_id else now_iso(now)
            record = LeaseRecord(self.holder, self.run_id, self.procedure, since, now_iso(now),
                                 now + self.duration_s)
            if self._put(record, condition, values):
                return self._taken(record, held)
        raise LeaseHeld(self.current() or record, self.table, self.region)

    def renew(self) -> LeaseRecord:
        """Push the expiry out; raise ``LeaseLost`` when the lease is no longer ours."""
        now = self.clock()
        try:
            self._call(
                "update_item", TableName=self.table, Key=self._key(),
                UpdateExpression="SET expires_at = :expiry, renewed_at = :now",
                ConditionExpression="run_id = :me",
                ExpressionAttributeValues={
                    ":expiry": {"N": _number(now + self.duration_s)}, ":now": {"S": now_iso(now)},
                    ":me": {"S": self.run_id},
                },
            )
        except _ConditionFailed:
            holder = self.current()
            taker = f"{holder.holder} (run {holder.run_id})" if holder else "nobody"
            raise LeaseLost(
                f"the DR lease of run {self.run_id} was lost: it is now held by {taker};"
                " stop this run and check what the other run did"
            ) from None
        logger.debug("lease %s renewed for run %s", self.key, self.run_id)
        return self.current()

    def release(self) -> bool:
        """Give the lease back; False when it was not ours any more (nothing deleted)."""
        self.stop_renewing()
        try:
            self._call("delete_item", TableName=self.table, Key=self._key(),
                       ConditionExpression="run_id = :me",
                       ExpressionAttributeValues={":me": {"S": self.run_id}})
        except _ConditionFailed:
            logger.warning("lease %s was not held by run %s any more; left as it is",
                           self.key, self.run_id)
            return False
        logger.info("released the DR lease of run %s", self.run_id)
        return True

    def start_renewing(self) -> None:
        """Renew in a background thread until ``release``/``stop_renewing`` or max_hold_s."""
        if self._renewer is not None:
            return
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="lease-renewal",
                                         daemon=True)
        self._renewer.start()

    def stop_renewing(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=10)
        self._renewer = None

    @property
    def lost(self) -> str | None:
        """Why background renewal gave the lease up, or None while it is held."""
        return self._lost

    def check(self) -> None:
        """Raise ``LeaseLost`` when background renewal found the lease gone (a run guard)."""
        if self._lost:
            raise LeaseLost(self._lost)

    def __enter__(self) -> Acquired:
        acquired = self.acquire()
        self.start_renewing()
        return acquired

    def __exit__(self, *exc: Any) -> None:
        self.release()

    # --- inside ----------------------------------------------------------------------------

    def _renew_loop(self) -> None:
        deadline = time.monotonic() + self.max_hold_s
        while not self._stop.wait(self.renew_every_s):
            if time.monotonic() > deadline:
                self._lost = (f"renewal of the DR lease stopped after {self.max_hold_s:.0f} s"
                              " (the longest a run may hold it); run again to resume")
                return
            try:
                self.renew()
            except LeaseLost as lost:
                self._lost = str(lost)
                logger.error("%s", lost)
                return
            except LeaseUnavailable as error:  # transient: the next attempt may get through
                logger.warning("could not renew the DR lease (will retry): %s", error)

    def _taken(self, record: LeaseRecord, held: LeaseRecord | None) -> Acquired:
        resumed = held is not None and held.run_id == self.run_id
        took_over = held if held is not None and not resumed else None
        if took_over:
            logger.warning(
                "took over a stale DR lease from %s (run %s, expired %s)", took_over.holder,
                took_over.run_id, now_iso(took_over.expires_at),
            )
        else:
            logger.info("%s the DR lease for run %s (%s) in %s", "took back" if resumed
                        else "acquired", self.run_id, self.holder, self.region)
        return Acquired(record, took_over, resumed)

    def _put(self, record: LeaseRecord, condition: str, values: dict[str, Any]) -> bool:
        item = {
            "lease": {"S": self.key}, "holder": {"S": record.holder},
            "run_id": {"S": record.run_id}, "procedure": {"S": record.procedure},
            "acquired_at": {"S": record.acquired_at}, "renewed_at": {"S": record.renewed_at},
            "expires_at": {"N": _number(record.expires_at)},
        }
        options: dict[str, Any] = {"ExpressionAttributeNames": {"#lease": "lease"}} if (
            "#lease" in condition) else {}
        if values:
            options["ExpressionAttributeValues"] = values
        try:
            self._call("put_item", TableName=self.table, Item=item,
                       ConditionExpression=condition, **options)
        except _ConditionFailed:
            logger.debug("lease %s: conditional write lost (%s)", self.key, condition)
            return False
        return True

    def _key(self) -> dict[str, Any]:
        return {"lease": {"S": self.key}}

    def _call(self, operation: str, **kwargs: Any) -> Any:
        # botocore already retries each call; these rounds ride out a longer throttling or
        # 5xx storm. A retried write that had in fact landed is read back as our own lease.
        for attempt in range(self.retries + 1):
            try:
                return getattr(self.client, operation)(**kwargs)
            except botocore.exceptions.ClientError as error:
                code = error_code(error)
                if code == "ConditionalCheckFailedException":
                    raise _ConditionFailed() from None
                transient = code in TRANSIENT_CODES
                reason = f"{code}: {error}" + ("" if transient else "; check that the table"
                                               " exists there (it is part of each region's stack)")
                failure: Exception = error
            except botocore.exceptions.BotoCoreError as error:
                transient = True
                reason = ("the region's endpoint did not answer" if is_unreachable(error)
                          else str(error))
                failure = error
            if not transient or attempt == self.retries:
                raise LeaseUnavailable(
                    f"{operation} on lease table {self.table} in {self.region} failed"
                    f" ({attempt + 1} attempts): {reason}"
                ) from failure
            logger.debug("lease %s: %s failed (%s); retrying", self.key, operation, reason)
            time.sleep(min(4.0, 0.5 * 2 ** attempt))
        raise AssertionError("unreachable")


class _ConditionFailed(Exception):
    """Internal: a conditional write was refused (someone else's lease is in place)."""


def _number(value: float) -> str:
    return f"{value:.3f}"


def lease_step(make_lease: Callable[[Any], Lease], name: str = "lease",
               summary: str = "take the DR lease so no other run can act at the same time",
               api_targets: tuple[str, ...] = ()) -> Step:
    """A plan step that takes the lease, keeps it renewed, and guards every later step.

    ``make_lease(ctx)`` builds the ``Lease`` for the run (``ctx.run_id``, ``ctx.services``).
    The step runs again on every resume (same run id: the lease is taken back). When the run
    ends complete or refused the lease is released; when it fails or is interrupted it is
    kept until it expires, so nothing else starts while a half-done run awaits its resume.
    Its result records the holder, expiry and any stale lease taken over.
    """

    def take(ctx: Any) -> dict[str, Any]:
        lease = make_lease(ctx)
        acquired = lease.acquire()
        lease.start_renewing()
        ctx.add_guard(lease.check)
        ctx.on_exit(lambda status: lease.release() if status in ("complete", "refused")
                    else lease.stop_renewing())
        result = {"holder": acquired.record.holder, "since": acquired.record.acquired_at,
                  "expires_at": now_iso(acquired.record.expires_at), "resumed": acquired.resumed,
                  "took_over": acquired.took_over.to_dict() if acquired.took_over else None,
                  "table": lease.table, "region": lease.region}
        if acquired.took_over:
            stale = acquired.took_over
            ctx.decide(f"took over a stale DR lease from {stale.holder} (run {stale.run_id})",
                       expired_at=now_iso(stale.expires_at))
            result["summary"] = (f"lease taken over from {stale.holder} (run {stale.run_id},"
                                 f" expired {now_iso(stale.expires_at)})")
        else:
            verb = "taken back" if acquired.resumed else "held"
            result["summary"] = f"lease {verb} by {acquired.record.holder} in {lease.region}"
        return result

    targets = api_targets or (f"dynamodb:PutItem (conditional) {naming.lease_table()}",)
    return Step(name, summary, take, api_targets=targets, acts=False, rerun_on_resume=True,
                timeout_s=60.0)
