"""Traffic rules: the public name must move when a region fails, and quickly."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from dr import naming
from policies.facts import RECORD, describe, get, items

DEFAULT_MAX_TTL_S = 60


def _record_label(args: ResourceValidationArgs) -> str:
    label = describe(args.resource_type, args.name, args.props)
    identifier = get(args.props, "setIdentifier")
    return f"{label} [set {identifier}]" if identifier else label


def failover_record_has_health_check(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != RECORD or not items(get(args.props, "failoverRoutingPolicies")):
        return
    if get(args.props, "healthCheckId"):
        return
    routing = items(get(args.props, "failoverRoutingPolicies"))
    kinds = "/".join(str(get(policy, "type", "?")) for policy in routing)
    report_violation(
        f"{_record_label(args)} is a {kinds} failover record with no health check, so Route 53"
        " keeps answering with it while its region is down (evaluate-target-health alone does"
        " not fail over an ALB with no healthy targets). Set healthCheckId to the region's"
        f" calculated health check (Name tag {naming.calculated_health_check('<region>')}).",
        None,
    )


def dns_ttl_at_most(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != RECORD:
        return
    ttl = get(args.props, "ttl")
    if ttl is None:
        return  # alias records have no TTL of their own
    if str(get(args.props, "name", "")).startswith("_"):
        return  # an underscore label (ACM validation, SRV, DMARC) never routes shop traffic
    limit = int(args.get_config().get("maxTtlSeconds", DEFAULT_MAX_TTL_S))
    if float(ttl) <= limit:
        return
    report_violation(
        f"{_record_label(args)} has TTL {int(float(ttl))} s, above the maximum of {limit} s:"
        " resolvers would keep sending clients to a failed region for that long. Lower ttl to"
        f" at most {limit} (shopsmart:dns.ttl in the stack file), or use an alias record.",
        None,
    )
