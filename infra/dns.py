"""Route 53: endpoint check, evacuation switch, calculated check, failover alias record.

Traffic must be movable through Route 53's data plane alone, because the control plane
(us-east-1) may be part of the outage. The evacuation switch of this region is an alarm
that lives in the *peer* region on a metric the engine publishes there, so the survivor can
throw it while this region's APIs are down; a CLOUDWATCH_METRIC check follows that alarm and
a CALCULATED check is healthy only when the endpoint is healthy and no evacuation is on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from dr import naming


@dataclass(frozen=True)
class DnsArgs:
    region: str
    peer_region: str
    is_primary: bool
    domain: str
    hosted_zone_id: str
    health_path: str
    interval_s: int
    failure_threshold: int
    alb_dns_name: pulumi.Input[str]
    alb_zone_id: pulumi.Input[str]
    peer_provider: aws.Provider  # the evacuation alarm lives in the peer region


class Dns(pulumi.ComponentResource):
    endpoint_check: aws.route53.HealthCheck
    calculated_check: aws.route53.HealthCheck
    record: aws.route53.Record

    def __init__(
        self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("shopsmart:dns:Dns", name, None, opts)
        region = args.region
        child = pulumi.ResourceOptions(parent=self)

        def tagged(check_name: str) -> dict[str, str]:
            return {"Name": check_name, **naming.tags(region, "dns")}

        # Route 53 HTTPS checks do not validate the certificate, so the ALB's own name works.
        self.endpoint_check = aws.route53.HealthCheck(
            f"{name}-endpoint", type="HTTPS", fqdn=args.alb_dns_name, port=443,
            resource_path=args.health_path, request_interval=args.interval_s,
            failure_threshold=args.failure_threshold, measure_latency=False,
            tags=tagged(naming.endpoint_health_check(region)), opts=child,
        )

        # "missing" keeps the switch where it was last thrown: the engine publishes 1 to
        # evacuate and 0 to restore, and a quiet metric changes nothing.
        alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-evacuate", name=naming.evacuation_alarm(region),
            alarm_description=f"Evacuate {region}: thrown by the DR engine in {args.peer_region}",
            namespace=naming.EVACUATION_NAMESPACE, metric_name=naming.EVACUATION_METRIC,
            dimensions={naming.EVACUATION_DIMENSION: region}, statistic="Maximum",
            period=60, evaluation_periods=1, threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold", treat_missing_data="missing",
            tags=naming.tags(region, "dns"),
            opts=pulumi.ResourceOptions(parent=self, provider=args.peer_provider),
        )
        # Insufficient data (the peer region's metrics unavailable) keeps the last status.
        evacuation_check = aws.route53.HealthCheck(
            f"{name}-evacuation", type="CLOUDWATCH_METRIC",
            cloudwatch_alarm_name=alarm.name, cloudwatch_alarm_region=args.peer_region,
            insufficient_data_health_status="LastKnownStatus",
            tags=tagged(naming.evacuation_health_check(region)), opts=child,
        )
        self.calculated_check = aws.route53.HealthCheck(
            f"{name}-calculated", type="CALCULATED",
            child_healthchecks=[self.endpoint_check.id, evacuation_check.id],
            child_health_threshold=2,
            tags=tagged(naming.calculated_health_check(region)), opts=child,
        )

        # An alias with evaluate_target_health alone does not reliably fail over an ALB
        # with no healthy targets, so the record carries the calculated check as well.
        self.record = aws.route53.Record(
            f"{name}-record", zone_id=args.hosted_zone_id, name=args.domain, type="A",
            set_identifier=naming.record_set_identifier(region),
            failover_routing_policies=[
                {"type": "PRIMARY" if args.is_primary else "SECONDARY"}
            ],
            health_check_id=self.calculated_check.id,
            aliases=[{"name": args.alb_dns_name, "zone_id": args.alb_zone_id,
                      "evaluate_target_health": True}],
            opts=child,
        )
        self.register_outputs({
            "endpoint_health_check_id": self.endpoint_check.id,
            "evacuation_health_check_id": evacuation_check.id,
            "calculated_health_check_id": self.calculated_check.id,
            "record_fqdn": self.record.fqdn,
        })
