"""Alarm rules: an alarm that cannot fire, or fires into the void, is worse than none."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from dr import naming
from policies.facts import METRIC_ALARM, arn_region, arn_service, describe, get, items, region_of

ROUTE53_NAMESPACE = "AWS/Route53"
ACTION_INPUTS = ("alarmActions", "okActions", "insufficientDataActions")
TREAT_MISSING_DATA = ("breaching", "notBreaching", "ignore", "missing")


def _namespaces(props) -> set[str]:
    """Namespaces an alarm reads: its own metric, or the metrics of its metric queries."""
    found = {get(props, "namespace")}
    for query in items(get(props, "metricQueries")):
        found.add(get(get(query, "metric", {}), "namespace"))
    return {namespace for namespace in found if namespace}


def route53_alarms_in_us_east_1(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != METRIC_ALARM or ROUTE53_NAMESPACE not in _namespaces(args.props):
        return
    region = region_of(args.props, args.provider)
    if region == naming.ROUTE53_REGION:
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} watches {ROUTE53_NAMESPACE}"
        f" metrics but is created in {region or 'an unknown region'}: Route 53 publishes"
        f" HealthCheckStatus only in {naming.ROUTE53_REGION}, so the alarm would never leave"
        f" INSUFFICIENT_DATA. Create it with a {naming.ROUTE53_REGION} provider.",
        None,
    )


def alarm_actions_in_alarm_region(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != METRIC_ALARM:
        return
    region = region_of(args.props, args.provider)
    for key in ACTION_INPUTS:
        for action in items(get(args.props, key)):
            if arn_service(action) != "sns" or arn_region(action) == region:
                continue
            report_violation(
                f"{describe(args.resource_type, args.name, args.props)} in"
                f" {region or 'an unknown region'} notifies {action} ({key}), a topic in"
                f" {arn_region(action)}: CloudWatch only delivers to SNS topics of the"
                " alarm's own region. Point it at the topic of its region (for Route 53"
                " alarms, naming.route53_alarm_topic).",
                None,
            )


def alarm_treats_missing_data(
    args: ResourceValidationArgs, report_violation: ReportViolation
) -> None:
    if args.resource_type != METRIC_ALARM:
        return
    treatment = get(args.props, "treatMissingData")
    if treatment in TREAT_MISSING_DATA:
        return
    report_violation(
        f"{describe(args.resource_type, args.name, args.props)} has treatMissingData"
        f" {treatment!r}: when its region goes dark the metric stops and the alarm's state"
        " becomes a matter of defaults. Set treat_missing_data to one of"
        f" {', '.join(TREAT_MISSING_DATA)} on purpose.",
        None,
    )
