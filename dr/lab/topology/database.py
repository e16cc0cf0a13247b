"""The Aurora global database: the global cluster, one cluster per region, instances.

The writer is the cluster of the stack whose role is primary; it joins first. Only the
home stack's cluster carries a database name and master credentials, as in the program.
"""

from __future__ import annotations

from typing import Any, Callable

from dr import naming
from dr.lab.topology.network import Network
from dr.settings import StackPair, StackSettings

LAB_MASTER_USER = "shopsmart"
LAB_MASTER_PASSWORD = "lab-only-password"  # the lab's emulated cluster; no real database


def deploy_database(rds_in: Callable[[str], Any], pair: StackPair,
                    networks: dict[str, Network], ports: dict[str, int] | None = None) -> str:
    """Create everything; returns the global cluster's identifier.

    ports: region -> port of that region's lab PostgreSQL server, so each cluster's
    endpoints (which the lab's names table maps to 127.0.0.1) reach its real server.
    """
    primary = pair.primary
    rds_in(primary.region).create_global_cluster(
        GlobalClusterIdentifier=naming.global_cluster_id(), Engine=primary.db.engine,
        EngineVersion=primary.db.engine_version, StorageEncrypted=True,
        DeletionProtection=primary.db.deletion_protection)
    for stack in (pair.primary, pair.secondary):
        _deploy_cluster(rds_in(stack.region), stack, networks[stack.region],
                        (ports or {}).get(stack.region))
    return naming.global_cluster_id()


def _deploy_cluster(rds: Any, stack: StackSettings, network: Network,
                    port: int | None = None) -> None:
    region = stack.region
    tags = [{"Key": k, "Value": v} for k, v in naming.tags(region, "database").items()]
    rds.create_db_subnet_group(
        DBSubnetGroupName=naming.db_subnet_group(region),
        DBSubnetGroupDescription=f"ShopSmart database subnets in {region}",
        SubnetIds=list(network.subnet_ids), Tags=tags)
    options: dict[str, Any] = {"Port": port} if port else {}
    if stack.is_home:
        options.update({"DatabaseName": naming.PROJECT, "MasterUsername": LAB_MASTER_USER,
                        "MasterUserPassword": LAB_MASTER_PASSWORD})
    rds.create_db_cluster(
        DBClusterIdentifier=naming.cluster_id(region), Engine=stack.db.engine,
        EngineVersion=stack.db.engine_version, GlobalClusterIdentifier=naming.global_cluster_id(),
        DBSubnetGroupName=naming.db_subnet_group(region), StorageEncrypted=True,
        BackupRetentionPeriod=stack.db.backup_retention_days,
        DeletionProtection=stack.db.deletion_protection, Tags=tags, **options)
    for index in range(stack.db.instances):
        rds.create_db_instance(
            DBInstanceIdentifier=naming.instance_id(region, index),
            DBClusterIdentifier=naming.cluster_id(region), Engine=stack.db.engine,
            DBInstanceClass=stack.db.instance_class, Tags=tags)
