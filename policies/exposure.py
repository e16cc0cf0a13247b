"""Exposure rules: what an attacker, or a stray request, could reach or do."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from dr import naming
from policies.facts import (
    HTTP_ROUTE, INGRESS_RULE, INSTANCE, LAUNCH_TEMPLATE, MANAGED_POLICY, REST_METHOD, ROLE,
    ROLE_POLICY, ROLE_POLICY_ATTACHMENT, SECURITY_GROUP, SECURITY_GROUP_RULE, TOPIC, describe,
    get, items, region_of,
)

WORLD = ("0.0.0.0/0", "::/0")
ALB_PUBLIC_PORTS = (80, 443)
TCP = ("tcp", "6")


# The AWS managed key of SNS: its key policy cannot be changed and does not admit CloudWatch,
# so an alarm's notification to a topic encrypted with it is dropped without a trace.
AWS_MANAGED_SNS_KEY = "alias/aws/sns"
_CUSTOMER_KEY_FIX = (" Set kms_master_key_id to a customer managed key whose policy lets"
                     " cloudwatch.amazonaws.com use it.")


def sns_topic_encrypted(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != TOPIC:
        return
    key = str(get(args.props, "kmsMasterKeyId", ""))
    label = describe(args.resource_type, args.name, args.props)
    if not key:
        report_violation(
            f"{label} is not encrypted: incident notifications name hosts, regions and"
            f" people.{_CUSTOMER_KEY_FIX}",
            None,
        )
    elif key == AWS_MANAGED_SNS_KEY or key.endswith(f":{AWS_MANAGED_SNS_KEY}"):
        report_violation(
            f"{label} is encrypted with the AWS managed key {AWS_MANAGED_SNS_KEY}, whose key"
            " policy does not let CloudWatch use it: every alarm notification to it would be"
            f" dropped.{_CUSTOMER_KEY_FIX}",
            None,
        )


def instances_require_imdsv2(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type not in (LAUNCH_TEMPLATE, INSTANCE):
        return
    tokens = get(get(args.props, "metadataOptions", {}), "httpTokens")
    if tokens == "required":
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} allows IMDSv1 (httpTokens"
        f" {tokens or 'not set'}): a forged request from the app could read the instance's"
        " credentials. Set metadata_options={'http_tokens': 'required'}.",
        None,
    )


def _world_ranges(rule: Mapping[str, Any]) -> list[str]:
    ranges = items(get(rule, "cidrBlocks")) + items(get(rule, "ipv6CidrBlocks"))
    ranges += [get(rule, "cidrIpv4"), get(rule, "cidrIpv6")]
    return [r for r in ranges if r in WORLD]


def _port_range(rule: Mapping[str, Any]) -> str:
    protocol = str(get(rule, "protocol", get(rule, "ipProtocol", "?")))
    low, high = get(rule, "fromPort"), get(rule, "toPort")
    if protocol == "-1":
        return "all traffic"
    if low is None or high is None:
        return f"{protocol}/all ports"
    ports = f"{int(low)}" if low == high else f"{int(low)}-{int(high)}"
    return f"{protocol}/{ports}"


def _is_public_web(rule: Mapping[str, Any]) -> bool:
    protocol = str(get(rule, "protocol", get(rule, "ipProtocol", "")))
    low, high = get(rule, "fromPort"), get(rule, "toPort")
    return (protocol in TCP and low is not None and low == high
            and int(low) in ALB_PUBLIC_PORTS)


def no_world_open_ingress(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """Only the ALB's group (by its name in dr.naming) may face the world, on 80 and 443."""
    label = describe(args.resource_type, args.name, args.props)
    if args.resource_type == SECURITY_GROUP:
        region = region_of(args.props, args.provider)
        is_alb = region is not None and get(args.props, "name") == naming.security_group(
            region, "alb")
        for rule in items(get(args.props, "ingress")):
            world = _world_ranges(rule)
            if not world or (is_alb and _is_public_web(rule)):
                continue
            allowed = ("only tcp/80 and tcp/443 may be open to the world on the ALB's group"
                       if is_alb else "only the ALB's group may face the world")
            report_violation(
                f"{label} opens {_port_range(rule)} to {', '.join(world)}: {allowed}. Narrow"
                " the rule to a security group or a private range.",
                None,
            )
    elif args.resource_type in (SECURITY_GROUP_RULE, INGRESS_RULE):
        if args.resource_type == SECURITY_GROUP_RULE and get(args.props, "type") != "ingress":
            return
        world = _world_ranges(args.props)
        if not world:
            return
        report_violation(
            f"{label} opens {_port_range(args.props)} to {', '.join(world)}: only the ALB's"
            " group may face the world, with its tcp/80 and tcp/443 rules written inline."
            " Narrow the rule to a security group or a private range.",
            None,
        )


