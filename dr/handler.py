"""The Lambda behind the API Gateway failover endpoint: the same engine, the same lease.

POST a JSON body ``{"planned": false, "force": false, "accept_data_loss": false,
"dry_run": false}`` (every key optional). The reply is the run's outcome: 200 complete
(or the dry-run plan), 409 when another run holds the lease, 422 when the failover was
refused before anything changed (evidence gate, pre-flight, RPO budget), 500 when a step
failed (calling again resumes the run), 400 for a request the engine cannot use.

Environment: ``SHOPSMART_PROJECT_DIR`` (where the stack files are; default: the package
root), ``SHOPSMART_INCIDENTS_DIR`` (default ``/tmp/incidents``, Lambda's only writable
place) and ``SHOPSMART_TARGET`` (``aws``; ``lab`` with ``SHOPSMART_LAB_DIR`` for tests).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from dr import failover as engine
from dr.aws import Target, TargetError
from dr.journal import JournalError
from dr.lease import LeaseHeld
from dr.plan import PlanError
from dr.settings import STACKS, SettingsError, stack_file

logger = logging.getLogger(__name__)

OPTIONS = ("planned", "force", "accept_data_loss", "dry_run")


class BadRequest(ValueError):
    """The request body is not a JSON object of known boolean options."""


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway (REST or HTTP API, proxy integration) entry point."""
    logging.getLogger().setLevel(logging.INFO)
    request_id = getattr(context, "aws_request_id", None) or "local"
    source = (event.get("requestContext") or {}).get("identity", {}).get("sourceIp", "?")
    try:
        asked = _options(event)
        project_dir, copied = _project_dir()
        services, open_id = engine.prepare(
            _target(), project_dir, engine.FailoverOptions(
                planned=asked["planned"], force=asked["force"],
                accept_data_loss=asked["accept_data_loss"]),
            trigger={"by": f"api-gateway request {request_id} from {source}",
                     "via": "failover endpoint"},
            incidents_dir=_incidents_dir(),
        )
        if asked["dry_run"]:
            return _reply(200, {"status": "dry-run", "plan": engine.dry_run(services, open_id)})
        result = engine.run_failover(services, incidents_dir=_incidents_dir())
    except BadRequest as error:
        return _reply(400, {"status": "bad-request", "message": str(error)})
    except (SettingsError, TargetError, PlanError, JournalError) as error:
        return _reply(500, {"status": "error", "message": str(error)})
    except Exception as error:  # noqa: BLE001 - the caller gets a reply, the log the trace
        logger.exception("failover endpoint crashed")
        return _reply(500, {"status": "error", "message": f"{type(error).__name__}: {error}"})
    outcome = result.outcome
    body = {"status": outcome.status, "run_id": outcome.run_id,
            "failed_step": outcome.failed_step, "records": list(result.record_paths)}
    if outcome.status == "complete":
        body["message"] = f"{result.regions.survivor} serves the shop"
        if copied:
            body["stack_files"] = (
                f"roles recorded in {services.project_dir} only; run `invoke failover` in"
                " the repository to record them there")
        return _reply(200, body)
    cause = getattr(outcome.error, "cause", None) or outcome.error
    body["message"] = str(cause)
    if isinstance(cause, LeaseHeld):
        body["holder"] = cause.record.to_dict()
        return _reply(409, body)
    return _reply(422 if outcome.status == "refused" else 500, body)


def _options(event: dict[str, Any]) -> dict[str, bool]:
    raw = event.get("body") or "{}"
    try:
        body = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as error:
        raise BadRequest(f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    unknown = sorted(set(body) - set(OPTIONS))
    if unknown:
        raise BadRequest(f"unknown options {unknown}; known: {', '.join(OPTIONS)}")
    for key, value in body.items():
        if not isinstance(value, bool):
            raise BadRequest(f"{key} must be true or false, found {value!r}")
    return {key: bool(body.get(key, False)) for key in OPTIONS}


def _target() -> Target:
    kind = os.environ.get("SHOPSMART_TARGET", "aws")
    if kind == "lab":
        from dr.lab import state

        return state.target()
    if kind == "aws":
        return Target.aws()
    raise TargetError(f"SHOPSMART_TARGET is {kind!r}: use aws or lab")


def _project_dir() -> tuple[Path, bool]:
    """Where the run reads and flips the stack files.

    A Lambda's package is read-only, so the files are copied to a writable place first;
    the flip then records the new roles in that copy only, and the reply says so: running
    `invoke failover` from the repository afterwards finds reality already changed and
    records the roles there.
    """
    source = Path(os.environ.get("SHOPSMART_PROJECT_DIR", Path(__file__).resolve().parents[1]))
    if os.access(source, os.W_OK):
        return source, False
    copy = Path(os.environ.get("SHOPSMART_WORK_DIR", "/tmp/shopsmart"))
    copy.mkdir(parents=True, exist_ok=True)
    for stack in STACKS:
        shutil.copy2(stack_file(source, stack), stack_file(copy, stack))
    return copy, True


def _incidents_dir() -> Path:
    return Path(os.environ.get("SHOPSMART_INCIDENTS_DIR", "/tmp/incidents"))


def _reply(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body, default=str)}
