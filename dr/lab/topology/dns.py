"""Health checks (endpoint, evacuation switch, calculated) and the failover alias records.

All of it is Route 53 control plane, so it is created through us-east-1. The failover
record of a region uses its calculated check: endpoint healthy AND not evacuated.
"""

from __future__ import annotations

import uuid
from typing import Any

from dr import naming
from dr.lab.config import RegionAddresses
from dr.lab.topology.compute import Compute
from dr.settings import StackSettings


def deploy_health_checks(route53: Any, stack: StackSettings, compute: Compute,
                         app: RegionAddresses) -> dict[str, str]:
    """The three checks of a region; returns name tag -> health check ID."""
    region = stack.region
    endpoint = _create(route53, naming.endpoint_health_check(region), region, {
        "Type": "HTTPS", "FullyQualifiedDomainName": compute.alb_dns_name,
        "Port": app.app_port, "ResourcePath": stack.dns.health_path,
        "RequestInterval": stack.dns.health_check_interval_s,
        "FailureThreshold": stack.dns.failure_threshold, "EnableSNI": True,
    })
    evacuation = _create(route53, naming.evacuation_health_check(region), region, {
        "Type": "CLOUDWATCH_METRIC",
        "AlarmIdentifier": {"Region": stack.peer_region,
                            "Name": naming.evacuation_alarm(region)},
        "InsufficientDataHealthStatus": "LastKnownStatus",
    })
    calculated = _create(route53, naming.calculated_health_check(region), region, {
        "Type": "CALCULATED", "ChildHealthChecks": [endpoint, evacuation],
        "HealthThreshold": 2,
    })
    return {
        naming.endpoint_health_check(region): endpoint,
        naming.evacuation_health_check(region): evacuation,
        naming.calculated_health_check(region): calculated,
    }


def _create(route53: Any, name: str, region: str, config: dict[str, Any]) -> str:
    check_id = route53.create_health_check(
        CallerReference=f"{name}-{uuid.uuid4()}", HealthCheckConfig=config)["HealthCheck"]["Id"]
    tags = {"Name": name, **naming.tags(region, "dns")}
    route53.change_tags_for_resource(
        ResourceType="healthcheck", ResourceId=check_id,
        AddTags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return check_id


def deploy_failover_record(route53: Any, stack: StackSettings, zone_id: str, compute: Compute,
                           calculated_check_id: str) -> None:
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
        "Action": "UPSERT",
        "ResourceRecordSet": {
            "Name": f"{stack.domain}.", "Type": "A",
            "SetIdentifier": naming.record_set_identifier(stack.region),
            "Failover": "PRIMARY" if stack.is_primary else "SECONDARY",
            "HealthCheckId": calculated_check_id,
            "AliasTarget": {"HostedZoneId": compute.alb_zone_id,
                            "DNSName": compute.alb_dns_name, "EvaluateTargetHealth": True},
        },
    }]})
