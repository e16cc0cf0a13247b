"""The DR dashboard: both regions side by side, so one screen answers "where do we stand".

Built from names alone (``dr.naming``) and metric searches, never from the peer stack's
outputs or config: the survivor's dashboard must be complete while the other region is down.
"""

from __future__ import annotations

import json

from dr import naming

WIDTH, HEIGHT = 12, 6


def dashboard_body(region: str, peer_region: str) -> str:
    """Row 1: every Route 53 check; then one row per metric, one column per region."""
    widgets = [
        _widget("Route 53 health checks (1 = healthy)", naming.ROUTE53_REGION, [[_search(
            "checks", "{AWS/Route53,HealthCheckId} MetricName=\"HealthCheckStatus\"", "Minimum"
        )]], x=0, y=0, width=2 * WIDTH),
    ]
    for column, each in enumerate(sorted([region, peer_region])):
        key = each.replace("-", "_")
        rows = [
            (f"{each}: replication lag, ms (AuroraGlobalDBRPOLag)", [[
                "AWS/RDS", "AuroraGlobalDBRPOLag", "DBClusterIdentifier",
                naming.cluster_id(each)]]),
            (f"{each}: ALB 5xx per minute", [[_search(
                f"e5xx_{key}", "{AWS/ApplicationELB,LoadBalancer} "
                f"MetricName=\"HTTPCode_ELB_5XX_Count\" {naming.alb_name(each)}", "Sum")]]),
            (f"{each}: in-service instances per AZ group", [[_search(
                f"cap_{key}", "{AWS/AutoScaling,AutoScalingGroupName} "
                f"MetricName=\"GroupInServiceInstances\" {_groups_prefix(each)}",
                "Minimum")]]),
        ]
        for row, (title, metrics) in enumerate(rows, start=1):
            widgets.append(_widget(title, each, metrics, x=column * WIDTH, y=row * HEIGHT))
    return json.dumps({"widgets": widgets}, sort_keys=True)


def _search(metric_id: str, query: str, stat: str) -> dict:
    return {"id": metric_id, "expression": f"SEARCH('{query}', '{stat}', 60)"}


def _widget(title: str, region: str, metrics: list, *, x: int, y: int,
            width: int = WIDTH) -> dict:
    return {
        "type": "metric", "x": x, "y": y, "width": width, "height": HEIGHT,
        "properties": {"title": title, "region": region, "metrics": metrics,
                       "view": "timeSeries", "stat": "Maximum", "period": 60},
    }


def _groups_prefix(region: str) -> str:
    """What every Auto Scaling group name of ``region`` starts with, whatever its azCount."""
    return naming.asg_name(region, 0).rsplit("-", 1)[0]
