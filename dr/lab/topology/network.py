"""A VPC with one subnet per AZ in each region: what the ALB, groups and database sit in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dr import naming
from dr.settings import StackSettings

REGION_OCTET = {"us-east-1": 10, "us-west-2": 20}  # only CIDR text inside moto


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnet_ids: tuple[str, ...]
    availability_zones: tuple[str, ...]
    security_group_id: str


def availability_zones(stack: StackSettings) -> tuple[str, ...]:
    return tuple(f"{stack.region}{letter}" for letter in "abcdef"[: stack.az_count])


def deploy_network(ec2: Any, stack: StackSettings) -> Network:
    octet = REGION_OCTET.get(stack.region, 30)
    tags = [{"Key": k, "Value": v} for k, v in naming.tags(stack.region, "network").items()]
    vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": tags + [
            {"Key": "Name", "Value": naming.network_name(stack.region, "vpc")}]}])["Vpc"]
    zones = availability_zones(stack)
    subnets = [
        ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock=f"10.{octet}.{index}.0/24",
                          AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for index, zone in enumerate(zones)
    ]
    group = ec2.create_security_group(
        GroupName=naming.security_group(stack.region, "app"), Description="ShopSmart app",
        VpcId=vpc["VpcId"])["GroupId"]
    return Network(vpc["VpcId"], tuple(subnets), zones, group)
