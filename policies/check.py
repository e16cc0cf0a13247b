"""Run every policy of the pack over a recorded program, as the Pulumi CLI would.

The Pulumi program runs offline under mocks (``infra.offline``); each recorded resource is
handed to the pack's resource validations and the whole stack to its stack validations,
with the same argument objects, property encoding (a protobuf Struct, so numbers arrive as
floats), option fields and provider region the CLI's analyzer gives them.

One difference remains: under the CLI a stack validation sees each resource's outputs, here
it sees the recorded inputs (the mocks answer with the inputs plus a few computed values, so
no rule relies on anything else).
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from inspect import isawaitable
from pathlib import Path
from typing import Any, Protocol

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policies import policy_config
from policies import rules

AWS_PROVIDER = "pulumi:providers:aws"


class Recorded(Protocol):
    """The shape of ``infra.offline.RecordedResource`` that the check relies on."""

    type: str
    name: str
    urn: str
    region: str | None
    inputs: Mapping[str, Any]
    protect: bool
    ignore_changes: tuple[str, ...]
    parent: str | None
    provider: str | None


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str  # "mandatory" or "advisory"
    message: str
    urn: str | None  # None: the stack as a whole

    @property
    def resource(self) -> str:
        return self.urn.rsplit("::", 1)[-1] if self.urn else "(stack)"


@dataclass(frozen=True)
class StackVerdict:
    stack: str
    policies: tuple[str, ...]  # every policy that ran, in pack order
    violations: tuple[Violation, ...]
    undecided: tuple[str, ...]  # policies that met a value unknown before deployment

    @property
    def mandatory(self) -> tuple[Violation, ...]:
        return tuple(v for v in self.violations if v.enforcement == "mandatory")

    def by_resource(self) -> dict[str, list[Violation]]:
        grouped: dict[str, list[Violation]] = {}
        for violation in self.violations:
            grouped.setdefault(violation.urn or "", []).append(violation)
        return grouped


# --- adapting recorded resources -----------------------------------------------------------

def _wire(inputs: Mapping[str, Any]) -> Any:
    """The inputs as the analyzer receives them: through a protobuf Struct, then proxied."""
    struct = struct_pb2.Struct()
    struct.update(dict(inputs))
    return unknown_checking_proxy(deserialize_properties(json_format.MessageToDict(struct)))


def _options(resource: Recorded) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=bool(resource.protect),
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=resource.parent,
    )


def _provider(resource: Recorded) -> PolicyProviderResource | None:
    """The resource's provider, carrying the region it creates the resource in."""
    if resource.provider is None and resource.region is None:
        return None
    urn = resource.provider or ""
    name = urn.rsplit("::", 1)[-1] if urn else "default"
    props = {"region": resource.region} if resource.region else {}
    return PolicyProviderResource(AWS_PROVIDER, unknown_checking_proxy(props), urn, name)


def _reporter(policy: Policy, shown: str, violations: list[Violation],
              resource_urn: str | None = None):
    def report_violation(message: str, urn: str | None = None) -> None:
        violations.append(Violation(policy.name, shown, message, resource_urn or urn or None))
    return report_violation


def _run(policy: Any, args: Any, report_violation: Any) -> bool:
    """Validate, waiting for an async rule; False when the rule met a value unknown before
    deployment (the CLI then reports that the policy could not run during preview)."""
    try:
        validation = policy.validate(args, report_violation)
        if isawaitable(validation):
            asyncio.run(validation)
    except UnknownValueError:
        return False
    return True


# --- evaluation ----------------------------------------------------------------------------

def evaluate(resources: Sequence[Recorded], config: Mapping[str, Any] | None = None,
             stack: str = "") -> StackVerdict:
    """Every enabled policy of the pack over ``resources``; a pure function of its inputs."""
    config = dict(config or {})
    policy_config.validate(config)
    violations: list[Violation] = []
    ran: list[str] = []
    undecided: list[str] = []

    for policy in rules.POLICIES:
        level = policy_config.level(policy, config)
        if level == EnforcementLevel.DISABLED:
            continue
        # Like the CLI: a violation of a remediating policy is reported as mandatory.
        shown = "advisory" if level == EnforcementLevel.ADVISORY else "mandatory"
        settings = policy_config.settings(policy, config)
        ran.append(policy.name)
        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                args = ResourceValidationArgs(
                    resource.type, _wire(resource.inputs), resource.urn, resource.name,
                    _options(resource), _provider(resource), dict(settings), {})
                # Like the CLI, a resource validation's violation is always that resource's.
                if not _run(policy, args, _reporter(policy, shown, violations, resource.urn)):
                    undecided.append(f"{policy.name} on {resource.name}")
        else:
            args = StackValidationArgs(_policy_resources(resources), dict(settings), {})
            if not _run(policy, args, _reporter(policy, shown, violations)):
                undecided.append(policy.name)

    return StackVerdict(stack, tuple(ran), tuple(violations), tuple(undecided))


def _policy_resources(resources: Sequence[Recorded]) -> list[PolicyResource]:
    by_urn = {}
    for resource in resources:
        by_urn[resource.urn] = PolicyResource(
            resource.type, _wire(resource.inputs), resource.urn, resource.name,
            _options(resource), _provider(resource), None, [], {})
    for resource in resources:
        if resource.parent in by_urn:
            by_urn[resource.urn].parent = by_urn[resource.parent]
    return list(by_urn.values())


def check_stack(stack: str, project_dir: Path | str,
                config: Mapping[str, Any] | None = None) -> StackVerdict:
    """Run the program of ``stack`` offline under mocks and judge what it declares."""
    # Imported here: loading the program (and pulumi_aws) would slow every `invoke --list`.
    from infra.offline import run_stack

    config = dict(config or {})
    # The rules that read stack files read those of the project being checked.
    for policy in rules.POLICIES:
        if policy.config_schema and rules.PROJECT_DIR_KEY in policy.config_schema.properties:
            own = config.get(policy.name) or {}
            own = {"enforcementLevel": own} if isinstance(own, str) else dict(own)
            own.setdefault(rules.PROJECT_DIR_KEY, str(project_dir))
            config[policy.name] = own
    recording = run_stack(stack, Path(project_dir))
    return evaluate(recording.resources, config, stack=stack)


# --- rendering -----------------------------------------------------------------------------

def render(verdict: StackVerdict) -> str:
    """Violations grouped by resource, mandatory ones first, then a one-line summary."""
    lines = []
    for urn, found in verdict.by_resource().items():
        lines.append(f"{verdict.stack}: {urn.rsplit('::', 1)[-1] if urn else '(stack)'}"
                     + (f"  [{urn}]" if urn else ""))
        for violation in sorted(found, key=lambda v: v.enforcement != "mandatory"):
            lines.append(f"  {violation.enforcement.upper():9} {violation.policy}")
            lines.append(textwrap.fill(violation.message, width=99, initial_indent=" " * 12,
                                       subsequent_indent=" " * 12))
    for name in verdict.undecided:
        lines.append(f"{verdict.stack}: {name} could not decide: a value is unknown offline")
    mandatory = len(verdict.mandatory)
    lines.append(
        f"{verdict.stack}: {len(verdict.policies)} policies, {len(verdict.violations)}"
        f" violation(s), {mandatory} mandatory")
    return "\n".join(lines)
