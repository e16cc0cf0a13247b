"""Bounded waits on AWS state, and the calls made while a region is failing.

Every long wait of a failover goes through ``wait_for``: it polls until the state is reached
or a deadline passes, logs progress an on-call engineer can follow, and treats a throttled,
failing or silent API as "no answer this time", never as a result. ``Timeouts`` holds the
bounds of one run; on the lab they shrink with the lab's time model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields, replace
from typing import Callable, Generic, TypeVar

import botocore.exceptions

from dr.aws import error_code, is_unreachable

logger = logging.getLogger(__name__)

T = TypeVar("T")

# AWS's codes for "slow down" and "try again"; the same request may succeed a moment later.
TRANSIENT_CODES = frozenset(
    {
        "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
        "TooManyRequestsException", "RequestThrottled", "RequestThrottledException",
        "SlowDown", "PriorRequestNotComplete", "ServiceUnavailable", "InternalFailure",
        "InternalError", "InternalServerError", "ServiceFailure",
    }
)


def is_transient(error: BaseException) -> bool:
    """True when a call failed in a way that a later attempt may not: throttling, a 5xx, an
    endpoint that did not answer."""
    if is_unreachable(error):
        return True
    if isinstance(error, botocore.exceptions.ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error_code(error) in TRANSIENT_CODES or int(status) >= 500
    return False


def describe_error(error: BaseException) -> str:
    """A short account of a failed call for logs and records."""
    if is_unreachable(error):
        return f"no answer ({type(error).__name__})"
    code = error_code(error)
    return f"{code}" if code else f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class Timeouts:
    """Bounds, in seconds, on each wait of a failover (AWS-sized; ``scaled`` for the lab).

    promotion_s: the whole database promotion, fallback included.
    managed_failover_s: how long a managed global failover may run before the engine stops
      waiting for it and detaches the secondary instead.
    capacity_s: scale-up until every instance is InService.
    traffic_s: evacuation alarm, DNS answer and HTTP checks of the survivor.
    call_s: retrying one API call through throttling and 5xx answers.
    poll_s: time between two looks at a changing state.
    progress_s: time between two progress lines during a long wait.
    """

    promotion_s: float = 1200.0
    managed_failover_s: float = 600.0
    capacity_s: float = 900.0
    traffic_s: float = 600.0
    call_s: float = 120.0
    poll_s: float = 5.0
    progress_s: float = 30.0

    def scaled(self, factor: float, floor_s: float = 0.05) -> "Timeouts":
        """The same bounds under a time model that runs ``factor`` times AWS's durations."""
        return replace(
            self, **{f.name: max(floor_s, getattr(self, f.name) * factor) for f in fields(self)}
        )


@dataclass(frozen=True)
class Observation(Generic[T]):
    """One look at a changing state: whether it is reached, and the state in words."""

    done: bool
    state: str
    value: T | None = None


class WaitTimedOut(TimeoutError):
    """A bounded wait ended before the state it waited for was reached."""

    def __init__(self, what: str, timeout_s: float, last_state: str, remedy: str) -> None:
        self.what = what
        self.timeout_s = timeout_s
        self.last_state = last_state
        self.remedy = remedy
        super().__init__(
            f"gave up waiting for {what} after {timeout_s:.1f} s (last seen: {last_state});"
            f" {remedy}"
        )


def wait_for(
    look: Callable[[], Observation[T]],
    *,
    what: str,
    timeout_s: float,
    poll_s: float,
    progress_s: float,
    remedy: str,
    on_state: Callable[[str], None] | None = None,
) -> Observation[T]:
    """Poll ``look`` until it reports done; raise ``WaitTimedOut`` at the deadline.

    ``look`` raises its own error for a state it knows to be fatal; a transient failure of the
    call itself is logged and polled through. ``on_state`` hears each new state once.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    last_state = "nothing yet"
    next_progress = started + progress_s
    while True:
        try:
            seen = look()
        except Exception as error:  # noqa: BLE001 - only transient failures are kept
            if not is_transient(error):
                raise
            state = f"API {describe_error(error)}"
            logger.debug("waiting for %s: %s", what, state)
        else:
            state = seen.state
            if seen.done:
                if state != last_state and on_state is not None:
                    on_state(state)
                logger.info("%s after %.1f s", what, time.monotonic() - started)
                return seen
        if state != last_state:
            if on_state is not None:
                on_state(state)
            logger.debug("waiting for %s: now %s", what, state)
            last_state = state
        now = time.monotonic()
        if now >= deadline:
            raise WaitTimedOut(what, timeout_s, last_state, remedy)
        if now >= next_progress:
            logger.info(
                "still waiting for %s: %s (%.0f s of %.0f s)", what, last_state,
                now - started, timeout_s,
            )
            next_progress = now + progress_s
        time.sleep(min(poll_s, max(0.0, deadline - now)))


def call(action: Callable[[], T], *, what: str, timeout_s: float, poll_s: float) -> T:
    """Run one idempotent API call, retrying throttling, 5xx and silence until the deadline.

    Only for calls that may safely be repeated (a put, a scale to a fixed size); a call that
    must happen once is checked against the state before each attempt by its caller.
    """
    deadline = time.monotonic() + timeout_s
    pause = poll_s
    while True:
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - only transient failures are retried
            if not is_transient(error) or time.monotonic() + pause > deadline:
                raise
            logger.debug("%s: %s; retrying in %.2f s", what, describe_error(error), pause)
            time.sleep(pause)
            pause = min(pause * 2, poll_s * 8)
