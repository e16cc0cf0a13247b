"""Aurora PostgreSQL as one member of the global database.

The home stack (``db.homeRegion``) owns the GlobalCluster and the founding cluster with its
credentials, whatever the roles are; the other stack joins with a cluster that carries no
database name and no credentials (AWS rejects a secondary that has them). Nothing that a
member inherits from the global cluster is declared differently here, and the fields a
failover or switchover changes are ignored after creation: the first ``pulumi up`` after a
failover must neither detach, replace nor re-attach anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from dr import naming

MASTER_USERNAME = "shopsmart_admin"

# Set at creation, then owned by AWS: failover, switchover and detach rewrite membership,
# and members follow the global cluster's engine version and inherit its database name and
# credentials. A diff on any of them would detach or replace the cluster.
MEMBERSHIP_FIELDS = (
    "globalClusterIdentifier",
    "replicationSourceIdentifier",
    "engineVersion",
    "databaseName",
    "masterUsername",
    "sourceRegion",
)
GLOBAL_CLUSTER_FIELDS = ("engineVersion", "databaseName", "sourceDbClusterIdentifier")


@dataclass(frozen=True)
class DatabaseArgs:
    region: str
    is_home: bool
    engine: str
    engine_version: str
    instance_class: str
    instances: int
    backup_retention_days: int
    deletion_protection: bool
    subnet_ids: list[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    master_password: pulumi.Input[str] | None  # home stack only


class Database(pulumi.ComponentResource):
    cluster: aws.rds.Cluster
    global_cluster: aws.rds.GlobalCluster | None

    def __init__(
        self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("shopsmart:database:Database", name, None, opts)
        region = args.region
        tags = naming.tags(region, "database")
        child = pulumi.ResourceOptions(parent=self)
        kept = pulumi.ResourceOptions(parent=self, protect=True)

        # Losing the key loses the data, so the key is protected like the cluster.
        key = aws.kms.Key(
            f"{name}-key", description=f"ShopSmart Aurora storage in {region}",
            enable_key_rotation=True, deletion_window_in_days=30,
            tags={"Name": naming.db_kms_alias(region).removeprefix("alias/"), **tags},
            opts=kept,
        )
        aws.kms.Alias(f"{name}-key-alias", name=naming.db_kms_alias(region),
                      target_key_id=key.key_id, opts=child)
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets", name=naming.db_subnet_group(region), subnet_ids=args.subnet_ids,
            description=f"ShopSmart Aurora private subnets in {region}", tags=tags, opts=child,
        )

        member = {
            "cluster_identifier": naming.cluster_id(region),
            "engine": args.engine,
            "engine_version": args.engine_version,
            "global_cluster_identifier": naming.global_cluster_id(),
            "db_subnet_group_name": subnets.name,
            "vpc_security_group_ids": [args.security_group_id],
            "storage_encrypted": True,
            "kms_key_id": key.arn,
            "backup_retention_period": args.backup_retention_days,
            "deletion_protection": args.deletion_protection,
            "copy_tags_to_snapshot": True,
            "skip_final_snapshot": False,
            "final_snapshot_identifier": f"{naming.cluster_id(region)}-final",
            "enabled_cloudwatch_logs_exports": ["postgresql"],
            "tags": tags,
        }
        member_opts = pulumi.ResourceOptions(
            parent=self, protect=True, ignore_changes=list(MEMBERSHIP_FIELDS)
        )
        self.global_cluster = None
        if args.is_home:
            self.global_cluster = aws.rds.GlobalCluster(
                f"{name}-global", global_cluster_identifier=naming.global_cluster_id(),
                engine=args.engine, engine_version=args.engine_version,
                database_name=naming.database_name(), storage_encrypted=True,
                deletion_protection=args.deletion_protection, tags=tags,
                opts=pulumi.ResourceOptions(
                    parent=self, protect=True, ignore_changes=list(GLOBAL_CLUSTER_FIELDS)
                ),
            )
            member.update(
                global_cluster_identifier=self.global_cluster.id,
                database_name=naming.database_name(),
                master_username=MASTER_USERNAME,
                master_password=args.master_password,
            )
        # No availability_zones: AWS places the cluster in three AZs of the subnet group,
        # and pinning fewer than it assigns would show a diff (and a replacement) forever.
        self.cluster = aws.rds.Cluster(f"{name}-cluster", **member, opts=member_opts)

        self.instances = [
            aws.rds.ClusterInstance(
                f"{name}-{index}", identifier=naming.instance_id(region, index),
                cluster_identifier=self.cluster.id, instance_class=args.instance_class,
                engine=args.engine, engine_version=args.engine_version,
                db_subnet_group_name=subnets.name, publicly_accessible=False,
                auto_minor_version_upgrade=False, tags=tags,
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["engineVersion"]),
            )
            for index in range(args.instances)
        ]
        self.register_outputs({
            "cluster_id": self.cluster.cluster_identifier,
            "endpoint": self.cluster.endpoint,
            "reader_endpoint": self.cluster.reader_endpoint,
        })
