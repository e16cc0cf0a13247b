"""The automated-failover endpoint: API Gateway (IAM-signed POST) in front of a Lambda that
runs the same engine as ``invoke failover``, with only the permissions a failover needs."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from dr import naming
from infra.package import HANDLER

STAGE = "v1"
TIMEOUT_S = 900  # Lambda's maximum; the engine's plan resumes if a run is cut off
# What the schedule sends: a proxy-shaped request for a dry run, which loads the packaged
# stack files and builds the plan but calls nothing and takes no lease.
DRY_RUN_EVENT = {"body": json.dumps({"dry_run": True}),
                 "requestContext": {"identity": {"sourceIp": "eventbridge-schedule"}}}


@dataclass(frozen=True)
class TriggerArgs:
    region: str
    peer_region: str
    account_id: str
    code: pulumi.Archive
    dry_run_schedule: str | None = "rate(1 hour)"


class Trigger(pulumi.ComponentResource):
    function: aws.lambda_.Function
    url: pulumi.Output[str]

    def __init__(
        self, name: str, args: TriggerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("shopsmart:trigger:Trigger", name, None, opts)
        region = args.region
        tags = naming.tags(region, "trigger")
        child = pulumi.ResourceOptions(parent=self)

        role = aws.iam.Role(
            f"{name}-role", name=naming.failover_role(region),
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com"}}]}),
            tags=tags, opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-policy", name=naming.failover_role(region), role=role.id,
            policy=json.dumps(failover_policy(region, args.peer_region, args.account_id)),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-function", name=naming.failover_function(region), role=role.arn,
            runtime="python3.12", handler=HANDLER, code=args.code, timeout=TIMEOUT_S,
            memory_size=512,
            environment={"variables": {
                "SHOPSMART_TARGET": "aws",
                "SHOPSMART_PROJECT_DIR": "/var/task",  # where the archive puts stack files
                "SHOPSMART_INCIDENTS_DIR": "/tmp/incidents",  # Lambda's only writable place
            }},
            tags=tags, opts=child,
        )

        api = aws.apigateway.RestApi(
            f"{name}-api", name=naming.failover_api(region),
            description=f"ShopSmart automated failover, {region} (SigV4-signed POST only)",
            endpoint_configuration={"types": "REGIONAL"}, tags=tags, opts=child,
        )
        resource = aws.apigateway.Resource(
            f"{name}-failover", rest_api=api.id, parent_id=api.root_resource_id,
            path_part="failover", opts=child,
        )
        method = aws.apigateway.Method(
            f"{name}-post", rest_api=api.id, resource_id=resource.id, http_method="POST",
            authorization="AWS_IAM", opts=child,
        )
        integration = aws.apigateway.Integration(
            f"{name}-lambda", rest_api=api.id, resource_id=resource.id,
            http_method=method.http_method, integration_http_method="POST",
            type="AWS_PROXY", uri=self.function.invoke_arn, opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-api-invoke", action="lambda:InvokeFunction",
            function=self.function.name, principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(api.execution_arn, "/*/POST/failover"),
            opts=child,
        )
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment", rest_api=api.id,
            triggers={"integration": integration.id, "method": method.id},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[integration]),
        )
        stage = aws.apigateway.Stage(
            f"{name}-stage", rest_api=api.id, deployment=deployment.id, stage_name=STAGE,
            tags=tags, opts=child,
        )
        self.url = pulumi.Output.concat(stage.invoke_url, "/failover")

        if args.dry_run_schedule:
            # A dry run on a timer shows, before an incident, that the package imports and
            # its stack files load: a broken function is found by the log, not the outage.
            rule = aws.cloudwatch.EventRule(
                f"{name}-dry-run", name=naming.failover_schedule(region),
                description="ShopSmart DR: dry run of the failover endpoint (calls nothing)",
                schedule_expression=args.dry_run_schedule, tags=tags, opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-dry-run-target", rule=rule.name, arn=self.function.arn,
                input=json.dumps(DRY_RUN_EVENT), opts=child,
            )
            aws.lambda_.Permission(
                f"{name}-dry-run-invoke", action="lambda:InvokeFunction",
                function=self.function.name, principal="events.amazonaws.com",
                source_arn=rule.arn, opts=child,
            )
        self.register_outputs({"function_name": self.function.name, "url": self.url})


def failover_policy(region: str, peer_region: str, account: str) -> dict:
    """Exactly the calls the engine makes, on ShopSmart's resources where AWS allows it.

    Describe/List/Get calls and PutMetricData do not support resource-level permissions,
    so those statements name the actions and leave the resource open (never the action).
    """
    regions = sorted([region, peer_region])
    clusters = [f"arn:aws:rds:{r}:{account}:cluster:{naming.cluster_id(r)}" for r in regions]
    global_cluster = f"arn:aws:rds::{account}:global-cluster:{naming.global_cluster_id()}"
    groups = [
        f"arn:aws:autoscaling:{r}:{account}:autoScalingGroup:*:autoScalingGroupName/"
        f"{naming.asg_name(r, 0).rsplit('-', 1)[0]}-*" for r in regions
    ]
    tables = [f"arn:aws:dynamodb:{r}:{account}:table/{naming.lease_table()}" for r in regions]
    topics = [f"arn:aws:sns:{r}:{account}:{naming.topic_name(r)}" for r in regions]
    logs = (f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/"
            f"{naming.failover_function(region)}:*")
    return {"Version": "2012-10-17", "Statement": [
        _allow("PromoteDatabase", [
            "rds:FailoverGlobalCluster", "rds:SwitchoverGlobalCluster",
            "rds:RemoveFromGlobalCluster"], [global_cluster, *clusters]),
        _allow("ReadDatabase", [
            "rds:DescribeGlobalClusters", "rds:DescribeDBClusters", "rds:DescribeDBInstances"],
            ["*"]),
        _allow("ScaleCapacity", [
            "autoscaling:UpdateAutoScalingGroup", "autoscaling:SetDesiredCapacity"], groups),
        _allow("ReadCapacity", [
            "autoscaling:DescribeAutoScalingGroups", "elasticloadbalancing:DescribeTargetHealth",
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DescribeLoadBalancers"], ["*"]),
        _allow("ThrowEvacuationSwitch", ["cloudwatch:PutMetricData"], ["*"],
               {"StringEquals": {"cloudwatch:namespace": naming.EVACUATION_NAMESPACE}}),
        _allow("ReadSignals", [
            "cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData",
            "cloudwatch:GetMetricStatistics", "route53:GetHealthCheckStatus",
            "route53:GetHealthCheck", "route53:ListHealthChecks",
            "route53:ListTagsForResources", "health:DescribeEvents"], ["*"]),
        _allow("HoldLease", [
            "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
            "dynamodb:DeleteItem"], tables),
        _allow("Notify", ["sns:Publish"], topics),
        # The topics are encrypted with keys of their own, which a publisher must be able
        # to use; only through SNS, and only in the two regions.
        _allow("EncryptNotifications", ["kms:GenerateDataKey", "kms:Decrypt"],
               [f"arn:aws:kms:{r}:{account}:key/*" for r in regions],
               {"StringEquals": {"kms:ViaService": [f"sns.{r}.amazonaws.com"
                                                    for r in regions]}}),
        _allow("FindTopics", ["sns:ListTopics"], ["*"]),
        _allow("Log", ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
               [logs]),
    ]}


def _allow(sid: str, actions: list[str], resources: list[str],
           condition: dict | None = None) -> dict:
    statement = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement
