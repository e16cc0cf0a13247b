"""Entry point: one region of ShopSmart, as configured by ``Pulumi.<stack>.yaml``.

Config is read here, once, validated by the same model the runtime uses, and handed to the
components as plain values. Every resource goes through an explicit provider whose region
comes from that config, never through the default provider.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from dr import naming
from dr.settings import SettingsError, StackSettings, from_pulumi_config
from infra.alarms import Alarms, AlarmsArgs
from infra.compute import Compute, ComputeArgs
from infra.database import Database, DatabaseArgs
from infra.dns import Dns, DnsArgs
from infra.lease import Lease, LeaseArgs
from infra.network import Network, NetworkArgs, vpc_cidr
from infra.package import lambda_archive
from infra.trigger import Trigger, TriggerArgs

# Local Zones and Wavelength Zones are "available" too once opted in; they are not places
# for an Aurora subnet group or an ALB.
USABLE_ZONES = [{"name": "opt-in-status", "values": ["opt-in-not-required"]}]


def usable_zones(settings: StackSettings, provider: aws.Provider) -> tuple[str, ...]:
    """The first ``azCount`` AZs the region reports as available right now."""
    found = aws.get_availability_zones(
        state="available", filters=USABLE_ZONES, opts=pulumi.InvokeOptions(provider=provider)
    ).names
    if len(found) < settings.az_count:
        raise SettingsError(
            settings.origin, "azCount",
            f"is {settings.az_count} but {settings.region} has only {len(found)} available"
            f" AZs ({', '.join(found) or 'none'}); lower azCount or pick another region",
        )
    return tuple(found[: settings.az_count])


def project_dir() -> Path:
    """Where Pulumi.yaml and the stack files are, which the Lambda archive packages. The
    engine says so; a language host too old to say leaves this checkout as the answer."""
    root = pulumi.get_root_directory()
    if root and (Path(root) / "Pulumi.yaml").is_file():
        return Path(root)
    return Path(__file__).resolve().parents[1]


def main() -> None:
    config = pulumi.Config(naming.PROJECT)
    settings = from_pulumi_config(
        pulumi.get_stack(), pulumi.Config("aws").get("region"), config
    )
    password = None
    if settings.is_home:
        if not settings.has_master_password:
            raise SettingsError(
                settings.origin, "dbMasterPassword",
                "required on the database's home stack; run `pulumi config set --secret"
                f" -s {settings.stack} shopsmart:dbMasterPassword <a long random string>`",
            )
        password = config.require_secret("dbMasterPassword")

    providers = {
        region: aws.Provider(f"aws-{region}", region=region)
        for region in sorted({settings.region, settings.peer_region, naming.ROUTE53_REGION})
    }
    home = providers[settings.region]
    in_region = pulumi.ResourceOptions(provider=home)
    zones = usable_zones(settings, home)
    account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=home)).account_id
    capacity = settings.role_capacity

    network = Network("network", NetworkArgs(
        region=settings.region, vpc_cidr=vpc_cidr(settings.region, settings.peer_region),
        zones=zones,
    ), in_region)
    database = Database("database", DatabaseArgs(
        region=settings.region, is_home=settings.is_home, engine=settings.db.engine,
        engine_version=settings.db.engine_version, instance_class=settings.db.instance_class,
        instances=settings.db.instances,
        backup_retention_days=settings.db.backup_retention_days,
        deletion_protection=settings.db.deletion_protection,
        subnet_ids=[s.id for s in network.private_subnets],
        security_group_id=network.db_sg.id, master_password=password,
    ), in_region)
    compute = Compute("compute", ComputeArgs(
        region=settings.region, domain=settings.domain,
        hosted_zone_id=settings.hosted_zone_id, health_path=settings.dns.health_path,
        instance_type=settings.instance_type, ami_id=settings.ami_id, capacity=capacity,
        vpc_id=network.vpc.id, public_subnet_ids=[s.id for s in network.public_subnets],
        private_subnet_ids=[s.id for s in network.private_subnets],
        alb_security_group_id=network.alb_sg.id, app_security_group_id=network.app_sg.id,
    ), in_region)
    dns = Dns("dns", DnsArgs(
        region=settings.region, peer_region=settings.peer_region,
        is_primary=settings.is_primary, domain=settings.domain,
        hosted_zone_id=settings.hosted_zone_id, health_path=settings.dns.health_path,
        interval_s=settings.dns.health_check_interval_s,
        failure_threshold=settings.dns.failure_threshold,
        alb_dns_name=compute.alb.dns_name, alb_zone_id=compute.alb.zone_id,
        peer_provider=providers[settings.peer_region],
    ), in_region)
    alarms = Alarms("alarms", AlarmsArgs(
        region=settings.region, peer_region=settings.peer_region, account_id=account_id,
        is_primary=settings.is_primary, zones=zones, capacity_min=capacity.min,
        rpo_s=settings.objectives.rpo_s, contacts=settings.contacts,
        alb_arn_suffix=compute.alb.arn_suffix,
        target_group_arn_suffix=compute.target_group.arn_suffix,
        endpoint_health_check_id=dns.endpoint_check.id,
        route53_provider=(
            None if settings.region == naming.ROUTE53_REGION
            else providers[naming.ROUTE53_REGION]
        ),
    ), in_region)
    lease = Lease("lease", LeaseArgs(region=settings.region), in_region)
    trigger = Trigger("trigger", TriggerArgs(
        region=settings.region, peer_region=settings.peer_region, account_id=account_id,
        code=lambda_archive(project_dir()),
    ), in_region)

    # For humans and checks; the runtime finds all of this through dr.naming instead.
    pulumi.export("region", settings.region)
    pulumi.export("role", settings.role)
    pulumi.export("is_home", settings.is_home)
    pulumi.export("zones", list(zones))
    pulumi.export("global_cluster_id", naming.global_cluster_id())
    pulumi.export("cluster_id", database.cluster.cluster_identifier)
    pulumi.export("cluster_endpoint", database.cluster.endpoint)
    pulumi.export("cluster_reader_endpoint", database.cluster.reader_endpoint)
    pulumi.export("alb_dns_name", compute.alb.dns_name)
    pulumi.export("target_group_arn", compute.target_group.arn)
    pulumi.export("asg_names", [group.name for group in compute.groups])
    pulumi.export("endpoint_health_check_id", dns.endpoint_check.id)
    pulumi.export("calculated_health_check_id", dns.calculated_check.id)
    pulumi.export("topic_arn", alarms.topic.arn)
    pulumi.export("route53_alarm_topic_arn", alarms.route53_topic.arn)
    pulumi.export("dashboard_name", alarms.dashboard.dashboard_name)
    pulumi.export("lease_table", lease.table.name)
    pulumi.export("failover_function", trigger.function.name)
    pulumi.export("failover_url", trigger.url)


main()
