"""Compute rules: the region must keep serving when an instance or a whole AZ is lost."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from policies.facts import AUTOSCALING_GROUP, LOAD_BALANCERS, describe, get, items

DEFAULT_MIN_GRACE_PERIOD_S = 60
DEFAULT_MIN_AZS = 2


def asg_elb_health_check(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != AUTOSCALING_GROUP:
        return
    minimum = int(args.get_config().get("minGracePeriodSeconds", DEFAULT_MIN_GRACE_PERIOD_S))
    problems = []
    check = get(args.props, "healthCheckType")
    if check != "ELB":
        problems.append(
            f"its health check type is {check or 'EC2 (the default)'}, so an instance whose"
            " application fails keeps running and keeps its place; set health_check_type='ELB'"
        )
    grace = get(args.props, "healthCheckGracePeriod")
    if grace is None or float(grace) < minimum:
        found = "not set" if grace is None else f"{int(float(grace))} s"
        problems.append(
            f"its health check grace period is {found}, so booting instances could be replaced"
            f" before they serve; set health_check_grace_period to at least {minimum}"
        )
    for problem in problems:
        report_violation(f"{describe(args.resource_type, args.name, args.props)}: {problem}.",
                         None)


def _is_application_load_balancer(resource_type: str, props) -> bool:
    return resource_type in LOAD_BALANCERS and get(props, "loadBalancerType",
                                                   "application") == "application"


def _subnets(props) -> list[str]:
    named = items(get(props, "subnets"))
    mapped = [get(mapping, "subnetId") for mapping in items(get(props, "subnetMappings"))]
    return [str(subnet) for subnet in named + mapped if subnet]


def alb_spans_two_azs(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """AWS takes at most one subnet per AZ for a load balancer, so its subnets count its AZs."""
    if not _is_application_load_balancer(args.resource_type, args.props):
        return
    minimum = int(args.get_config().get("minAvailabilityZones", DEFAULT_MIN_AZS))
    subnets = sorted(set(_subnets(args.props)))
    if len(subnets) >= minimum:
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} has {len(subnets)} subnet(s)"
        f" ({', '.join(subnets) or 'none'}), so it spans fewer than {minimum} AZs and one AZ"
        f" outage takes the region down. Give it one subnet in each of at least {minimum}"
        " usable AZs (shopsmart:azCount).",
        None,
    )


def _zones(props) -> list[str]:
    """Where a group launches: its subnets, else its AZ names."""
    return [str(z) for z in items(get(props, "vpcZoneIdentifiers"))
            or items(get(props, "availabilityZones"))]


def one_asg_per_az(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Each group stays in one AZ, so that capacity of an AZ can be told and moved alone."""
    # Shortcoming: groups are told apart by subnet, so two subnets of one AZ count as two
    # AZs; mapping subnet IDs to their AZ needs the subnets' IDs, which the offline
    # recording does not carry (RecordedResource would need the mock's id).
    groups = [r for r in args.resources if r.resource_type == AUTOSCALING_GROUP]
    owner: dict[str, str] = {}
    for group in groups:
        label = describe(group.resource_type, group.name, group.props)
        zones = _zones(group.props)
        if len(zones) != 1:
            report_violation(
                f"{label} launches into {len(zones)} subnets/AZs ({', '.join(zones) or 'none'}):"
                " declare one Auto Scaling group per AZ, each with exactly one subnet in"
                " vpc_zone_identifiers.",
                group.urn,
            )
            continue
        zone = zones[0]
        if zone in owner:
            report_violation(
                f"{label} launches into {zone}, which {owner[zone]} already covers: give each"
                " AZ exactly one group.",
                group.urn,
            )
            continue
        owner[zone] = label

    albs = [r for r in args.resources if _is_application_load_balancer(r.resource_type, r.props)]
    for alb in albs:
        azs = len(set(_subnets(alb.props)))
        if len(groups) < azs:
            report_violation(
                f"{describe(alb.resource_type, alb.name, alb.props)} spans {azs} AZs but the"
                f" stack declares {len(groups)} Auto Scaling group(s), so some AZ it serves has"
                " no capacity of its own: declare one group per AZ of the load balancer.",
                alb.urn,
            )
