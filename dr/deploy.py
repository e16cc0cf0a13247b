"""Converging a stack with ``pulumi up`` after a role flip (the only Pulumi import in dr/).

A failover never needs this: reality is changed through the AWS APIs and the stack files
already say what is true. ``pulumi up`` on the surviving stack afterwards brings the
declared resources in line (capacity, alarms) and must show no replacement; it needs the
Pulumi CLI and the state backend, which a regional outage may have taken away. Where the
CLI is missing, ``PulumiCliMissing`` says exactly which command to run later.

Before updating, ``up`` previews and refuses (``ConvergenceRefused``, nothing deployed) a
plan that would replace or delete a resource, or move an Aurora cluster in or out of the
global database: after a failover those are the changes that lose data, never the ones
that record a new role.
"""

from __future__ import annotations

import logging
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

logger = logging.getLogger(__name__)


class DeployError(RuntimeError):
    """Base of the deploy errors."""


class PulumiCliMissing(DeployError):
    """No ``pulumi`` executable here: the update must be run later, by hand."""

    def __init__(self, project_dir: Path, stack: str) -> None:
        self.command = later_command(project_dir, stack)
        super().__init__(
            f"the Pulumi CLI is not installed here (no `pulumi` on PATH), so the {stack} stack"
            " was not updated. The stack files already record the new roles; to converge the"
            f" infrastructure, run later where the CLI and its state backend are available:"
            f" {self.command}"
        )


class DeployFailed(DeployError):
    """``pulumi up`` (or its preview) ran and failed."""


class ConvergenceRefused(DeployError):
    """The preview shows changes a role flip must never cause; nothing was deployed."""

    def __init__(self, project_dir: Path, stack: str, changes: list[str]) -> None:
        self.changes = tuple(changes)
        super().__init__(
            f"pulumi preview -s {stack} plans changes a role flip must never cause, so nothing"
            f" was deployed: {'; '.join(changes)}. Inspect them with `pulumi preview --diff -s"
            f" {stack}` in {Path(project_dir).resolve()} and fix the program or the stack file"
            " before running pulumi up by hand"
        )


# Operations that destroy a resource's identity: data in a database, a cluster's membership.
DESTRUCTIVE_OPS = frozenset({"delete", "replace", "create-replacement", "delete-replaced",
                             "discard-replaced"})
GLOBAL_MEMBERSHIP = ("aws:rds/cluster:Cluster", "globalClusterIdentifier")


@dataclass(frozen=True)
class DeployResult:
    """A finished ``pulumi up``: ``result`` as Pulumi reports it, change counts by kind."""

    stack: str
    result: str
    changes: dict[str, int]
    version: int | None

    def summary(self) -> str:
        counts = ", ".join(f"{kind} {count}" for kind, count in sorted(self.changes.items()))
        return f"pulumi up -s {self.stack}: {self.result} ({counts or 'no changes'})"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def later_command(project_dir: Path | str, stack: str) -> str:
    """The command an operator runs to do by hand what ``up`` would have done."""
    return f"cd {shlex.quote(str(Path(project_dir).resolve()))} && pulumi up -s {stack}"


def cli_path() -> str | None:
    return shutil.which("pulumi")


def up(project_dir: Path | str, stack: str,
       on_output: Callable[[str], None] | None = None,
       allow_destructive: bool = False) -> DeployResult:
    """Preview, then run ``pulumi up`` for ``stack`` of the project in ``project_dir``.

    Raises ``PulumiCliMissing`` (with the command to run later) when there is no CLI,
    ``ConvergenceRefused`` when the preview shows a replacement, a deletion or a change of
    global-database membership (unless ``allow_destructive``), and ``DeployFailed`` when
    Pulumi fails. ``on_output`` receives Pulumi's output lines.
    """
    project = Path(project_dir)
    if cli_path() is None:
        raise PulumiCliMissing(project, stack)

    from pulumi import automation  # heavy, and only needed here

    output = on_output or _log_line
    try:
        command = automation.PulumiCommand()
        workspace = automation.LocalWorkspaceOptions(pulumi_command=command)
        selected = automation.select_stack(stack, work_dir=str(project), opts=workspace)
        if not allow_destructive:
            logger.info("previewing pulumi up -s %s in %s", stack, project)
            planned: list[str] = []
            selected.preview(on_output=output, color="never",
                             on_event=lambda event: planned.extend(_destructive(event)))
            if planned:
                raise ConvergenceRefused(project, stack, planned)
        logger.info("running pulumi up -s %s in %s", stack, project)
        outcome = selected.up(on_output=output, color="never")
    except automation.errors.CommandError as error:
        raise DeployFailed(
            f"pulumi up -s {stack} failed in {project}: {_last_lines(str(error))}. The stack"
            f" files already record the new roles; fix the cause and run: "
            f"{later_command(project, stack)}"
        ) from error
    summary = outcome.summary
    result = DeployResult(stack, summary.result, dict(summary.resource_changes or {}),
                          summary.version)
    logger.info("%s", result.summary())
    return result


def _destructive(event: object) -> list[str]:
    """What in one engine event a role flip must never cause, in words."""
    step = getattr(getattr(event, "resource_pre_event", None), "metadata", None)
    if step is None:
        return []
    op = str(getattr(step.op, "value", step.op))
    if op in DESTRUCTIVE_OPS:
        return [f"{op} {step.urn}"]
    kind, field = GLOBAL_MEMBERSHIP
    if op == "update" and step.type == kind and field in (step.diffs or []):
        return [f"change {field} of {step.urn} (would detach or re-join the global database)"]
    return []


def _log_line(line: str) -> None:
    logger.debug("pulumi: %s", line)


def _last_lines(text: str, count: int = 5) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no output"
