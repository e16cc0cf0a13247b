"""The lease table: one run at a time, humans and the endpoint alike. Each region has its
own, and a run uses the survivor's, so taking the lease never needs the failed region."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from dr import naming

PARTITION_KEY = "lease"


@dataclass(frozen=True)
class LeaseArgs:
    region: str


class Lease(pulumi.ComponentResource):
    table: aws.dynamodb.Table

    def __init__(
        self, name: str, args: LeaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("shopsmart:lease:Lease", name, None, opts)
        self.table = aws.dynamodb.Table(
            f"{name}-table", name=naming.lease_table(), billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY, attributes=[{"name": PARTITION_KEY, "type": "S"}],
            point_in_time_recovery={"enabled": True}, server_side_encryption={"enabled": True},
            tags=naming.tags(args.region, "lease"), opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"table_name": self.table.name})
