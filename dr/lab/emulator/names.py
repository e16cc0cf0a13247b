"""The lab's own name table: the only way the emulator turns a hostname into an address.

Real AWS hostnames are never resolved. An ALB's DNS name (as moto made it) maps to the app
stand-in address of the ALB's region; names already on loopback pass as they are; anything
else has no address and a check aimed at it fails without being contacted.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from moto.core import DEFAULT_ACCOUNT_ID
from moto.elbv2.models import elbv2_backends
from moto.rds.models import rds_backends

if TYPE_CHECKING:
    from dr.lab.config import LabConfig


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False


class NameTable:
    def __init__(self, config: "LabConfig | None") -> None:
        self.config = config

    def names(self) -> dict[str, str]:
        """hostname -> IPv4: each ALB to its region's app stand-in, each Aurora cluster
        endpoint (writer and reader) to the lab's PostgreSQL host."""
        table: dict[str, str] = {}
        if self.config is None:
            return table
        for region, addresses in self.config.regions.items():
            for balancer in list(elbv2_backends[DEFAULT_ACCOUNT_ID][region]
                                 .load_balancers.values()):
                table[balancer.dns_name.lower().rstrip(".")] = addresses.app_host
            for cluster in list(rds_backends[DEFAULT_ACCOUNT_ID][region].clusters.values()):
                for name in (cluster.endpoint, cluster.reader_endpoint):
                    table[name.lower()] = self.config.host
        return table

    def resolve(self, hostname: str | None) -> str | None:
        """The loopback address for ``hostname``, or None when the lab knows no such name."""
        if not hostname:
            return None
        name = hostname.lower().rstrip(".")
        if is_loopback(name):
            return name
        if name == "localhost":
            return "127.0.0.1"
        address = self.names().get(name)
        return address if address is not None and is_loopback(address) else None
