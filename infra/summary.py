"""What ``invoke preview`` shows of a recording: one row per resource, as a table or JSON."""

from __future__ import annotations

import json
from typing import Any

from infra.offline import RecordedResource, Recording

# The properties that say what a resource is for DR; everything else is in --json.
KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "pulumi:providers:aws": ("region",),
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("availabilityZone", "cidrBlock"),
    "aws:ec2/securityGroup:SecurityGroup": ("ingress",),
    "aws:rds/globalCluster:GlobalCluster": ("engine", "engineVersion", "databaseName"),
    "aws:rds/cluster:Cluster": ("engine", "engineVersion", "globalClusterIdentifier",
                                "databaseName", "masterUsername", "deletionProtection",
                                "storageEncrypted"),
    "aws:rds/clusterInstance:ClusterInstance": ("instanceClass",),
    "aws:lb/targetGroup:TargetGroup": ("port", "healthCheck"),
    "aws:lb/listener:Listener": ("port", "protocol"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("instanceType", "imageId", "metadataOptions"),
    "aws:autoscaling/group:Group": ("minSize", "desiredCapacity", "maxSize",
                                    "healthCheckType", "healthCheckGracePeriod"),
    "aws:route53/healthCheck:HealthCheck": ("type", "resourcePath", "requestInterval",
                                            "failureThreshold", "cloudwatchAlarmRegion",
                                            "insufficientDataHealthStatus"),
    "aws:route53/record:Record": ("type", "setIdentifier", "failoverRoutingPolicies"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("namespace", "metricName",
                                               "comparisonOperator", "threshold",
                                               "treatMissingData"),
    "aws:sns/topicSubscription:TopicSubscription": ("protocol", "endpoint"),
    "aws:lambda/function:Function": ("runtime", "handler", "timeout"),
    "aws:apigateway/method:Method": ("httpMethod", "authorization"),
    "aws:cloudwatch/eventRule:EventRule": ("scheduleExpression",),
    "aws:dynamodb/table:Table": ("hashKey", "billingMode"),
}
COLUMNS = ("TYPE", "LOGICAL NAME", "PHYSICAL NAME", "REGION", "KEY PROPERTIES")


def key_properties(resource: RecordedResource) -> dict[str, Any]:
    shown = {k: resource.inputs[k] for k in KEY_PROPERTIES.get(resource.type, ())
             if k in resource.inputs}
    if resource.protect:
        shown["protect"] = True
    if resource.ignore_changes:
        shown["ignoreChanges"] = list(resource.ignore_changes)
    return shown


def as_json(recording: Recording) -> str:
    return json.dumps({
        "stack": recording.stack,
        "notes": list(recording.notes),
        "resources": [
            {"type": r.type, "name": r.name, "physical_name": r.physical_name,
             "region": r.region, "properties": key_properties(r), "inputs": r.inputs,
             "protect": r.protect, "ignore_changes": list(r.ignore_changes),
             "parent": r.parent, "provider": r.provider}
            for r in recording.resources
        ],
        "outputs": recording.outputs,
    }, indent=2, sort_keys=True)


def as_table(recording: Recording) -> str:
    rows = [
        (r.type, r.name, r.physical_name or "-", r.region or "-",
         _compact(key_properties(r)))
        for r in recording.resources
    ]
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip()
        for row in [COLUMNS, *rows]
    ]
    header = f"stack {recording.stack}: {len(recording.resources)} resources (offline, mocks)"
    return "\n".join([header, *(f"note: {n}" for n in recording.notes), "", *lines])


def _compact(properties: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={json.dumps(v, separators=(',', ':'), sort_keys=True)}"
        if not isinstance(v, str) else f"{k}={v}"
        for k, v in properties.items()
    )
