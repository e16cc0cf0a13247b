"""`invoke failover`: the major-incident procedure (thin command line over dr.failover)."""

from __future__ import annotations

import getpass
import logging
import os
import socket
import sys
from pathlib import Path

from invoke import Exit, task

from dr import failover as engine
from dr.aws import Target, TargetError
from dr.journal import JournalError
from dr.plan import PlanError
from dr.settings import SettingsError

# Where the stack files are; tests and drills point it at a copy so the repo's stay as they are.
PROJECT_DIR_ENV = "SHOPSMART_PROJECT_DIR"


def _project_dir() -> Path:
    return Path(os.environ.get(PROJECT_DIR_ENV) or Path(__file__).resolve().parents[1])


def _target(c, target: str | None) -> Target:
    kind = target or c.config.get("shopsmart", {}).get("target", "lab")
    if kind == "lab":
        from dr.lab import state

        return state.target()
    if kind == "aws":
        return Target.aws()
    raise TargetError(f"unknown target {kind!r}: use lab or aws")


def _confirm(services: engine.Services, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise Exit("refusing to fail over without confirmation: there is no terminal to ask"
                   " on. Pass --yes to confirm (for example from automation).", 2)
    survivor = services.regions.survivor
    kind = "switch over (planned)" if services.options.planned else "FAIL OVER (unplanned)"
    answer = input(f"This will {kind} from {services.regions.failed} to {survivor}.\n"
                   f"Type {survivor} to go ahead: ").strip()
    if answer != survivor:
        raise Exit("not confirmed; nothing was changed", 1)


def _echo(step: str, message: str) -> None:
    print(f"  … {step}: {message}", flush=True)


@task(help={
    "planned": "planned switchover (both regions healthy, no data loss) instead of failover",
    "dry-run": "print the exact plan, each step and API target, and touch nothing",
    "force": "skip the evidence gate (recorded as such in the incident record)",
    "yes": "do not ask for confirmation (required when there is no terminal)",
    "accept-data-loss": "promote even if replication lag exceeds the RPO budget (objectives.rpoS)",
    "apply": "after the role flip, run `pulumi up` for the surviving stack (Automation API)",
    "target": "lab or aws (default: shopsmart.target in invoke.yaml)",
})
def failover(c, planned=False, dry_run=False, force=False, yes=False, accept_data_loss=False,
             apply=False, target=None):
    """Fail the shop over to the secondary region (evidence-gated, locked, resumable)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    options = engine.FailoverOptions(planned=planned, force=force,
                                     accept_data_loss=accept_data_loss, apply=apply)
    who = f"{getpass.getuser()}@{socket.gethostname()} (cli)"
    try:
        chosen = _target(c, target)
        services, open_id = engine.prepare(chosen, _project_dir(), options,
                                           trigger={"by": who, "via": "invoke failover"})
        if dry_run:
            print(engine.dry_run(services, open_id))
            return
        _confirm(services, yes)
        result = engine.run_failover(services, on_progress=_echo)
    except Exit:
        raise
    except (SettingsError, TargetError, PlanError, JournalError) as error:
        raise Exit(f"failover: {error}", 1) from None
    except Exception as error:  # noqa: BLE001 - a task ends with a message, not a traceback
        logging.getLogger(__name__).debug("failover crashed", exc_info=True)
        raise Exit(f"failover: unexpected {type(error).__name__}: {error}", 1) from None
    outcome = result.outcome
    for path in result.record_paths:
        print(f"incident record: {path}")
    if outcome.status == "complete":
        print(f"failover complete: {result.regions.survivor} serves the shop"
              f" (run {outcome.run_id})")
        return
    cause = getattr(outcome.error, "cause", None) or outcome.error
    if outcome.status == "refused":
        raise Exit(f"failover refused at {outcome.failed_step}; nothing was changed:\n{cause}", 1)
    raise Exit(f"failover failed at {outcome.failed_step}: {cause}\nRun the same command again"
               f" to resume run {outcome.run_id} (completed steps are not repeated).", 1)