def failover_api_requires_iam(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    """The only API of the project is the failover endpoint: it moves production traffic."""
    if args.resource_type == REST_METHOD:
        key, found = "authorization", get(args.props, "authorization")
    elif args.resource_type == HTTP_ROUTE:
        key, found = "authorizationType", get(args.props, "authorizationType")
    else:
        return
    if found == "AWS_IAM" or get(args.props, "httpMethod") == "OPTIONS":
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} of the failover endpoint has"
        f" {key} {found or 'NONE'}: anyone who finds the URL could start a failover. Set"
        f" {key}='AWS_IAM' and grant execute-api:Invoke to the on-call role only.",
        None,
    )


def _documents(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    return [value] if isinstance(value, Mapping) else []


def _wildcards(document: Mapping[str, Any]) -> list[str]:
    """Actions an Allow statement grants with a wildcard (``*``, ``rds:*``, ``rds:Fail*``,
    ``rds:?escribe*``, or NotAction)."""
    found = []
    for statement in items(get(document, "Statement")):
        if not isinstance(statement, Mapping) or get(statement, "Effect") != "Allow":
            continue
        if get(statement, "NotAction") is not None:
            found.append("NotAction " + ", ".join(map(str, items(get(statement, "NotAction")))))
        for action in items(get(statement, "Action")):
            if "*" in str(action) or "?" in str(action):
                found.append(str(action))
    return found


# AWS managed policies that grant whole services (besides every ``*FullAccess``).
_BROAD_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess")
_AWS_MANAGED = "arn:aws:iam::aws:policy/"


def _failover_roles(resources) -> dict[str, Any]:
    roles = {}
    for resource in resources:
        region = region_of(resource.props, resource.provider)
        name = get(resource.props, "name")
        if resource.resource_type == ROLE and region and name == naming.failover_role(region):
            roles[name] = resource
    return roles


def _role_wildcards(role, resources) -> list[str]:
    """Wildcard grants of ``role``, each with where it comes from."""
    documents = [(f"inline policy {get(p, 'name', '?')}", get(p, "policy"))
                 for p in items(get(role.props, "inlinePolicies"))]
    broad = []
    managed = {get(r.props, "name"): r for r in resources if r.resource_type == MANAGED_POLICY}

    def attached(arn: str) -> None:
        policy_name = arn.rsplit("/", 1)[-1]
        if policy_name in managed:
            documents.append((f'Policy "{policy_name}"', get(managed[policy_name].props,
                                                             "policy")))
        elif arn.startswith(_AWS_MANAGED) and (
                policy_name in _BROAD_MANAGED_POLICIES or policy_name.endswith("FullAccess")):
            broad.append(f"everything in the AWS managed policy {policy_name}")

    # Attached on the role itself, or by attachment resources naming it.
    for arn in items(get(role.props, "managedPolicyArns")):
        attached(str(arn))
    for r in resources:
        if get(r.props, "role") not in (get(role.props, "name"), role.name):
            continue
        if r.resource_type == ROLE_POLICY:
            documents.append((f'RolePolicy "{r.name}"', get(r.props, "policy")))
        elif r.resource_type == ROLE_POLICY_ATTACHMENT:
            attached(str(get(r.props, "policyArn", "")))
    for where, policy in documents:
        for document in _documents(policy):
            broad += [f"{action} (in {where})" for action in _wildcards(document)]
    return broad


def failover_role_no_wildcard_actions(
    args: StackValidationArgs, report_violation: ReportViolation
) -> None:
    for role in _failover_roles(args.resources).values():
        wildcards = _role_wildcards(role, args.resources)
        if not wildcards:
            continue
        report_violation(
            f"{describe(role.resource_type, role.name, role.props)} is allowed"
            f" {'; '.join(wildcards)}: the failover role must list the exact actions the"
            " engine calls (rds:FailoverGlobalCluster, cloudwatch:PutMetricData, ...)."
            " Replace the wildcards with those actions.",
            role.urn,
        )
