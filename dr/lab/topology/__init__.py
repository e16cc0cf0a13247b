"""The topology the runtime depends on, deployed into the lab from the two stack files.

Every physical name comes from ``dr.naming``, as in the Pulumi program, so the runtime finds
lab resources exactly as it finds AWS ones. ``deploy`` returns what it made as
(type, name, region) rows, which the contract test compares with the program's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any


from dr import naming
from dr.aws import Target
from dr.lab.client import ControlClient
from dr.lab.config import LabConfig
from dr.lab.topology.alarms import (
    deploy_alarms, deploy_evacuation_alarm, deploy_lease_table, deploy_notifications,
)
from dr.lab.topology.compute import deploy_compute
from dr.lab.topology.database import deploy_database
from dr.lab.topology.dns import deploy_failover_record, deploy_health_checks
from dr.lab.topology.network import deploy_network
from dr.settings import StackPair

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployment:
    """What the lab deployed: (type, name, region) rows and the IDs AWS would assign."""

    resources: tuple[tuple[str, str, str], ...]
    health_check_ids: dict[str, str] = field(default_factory=dict)
    hosted_zone_id: str = ""


def deploy(pair: StackPair, config: LabConfig, target: Target,
           control: ControlClient) -> Deployment:
    stacks = (pair.primary, pair.secondary)
    rows: list[tuple[str, str, str]] = []

    # One client per (service, region) on the target's shared session: building a client
    # costs more than the calls a deployment makes with it.
    clients: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in clients:
            clients[(service, region)] = target.client(service, region)
        return clients[(service, region)]

    networks, computes = {}, {}
    for stack in stacks:
        region = stack.region
        networks[region] = deploy_network(client("ec2", region), stack)
        computes[region] = deploy_compute(
            client("elbv2", region), client("autoscaling", region), client("ec2", region),
            stack, networks[region], config.region(region))
        rows += [("aws:lb/loadBalancer:LoadBalancer", naming.alb_name(region), region),
                 ("aws:lb/targetGroup:TargetGroup", naming.target_group_name(region), region),
                 ("aws:ec2/launchTemplate:LaunchTemplate",
                  naming.launch_template_name(region), region)]
        rows += [("aws:autoscaling/group:Group", name, region)
                 for name in computes[region].asg_names]
    deploy_database(lambda region: client("rds", region), pair, networks,
                    {region: config.region(region).postgres_port for region in networks})
    rows.append(("aws:rds/globalCluster:GlobalCluster", naming.global_cluster_id(),
                 pair.primary.db.home_region))
    for stack in stacks:
        region = stack.region
        rows += [("aws:rds/subnetGroup:SubnetGroup", naming.db_subnet_group(region), region),
                 ("aws:rds/cluster:Cluster", naming.cluster_id(region), region)]
        rows += [("aws:rds/clusterInstance:ClusterInstance", naming.instance_id(region, i),
                  region) for i in range(stack.db.instances)]

    zone = control.seed_hosted_zone(pair.primary.domain, pair.primary.hosted_zone_id)
    route53 = client("route53", naming.ROUTE53_REGION)
    checks: dict[str, str] = {}
    for stack in stacks:
        made = deploy_health_checks(route53, stack, computes[stack.region],
                                    config.region(stack.region))
        checks.update(made)
        rows += [("aws:route53/healthCheck:HealthCheck", name, naming.ROUTE53_REGION)
                 for name in made]
        deploy_failover_record(route53, stack, zone["id"], computes[stack.region],
                               made[naming.calculated_health_check(stack.region)])
        rows.append(("aws:route53/record:Record", stack.domain, naming.ROUTE53_REGION))

    topics: dict[str, str] = {}
    for stack in stacks:
        region = stack.region
        made = deploy_notifications(client, stack)
        topics.update(made)
        rows += [("aws:sns/topic:Topic", key.split("/", 1)[1], key.split("/", 1)[0])
                 for key in made]
        rows.append(("aws:sqs/queue:Queue", naming.notification_queue(region), region))
        deploy_lease_table(client("dynamodb", region))
        rows.append(("aws:dynamodb/table:Table", naming.lease_table(), region))
        alarms = deploy_alarms(client, stack, computes[region], topics,
                               checks[naming.endpoint_health_check(region)])
        rows += [("aws:cloudwatch/metricAlarm:MetricAlarm", name,
                  naming.ROUTE53_REGION if name.endswith("-endpoint-health") else region)
                 for name in alarms]
    for stack in stacks:
        peer = stack.peer_region
        name = deploy_evacuation_alarm(client("cloudwatch", peer), stack,
                                       topics[f"{peer}/{naming.topic_name(peer)}"])
        rows.append(("aws:cloudwatch/metricAlarm:MetricAlarm", name, peer))
    logger.info("lab topology deployed: %d resources in %s and %s", len(rows),
                pair.primary.region, pair.secondary.region)
    return Deployment(tuple(rows), checks, zone["id"])
