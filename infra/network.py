"""VPC, subnets in the region's usable AZs, gateways, routes and the three security groups."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from dr import naming

APP_PORT = 8080
DB_PORT = 5432


@dataclass(frozen=True)
class NetworkArgs:
    region: str
    vpc_cidr: str
    zones: tuple[str, ...]  # chosen by the entry point from the region's available AZs


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnets: list[aws.ec2.Subnet]
    private_subnets: list[aws.ec2.Subnet]
    alb_sg: aws.ec2.SecurityGroup
    app_sg: aws.ec2.SecurityGroup
    db_sg: aws.ec2.SecurityGroup

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("shopsmart:network:Network", name, None, opts)
        region = args.region
        child = pulumi.ResourceOptions(parent=self)

        def tagged(what: str) -> dict[str, str]:
            return {"Name": naming.network_name(region, what), **naming.tags(region, "network")}

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=args.vpc_cidr, enable_dns_hostnames=True,
            enable_dns_support=True, tags=tagged("vpc"), opts=child,
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=tagged("igw"), opts=child
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags=tagged("public"), opts=child,
        )

        # A /20 per subnet: public ones first, private ones from the upper half of the /16.
        self.public_subnets, self.private_subnets = [], []
        for index, zone in enumerate(args.zones):
            public = aws.ec2.Subnet(
                f"{name}-public-{index}", vpc_id=self.vpc.id, availability_zone=zone,
                cidr_block=_subnet_cidr(args.vpc_cidr, index),
                tags=tagged(f"public-{index}"), opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{index}", subnet_id=public.id, route_table_id=public_rt.id,
                opts=child,
            )
            # One NAT gateway per AZ, so losing an AZ never cuts the others off.
            eip = aws.ec2.Eip(f"{name}-nat-{index}", domain="vpc", tags=tagged(f"nat-{index}"),
                              opts=child)
            nat = aws.ec2.NatGateway(
                f"{name}-nat-{index}", subnet_id=public.id, allocation_id=eip.id,
                tags=tagged(f"nat-{index}"), opts=child,
            )
            private = aws.ec2.Subnet(
                f"{name}-private-{index}", vpc_id=self.vpc.id, availability_zone=zone,
                cidr_block=_subnet_cidr(args.vpc_cidr, 8 + index),
                tags=tagged(f"private-{index}"), opts=child,
            )
            private_rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{index}", vpc_id=self.vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                tags=tagged(f"private-{index}"), opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}", subnet_id=private.id,
                route_table_id=private_rt.id, opts=child,
            )
            self.public_subnets.append(public)
            self.private_subnets.append(private)

        self.alb_sg = aws.ec2.SecurityGroup(
            f"{name}-alb", name=naming.security_group(region, "alb"), vpc_id=self.vpc.id,
            description="ShopSmart ALB: HTTP and HTTPS from anywhere, nothing else",
            ingress=[_open(80), _open(443)],
            egress=[{"protocol": "tcp", "from_port": APP_PORT, "to_port": APP_PORT,
                     "cidr_blocks": [args.vpc_cidr], "description": "to the app servers"}],
            tags=tagged("alb"), opts=child,
        )
        self.app_sg = aws.ec2.SecurityGroup(
            f"{name}-app", name=naming.security_group(region, "app"), vpc_id=self.vpc.id,
            description="ShopSmart app servers: only the ALB may reach them",
            ingress=[{"protocol": "tcp", "from_port": APP_PORT, "to_port": APP_PORT,
                      "security_groups": [self.alb_sg.id], "description": "from the ALB"}],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0,
                     "cidr_blocks": ["0.0.0.0/0"], "description": "database, AWS APIs"}],
            tags=tagged("app"), opts=child,
        )
        self.db_sg = aws.ec2.SecurityGroup(
            f"{name}-db", name=naming.security_group(region, "db"), vpc_id=self.vpc.id,
            description="ShopSmart Aurora: only the app servers may reach it",
            ingress=[{"protocol": "tcp", "from_port": DB_PORT, "to_port": DB_PORT,
                      "security_groups": [self.app_sg.id], "description": "from the app"}],
            tags=tagged("db"), opts=child,
        )
        self.register_outputs({
            "vpc_id": self.vpc.id,
            "public_subnet_ids": [s.id for s in self.public_subnets],
            "private_subnet_ids": [s.id for s in self.private_subnets],
        })


def _open(port: int) -> dict:
    return {"protocol": "tcp", "from_port": port, "to_port": port,
            "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": ["::/0"]}


def _subnet_cidr(vpc_cidr: str, index: int) -> str:
    """The ``index``-th /20 of a /16."""
    first, second, _, _ = vpc_cidr.split("/")[0].split(".")
    return f"{first}.{second}.{index * 16}.0/20"


def vpc_cidr(region: str, peer_region: str) -> str:
    """Distinct, role-independent /16 per region, so the two VPCs could be peered."""
    return f"10.{10 + sorted([region, peer_region]).index(region)}.0.0/16"
