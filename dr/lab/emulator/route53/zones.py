"""Hosted zones that exist before any stack: the stack config names the zone by its ID.

A Route 53 zone ID is chosen by AWS when the zone is created, and the stacks receive it as
configuration (``shopsmart:hostedZoneId``) because the zone outlives them. The lab seeds
that pre-existing account state: a zone with the configured name and ID.
"""

from __future__ import annotations

from typing import Any

from dr.lab.emulator.route53.checkers import route53_backend


def seed_hosted_zone(name: str, zone_id: str) -> dict[str, Any]:
    backend = route53_backend()
    name = name if name.endswith(".") else f"{name}."  # Route 53 stores zone names absolute
    wanted = zone_id.split("/")[-1]
    if wanted in backend.zones:
        zone = backend.zones[wanted]
    else:
        zone = backend.create_hosted_zone(name, private_zone=False,
                                          caller_reference=f"lab-seed-{wanted}")
        backend.zones.pop(zone.resource_id)
        zone.resource_id = wanted
        backend.zones[wanted] = zone
    return {"id": zone.id, "name": zone.name}
