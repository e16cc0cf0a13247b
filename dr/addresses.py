"""Where the shop's data plane is: each region's HTTPS endpoint and the zone's DNS servers.

On the lab these come from the lab's state file (the app stand-ins and the lab DNS server);
on AWS from each region's load balancer (asked region by region, so a dead region only
loses its own entry) and the zone's delegation as the public DNS publishes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

import dns.exception
import dns.resolver

from dr import naming
from dr.aws import Target
from dr.probe import ProbeError, resolve_system
from dr.settings import StackPair

logger = logging.getLogger(__name__)

HTTPS_PORT = 443


@dataclass(frozen=True)
class ShopAddresses:
    """endpoints: region -> (host, port) of its HTTPS endpoint (the ALB, or the lab's app).
    region_ips: region -> the addresses a DNS answer carries when it points at that region.
    dns_servers: (host, port) of the servers that answer authoritatively for the shop's name.
    """

    endpoints: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    region_ips: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    dns_servers: tuple[tuple[str, int], ...] = ()

    def region_of(self, addresses: tuple[str, ...] | list[str]) -> str | None:
        """The region whose endpoint a DNS answer points at, or None."""
        for region, ips in self.region_ips.items():
            if set(ips) & set(addresses):
                return region
        return None


def shop_addresses(target: Target, pair: StackPair, *, lab_dir: str | None = None,
                   timeout_s: float = 5.0) -> ShopAddresses:
    if target.is_lab:
        return lab_addresses(lab_dir)
    return aws_addresses(target, pair, timeout_s)


def lab_addresses(lab_dir: str | None = None) -> ShopAddresses:
    """Addresses of the running lab; raises ``LabNotRunning`` when there is none."""
    from dr.lab import state  # the lab is optional on an AWS install

    lab = state.load(lab_dir)
    return ShopAddresses(
        endpoints={r.region: (r.app_host, r.app_port) for r in lab.regions},
        region_ips={r.region: (r.app_host,) for r in lab.regions},
        dns_servers=((lab.dns_host, lab.dns_port),),
    )


def aws_addresses(target: Target, pair: StackPair, timeout_s: float) -> ShopAddresses:
    endpoints: dict[str, tuple[str, int]] = {}
    region_ips: dict[str, tuple[str, ...]] = {}
    for stack in (pair.primary, pair.secondary):
        region = stack.region
        try:
            elbv2 = target.client("elbv2", region, read_timeout=timeout_s,
                                  retries={"mode": "standard", "max_attempts": 2})
            name = elbv2.describe_load_balancers(Names=[naming.alb_name(region)])[
                "LoadBalancers"][0]["DNSName"]
        except Exception as err:  # a dead region loses its own entry, nothing more
            logger.info("no load balancer address for %s: %s", region, err)
            continue
        endpoints[region] = (name, HTTPS_PORT)
        try:
            region_ips[region] = resolve_system(name, timeout_s)
        except ProbeError as err:
            logger.info("%s", err)
    return ShopAddresses(endpoints, region_ips, _authoritative(pair.primary.domain, timeout_s))


def _authoritative(name: str, timeout_s: float) -> tuple[tuple[str, int], ...]:
    """The zone's name servers, from the public delegation (data plane, not Route 53's API)."""
    resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout_s
    try:
        zone = dns.resolver.zone_for_name(name, resolver=resolver)
        hosts = [str(ns.target) for ns in resolver.resolve(zone, "NS")]
        servers = [(resolve_system(host, timeout_s)[0], 53) for host in hosts]
    except (dns.exception.DNSException, ProbeError, IndexError) as err:
        logger.info("no authoritative servers found for %s: %s", name, err)
        return ()
    return tuple(servers)
