"""ALB, target group, launch template and one Auto Scaling group per AZ.

The lab's ALB listens on the app stand-in's port: its DNS name maps, in the lab's name
table, to the stand-in of its region, so health checks and DNS answers reach that service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dr import naming
from dr.lab.config import RegionAddresses
from dr.lab.topology.network import Network
from dr.settings import StackSettings

HEALTH_CHECK_GRACE_S = 300


@dataclass(frozen=True)
class Compute:
    alb_arn: str
    alb_dns_name: str
    alb_zone_id: str
    target_group_arn: str
    asg_names: tuple[str, ...]


def deploy_compute(elbv2: Any, autoscaling: Any, ec2: Any, stack: StackSettings,
                   network: Network, app: RegionAddresses) -> Compute:
    region = stack.region
    tags = [{"Key": k, "Value": v} for k, v in naming.tags(region, "compute").items()]
    balancer = elbv2.create_load_balancer(
        Name=naming.alb_name(region), Subnets=list(network.subnet_ids),
        SecurityGroups=[network.security_group_id], Scheme="internet-facing",
        Type="application", Tags=tags)["LoadBalancers"][0]
    group = elbv2.create_target_group(
        Name=naming.target_group_name(region), Protocol="HTTPS", Port=app.app_port,
        VpcId=network.vpc_id, HealthCheckProtocol="HTTPS", HealthCheckPath=stack.dns.health_path,
        TargetType="instance", Tags=tags)["TargetGroups"][0]
    elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=app.app_port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}])
    ec2.create_launch_template(
        LaunchTemplateName=naming.launch_template_name(region),
        LaunchTemplateData={"ImageId": stack.ami_id, "InstanceType": stack.instance_type,
                            "SecurityGroupIds": [network.security_group_id]})
    capacity = stack.role_capacity
    names = naming.asg_names(region, stack.az_count)
    for name, subnet in zip(names, network.subnet_ids):
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": naming.launch_template_name(region),
                            "Version": "$Latest"},
            MinSize=capacity.min, MaxSize=capacity.max, DesiredCapacity=capacity.desired,
            VPCZoneIdentifier=subnet, TargetGroupARNs=[group["TargetGroupArn"]],
            HealthCheckType="ELB", HealthCheckGracePeriod=HEALTH_CHECK_GRACE_S,
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True}
                  for k, v in naming.tags(region, "compute").items()])
    return Compute(balancer["LoadBalancerArn"], balancer["DNSName"],
                   balancer["CanonicalHostedZoneId"], group["TargetGroupArn"], tuple(names))
