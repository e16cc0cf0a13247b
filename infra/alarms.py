"""The region's alarm topic and alarms, the Route 53 alarms in us-east-1, the dashboard.

Every alarm states how missing data counts, because in an outage metrics go missing and
the default ("missing") would leave an alarm silent exactly when it matters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from dr import naming
from dr.settings import Contact
from infra.dashboard import dashboard_body


@dataclass(frozen=True)
class AlarmsArgs:
    region: str
    peer_region: str
    account_id: str
    is_primary: bool
    zones: tuple[str, ...]
    capacity_min: int  # per AZ, from the role
    rpo_s: float
    contacts: tuple[Contact, ...]
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    endpoint_health_check_id: pulumi.Input[str]
    # Route 53 metrics exist only in us-east-1; None when this stack's region is us-east-1.
    route53_provider: aws.Provider | None


class Alarms(pulumi.ComponentResource):
    topic: aws.sns.Topic
    route53_topic: aws.sns.Topic

    def __init__(
        self, name: str, args: AlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("shopsmart:alarms:Alarms", name, None, opts)
        region = args.region
        self._tags = naming.tags(region, "alarms")
        child = pulumi.ResourceOptions(parent=self)

        self.topic = self._topic(f"{name}-topic", naming.topic_name(region), args, child)
        topic_region, topic_name = naming.route53_alarm_topic(region)
        if args.route53_provider is None:
            self.route53_topic = self.topic
        else:
            # An alarm can only notify a topic in its own region.
            self.route53_topic = self._topic(
                f"{name}-route53-topic", topic_name, args,
                pulumi.ResourceOptions(parent=self, provider=args.route53_provider),
            )

        self._alarm(
            f"{name}-alb-5xx", region, "alb-5xx", "ALB answered with 5xx",
            namespace="AWS/ApplicationELB", metric_name="HTTPCode_ELB_5XX_Count",
            dimensions={"LoadBalancer": args.alb_arn_suffix}, statistic="Sum",
            comparison_operator="GreaterThanThreshold", threshold=10,
            treat_missing_data="notBreaching",  # no requests, no errors
        )
        for index, zone in enumerate(args.zones):
            self._alarm(
                f"{name}-unhealthy-hosts-{index}", region, f"unhealthy-hosts-{index}",
                f"unhealthy targets in {zone}",
                namespace="AWS/ApplicationELB", metric_name="UnHealthyHostCount",
                dimensions={"LoadBalancer": args.alb_arn_suffix,
                            "TargetGroup": args.target_group_arn_suffix,
                            "AvailabilityZone": zone},
                statistic="Maximum", comparison_operator="GreaterThanThreshold", threshold=0,
                treat_missing_data="notBreaching",  # the ALB reports no AZ it has no targets in
            )
            self._alarm(
                f"{name}-capacity-{index}", region, f"capacity-{index}",
                f"in-service instances below the role's minimum in {zone}",
                namespace="AWS/AutoScaling", metric_name="GroupInServiceInstances",
                dimensions={"AutoScalingGroupName": naming.asg_name(region, index)},
                statistic="Minimum", comparison_operator="LessThanThreshold",
                threshold=args.capacity_min,
                treat_missing_data="breaching",  # group metrics stop when the group is gone
            )
        if args.is_primary:
            # Only the primary cluster has a writer; a secondary would always be in alarm.
            self._alarm(
                f"{name}-db-writer", region, "db-writer", "no Aurora writer is up",
                namespace="AWS/RDS", metric_name="EngineUptime",
                dimensions={"DBClusterIdentifier": naming.cluster_id(region),
                            "Role": "WRITER"},
                statistic="Minimum", comparison_operator="LessThanOrEqualToThreshold",
                threshold=0, treat_missing_data="breaching",  # a dead writer reports nothing
            )
        else:
            self._alarm(
                f"{name}-replication-lag", region, "replication-lag",
                f"global database RPO lag above the budget of {args.rpo_s:g} s",
                namespace="AWS/RDS", metric_name="AuroraGlobalDBRPOLag",
                dimensions={"DBClusterIdentifier": naming.cluster_id(region)},
                statistic="Maximum", comparison_operator="GreaterThanThreshold",
                threshold=args.rpo_s * 1000,  # the metric is in milliseconds
                treat_missing_data="breaching",  # no lag figure means no replication
            )
        self._alarm(
            f"{name}-endpoint-health", region, "endpoint-health",
            f"Route 53 sees the {region} endpoint unhealthy",
            namespace="AWS/Route53", metric_name="HealthCheckStatus",
            dimensions={"HealthCheckId": args.endpoint_health_check_id},
            statistic="Minimum", comparison_operator="LessThanThreshold", threshold=1,
            treat_missing_data="breaching", topic=self.route53_topic,
            provider=args.route53_provider,
        )

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=naming.dashboard_name(region),
            dashboard_body=dashboard_body(region, args.peer_region),
            opts=child,
        )
        self.register_outputs({
            "topic_arn": self.topic.arn,
            "route53_topic_arn": self.route53_topic.arn,
            "dashboard_name": self.dashboard.dashboard_name,
        })

    def _topic(self, resource_name: str, topic_name: str, args: AlarmsArgs,
               opts: pulumi.ResourceOptions) -> aws.sns.Topic:
        # A key of our own: the AWS managed key (alias/aws/sns) admits no CloudWatch, so
        # alarms could not notify a topic encrypted with it and would fail silently.
        key = aws.kms.Key(
            f"{resource_name}-key", description=f"ShopSmart DR notifications ({topic_name})",
            enable_key_rotation=True, deletion_window_in_days=30,
            policy=json.dumps(topic_key_policy(args.account_id)),
            tags={"Name": topic_name, **self._tags}, opts=opts,
        )
        aws.kms.Alias(f"{resource_name}-key-alias", name=f"alias/{topic_name}",
                      target_key_id=key.key_id, opts=opts)
        topic = aws.sns.Topic(
            resource_name, name=topic_name, kms_master_key_id=key.arn,
            tags=self._tags, opts=opts,
        )
        for index, contact in enumerate(args.contacts):
            aws.sns.TopicSubscription(
                f"{resource_name}-{contact.role}-{index}", topic=topic.arn,
                protocol="email", endpoint=contact.email, opts=opts,
            )
        return topic

    def _alarm(self, resource_name: str, region: str, what: str, description: str, *,
               topic: aws.sns.Topic | None = None, provider: aws.Provider | None = None,
               **metric: object) -> aws.cloudwatch.MetricAlarm:
        topic = topic or self.topic
        return aws.cloudwatch.MetricAlarm(
            resource_name, name=naming.alarm(region, what),
            alarm_description=f"ShopSmart {region}: {description}",
            period=60, evaluation_periods=3, datapoints_to_alarm=2,
            alarm_actions=[topic.arn], ok_actions=[topic.arn], tags=self._tags,
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
            **metric,
        )


def topic_key_policy(account_id: str) -> dict:
    """The account administers the key (IAM policies grant its use, such as the failover
    role's); CloudWatch may encrypt the alarm notifications it publishes."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Account", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchAlarms", "Effect": "Allow",
         "Principal": {"Service": "cloudwatch.amazonaws.com"},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"},
    ]}
