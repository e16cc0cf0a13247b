"""What the rules need to know about a resource, however it reached them.

Under the Pulumi CLI a validation sees the resource inputs through pulumi_policy's proxies
(mappings and sequences, not dicts and lists) and the region through the provider; the
offline check hands over the same shapes. Property names are the provider's wire names
(``storageEncrypted``), and so are the names in ``ignore_changes``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Resource types the rules look at (pulumi-aws v7 tokens).
RECORD = "aws:route53/record:Record"
CLUSTER = "aws:rds/cluster:Cluster"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
REST_METHOD = "aws:apigateway/method:Method"
HTTP_ROUTE = "aws:apigatewayv2/route:Route"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "aws:iam/policy:Policy"

# The input that carries a resource's physical name, per type, for messages.
_PHYSICAL_NAME_KEYS = (
    "clusterIdentifier", "globalClusterIdentifier", "identifier", "name", "namePrefix",
)


def get(props: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """``props[key]`` or ``default`` when the input is absent or null."""
    value = props.get(key, None) if isinstance(props, Mapping) else None
    return default if value is None else value


def items(value: Any) -> list[Any]:
    """A list input as a list; absent, null or a lone string count as no items / one item."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


def region_of(props: Mapping[str, Any], provider: Any) -> str | None:
    """The region a resource is created in: its own ``region`` input (pulumi-aws v7),
    else its provider's."""
    own = get(props, "region")
    if isinstance(own, str) and own:
        return own
    provider_props = getattr(provider, "props", None) or {}
    region = get(provider_props, "region")
    return region if isinstance(region, str) and region else None


_ARN = re.compile(r"^arn:[^:]+:(?P<service>[^:]+):(?P<region>[^:]*):")


def arn_region(arn: Any) -> str | None:
    """The region field of an ARN (``arn:aws:sns:us-west-2:...``), None if not an ARN."""
    match = _ARN.match(arn) if isinstance(arn, str) else None
    return match.group("region") if match else None


def arn_service(arn: Any) -> str | None:
    match = _ARN.match(arn) if isinstance(arn, str) else None
    return match.group("service") if match else None


def wire_name(name: str) -> str:
    """``global_cluster_identifier`` -> ``globalClusterIdentifier``; wire names stay."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def ignores(opts: Any, prop: str) -> bool:
    """True when the resource's ``ignore_changes`` covers the input ``prop``."""
    ignored = items(getattr(opts, "ignore_changes", None))
    return any(wire_name(str(entry)) == prop for entry in ignored)


def describe(resource_type: str, name: str, props: Mapping[str, Any]) -> str:
    """``aws:rds/cluster:Cluster "database-cluster" (shopsmart-db-us-east-1)``."""
    short = resource_type.rsplit(":", 1)[-1]
    label = f'{short} "{name}"'
    for key in _PHYSICAL_NAME_KEYS:
        physical = get(props, key)
        if isinstance(physical, str) and physical and physical != name:
            return f"{label} ({physical})"
    return label
