"""ALB with HTTPS, target group, launch template and one Auto Scaling group per AZ."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from dr import naming
from dr.settings import Capacity
from infra.network import APP_PORT

HEALTH_CHECK_GRACE_S = 300
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class ComputeArgs:
    region: str
    domain: str
    hosted_zone_id: str
    health_path: str
    instance_type: str
    ami_id: str
    capacity: Capacity  # per AZ, already chosen from the role
    vpc_id: pulumi.Input[str]
    public_subnet_ids: list[pulumi.Input[str]]
    private_subnet_ids: list[pulumi.Input[str]]  # one per AZ, in AZ order
    alb_security_group_id: pulumi.Input[str]
    app_security_group_id: pulumi.Input[str]


class Compute(pulumi.ComponentResource):
    alb: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    groups: list[aws.autoscaling.Group]

    def __init__(
        self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("shopsmart:compute:Compute", name, None, opts)
        region = args.region
        tags = naming.tags(region, "compute")
        child = pulumi.ResourceOptions(parent=self)

        self.alb = aws.lb.LoadBalancer(
            f"{name}-alb", name=naming.alb_name(region), load_balancer_type="application",
            internal=False, subnets=args.public_subnet_ids,
            security_groups=[args.alb_security_group_id], drop_invalid_header_fields=True,
            tags=tags, opts=child,
        )
        self.target_group = aws.lb.TargetGroup(
            f"{name}-tg", name=naming.target_group_name(region), port=APP_PORT,
            protocol="HTTP", target_type="instance", vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check={"path": args.health_path, "protocol": "HTTP", "matcher": "200",
                          "interval": 10, "healthy_threshold": 2, "unhealthy_threshold": 2},
            tags=tags, opts=child,
        )

        certificate = aws.acm.Certificate(
            f"{name}-cert", domain_name=args.domain, validation_method="DNS",
            tags={"Name": args.domain, **tags}, opts=child,
        )
        option = certificate.domain_validation_options[0]
        # ACM asks for the same validation record for a domain in every region of an
        # account, so both stacks write it; overwriting keeps the second one from failing.
        validation_record = aws.route53.Record(
            f"{name}-cert-record", zone_id=args.hosted_zone_id,
            name=option.resource_record_name, type=option.resource_record_type,
            records=[option.resource_record_value], ttl=300, allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation", certificate_arn=certificate.arn,
            validation_record_fqdns=[validation_record.fqdn], opts=child,
        )
        aws.lb.Listener(
            f"{name}-https", load_balancer_arn=self.alb.arn, port=443, protocol="HTTPS",
            ssl_policy=TLS_POLICY, certificate_arn=validation.certificate_arn,
            default_actions=[{"type": "forward", "target_group_arn": self.target_group.arn}],
            tags=tags, opts=child,
        )
        aws.lb.Listener(
            f"{name}-http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP",
            default_actions=[{"type": "redirect", "redirect": {
                "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}],
            tags=tags, opts=child,
        )

        template = aws.ec2.LaunchTemplate(
            f"{name}-app", name=naming.launch_template_name(region), image_id=args.ami_id,
            instance_type=args.instance_type, update_default_version=True,
            vpc_security_group_ids=[args.app_security_group_id],
            # IMDSv2 only: a stolen request cannot read the instance's credentials.
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                              "http_put_response_hop_limit": 1},
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                "encrypted": "true", "volume_type": "gp3", "volume_size": 20,
                "delete_on_termination": "true"}}],
            tag_specifications=[{"resource_type": "instance", "tags": tags},
                                {"resource_type": "volume", "tags": tags}],
            tags=tags, opts=child,
        )

        # One group per AZ, so capacity can be read and restored AZ by AZ. ELB health
        # checks: with EC2 checks a group keeps instances the load balancer marked unhealthy.
        self.groups = [
            aws.autoscaling.Group(
                f"{name}-asg-{index}", name=naming.asg_name(region, index),
                vpc_zone_identifiers=[subnet_id], min_size=args.capacity.min,
                desired_capacity=args.capacity.desired, max_size=args.capacity.max,
                health_check_type="ELB", health_check_grace_period=HEALTH_CHECK_GRACE_S,
                target_group_arns=[self.target_group.arn],
                launch_template={"id": template.id, "version": "$Latest"},
                enabled_metrics=["GroupInServiceInstances", "GroupDesiredCapacity",
                                 "GroupMinSize", "GroupMaxSize"],
                tags=[{"key": k, "value": v, "propagate_at_launch": True}
                      for k, v in {"Name": naming.asg_name(region, index), **tags}.items()],
                opts=child,
            )
            for index, subnet_id in enumerate(args.private_subnet_ids)
        ]
        self.register_outputs({
            "alb_dns_name": self.alb.dns_name,
            "target_group_arn": self.target_group.arn,
            "asg_names": [group.name for group in self.groups],
        })
