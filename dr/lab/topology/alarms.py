"""Notification topics with the lab's SQS inboxes, the alarms, and the lease table."""

from __future__ import annotations

from typing import Any, Callable

from dr import naming
from dr.lab.topology.compute import Compute
from dr.lab.topology.network import availability_zones
from dr.settings import StackSettings

Clients = Callable[[str, str], Any]  # (service, region) -> boto3 client


def deploy_notifications(client: Clients, stack: StackSettings) -> dict[str, str]:
    """Topics of the region (its own, and the us-east-1 one for Route 53 alarms), each
    subscribed by the region's inbox queue; returns (region, name) text -> topic ARN."""
    region = stack.region
    sqs = client("sqs", region)
    queue_url = sqs.create_queue(QueueName=naming.notification_queue(region))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topics = {}
    for topic_region, name in {(region, naming.topic_name(region)),
                               naming.route53_alarm_topic(region)}:
        sns = client("sns", topic_region)
        arn = sns.create_topic(Name=name, Tags=[
            {"Key": k, "Value": v} for k, v in naming.tags(region, "notify").items()
        ])["TopicArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": "false"})
        topics[f"{topic_region}/{name}"] = arn
    return topics


def deploy_lease_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=naming.lease_table(), BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "lease", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "lease", "KeyType": "HASH"}])


def deploy_alarms(client: Clients, stack: StackSettings, compute: Compute,
                  topics: dict[str, str], endpoint_check_id: str) -> list[str]:
    """The region's alarms as the program declares them (a writer alarm on the primary, a
    lag alarm on the secondary), the evacuation alarm of the peer (which lives here), and
    the endpoint-health alarm (in us-east-1, where Route 53 metrics are)."""
    region = stack.region
    topic = topics[f"{region}/{naming.topic_name(region)}"]
    cloudwatch = client("cloudwatch", region)
    balancer = compute.alb_arn.split(":loadbalancer/")[-1]
    group = compute.target_group_arn.split(":")[-1]
    made: list[str] = []

    def alarm(what: str, cw: Any = cloudwatch, actions: str = topic, **metric: Any) -> None:
        name = naming.alarm(region, what)
        cw.put_metric_alarm(
            AlarmName=name, AlarmDescription=f"ShopSmart {region}: {what}",
            Period=60, EvaluationPeriods=3, DatapointsToAlarm=2, ActionsEnabled=True,
            AlarmActions=[actions], OKActions=[actions],
            Dimensions=[{"Name": k, "Value": v} for k, v in metric.pop("dimensions").items()],
            **metric)
        made.append(name)

    alarm("alb-5xx", Namespace="AWS/ApplicationELB", MetricName="HTTPCode_ELB_5XX_Count",
          dimensions={"LoadBalancer": balancer}, Statistic="Sum",
          ComparisonOperator="GreaterThanThreshold", Threshold=10,
          TreatMissingData="notBreaching")
    for index, zone in enumerate(availability_zones(stack)):
        alarm(f"unhealthy-hosts-{index}", Namespace="AWS/ApplicationELB",
              MetricName="UnHealthyHostCount", Statistic="Maximum",
              dimensions={"LoadBalancer": balancer, "TargetGroup": group,
                          "AvailabilityZone": zone},
              ComparisonOperator="GreaterThanThreshold", Threshold=0,
              TreatMissingData="notBreaching")
        alarm(f"capacity-{index}", Namespace="AWS/AutoScaling",
              MetricName="GroupInServiceInstances", Statistic="Minimum",
              dimensions={"AutoScalingGroupName": naming.asg_name(region, index)},
              ComparisonOperator="LessThanThreshold", Threshold=stack.role_capacity.min,
              TreatMissingData="breaching")
    cluster = {"DBClusterIdentifier": naming.cluster_id(region)}
    if stack.is_primary:
        alarm("db-writer", Namespace="AWS/RDS", MetricName="EngineUptime",
              dimensions={**cluster, "Role": "WRITER"}, Statistic="Minimum",
              ComparisonOperator="LessThanOrEqualToThreshold", Threshold=0,
              TreatMissingData="breaching")
    else:
        alarm("replication-lag", Namespace="AWS/RDS", MetricName="AuroraGlobalDBRPOLag",
              dimensions=cluster, Statistic="Maximum",
              ComparisonOperator="GreaterThanThreshold",
              Threshold=stack.objectives.rpo_s * 1000, TreatMissingData="breaching")
    route53_region, route53_topic = naming.route53_alarm_topic(region)
    alarm("endpoint-health", cw=client("cloudwatch", route53_region),
          actions=topics[f"{route53_region}/{route53_topic}"], Namespace="AWS/Route53",
          MetricName="HealthCheckStatus", dimensions={"HealthCheckId": endpoint_check_id},
          Statistic="Minimum", ComparisonOperator="LessThanThreshold", Threshold=1,
          TreatMissingData="breaching")
    return made


def deploy_evacuation_alarm(cloudwatch: Any, stack: StackSettings, topic: str) -> str:
    """The switch that evacuates ``stack``'s region; it lives in the peer region, so the
    survivor can flip it while the evacuated region's own APIs are down."""
    region = stack.region
    name = naming.evacuation_alarm(region)
    cloudwatch.put_metric_alarm(
        AlarmName=name, AlarmDescription=f"ShopSmart: evacuate {region}",
        Namespace=naming.EVACUATION_NAMESPACE, MetricName=naming.EVACUATION_METRIC,
        Dimensions=[{"Name": naming.EVACUATION_DIMENSION, "Value": region}],
        Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold", TreatMissingData="missing",
        ActionsEnabled=True, AlarmActions=[topic])
    return name
