"""What Route 53 would answer for a name, given the emulator's records and check states.

The emulator's ``GET /_shopsmart/dns-view`` returns::

    {"zones": [{"id": "Z...", "name": "shop.example.com.",
                "records": [<ResourceRecordSet as in ListResourceRecordSets>, ...]}],
     "health_checks": {"<health check id>": true | false | "Healthy" | {"healthy": bool}},
     "names": {"<AWS hostname>": "127.0.1.10" | {"address": "...", "ttl": 5}}}

Records keep the API's field names (Name, Type, TTL, SetIdentifier, Failover, HealthCheckId,
AliasTarget {DNSName, EvaluateTargetHealth}, ResourceRecords [{Value}]). ``names`` is the
lab's table of AWS hostnames (ALBs, Aurora cluster endpoints) on loopback: aliases resolve
through it, and its names are answered directly too, so a client of the lab can resolve a
cluster endpoint without ever asking a real resolver.

Route 53's rules followed here: of a PRIMARY and a SECONDARY failover record, the PRIMARY
answers while it is healthy, the SECONDARY while the PRIMARY is not, and the PRIMARY again
when both are unhealthy. A record is healthy when its health check is (a record without one
is), and, for an alias with EvaluateTargetHealth, when its target is. An alias to an AWS
resource answers with the resource's TTL (60 s for load balancers); an alias to a record of
the zone answers with that record's TTL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

RESOURCE_TTL = 60  # Elastic Load Balancing's fixed TTL, which Route 53 uses for its aliases
MAX_CHAIN = 8  # aliases and CNAMEs followed within the zone before giving up
NOERROR, NXDOMAIN, REFUSED, SERVFAIL = "NOERROR", "NXDOMAIN", "REFUSED", "SERVFAIL"


def absolute(name: str) -> str:
    return name.lower().rstrip(".") + "."


@dataclass(frozen=True)
class RecordSet:
    name: str
    type: str
    ttl: int | None
    values: tuple[str, ...] = ()
    set_identifier: str | None = None
    failover: str | None = None
    health_check_id: str | None = None
    alias_target: str | None = None
    evaluate_target_health: bool = False

    @classmethod
    def from_api(cls, record: Mapping[str, Any]) -> "RecordSet":
        alias = record.get("AliasTarget") or {}
        return cls(
            name=absolute(record["Name"]),
            type=str(record["Type"]).upper(),
            ttl=int(record["TTL"]) if record.get("TTL") is not None else None,
            values=tuple(str(value["Value"]) for value in record.get("ResourceRecords") or ()),
            set_identifier=record.get("SetIdentifier"),
            failover=(record.get("Failover") or None),
            health_check_id=record.get("HealthCheckId") or None,
            alias_target=absolute(alias["DNSName"]) if alias.get("DNSName") else None,
            evaluate_target_health=bool(alias.get("EvaluateTargetHealth", False)),
        )


@dataclass(frozen=True)
class Answer:
    """rcode, answer records (owner, type, ttl, value) and, when empty, the zone for SOA."""

    rcode: str
    records: tuple[tuple[str, str, int, str], ...] = ()
    zone: str | None = None


@dataclass(frozen=True)
class Zone:
    name: str
    records: tuple[RecordSet, ...]

    def at(self, name: str) -> list[RecordSet]:
        return [record for record in self.records if record.name == name]


@dataclass(frozen=True)
class View:
    zones: tuple[Zone, ...] = ()
    health: Mapping[str, bool] = field(default_factory=dict)
    names: Mapping[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> "View":
        zones = tuple(
            Zone(absolute(zone["name"]),
                 tuple(RecordSet.from_api(record) for record in zone.get("records", ())))
            for zone in document.get("zones", ())
        )
        health = {check: _healthy(state)
                  for check, state in (document.get("health_checks") or {}).items()}
        names = {}
        for name, entry in (document.get("names") or {}).items():
            if isinstance(entry, Mapping):
                names[absolute(name)] = (str(entry["address"]), int(entry.get("ttl", 5)))
            else:
                names[absolute(name)] = (str(entry), RESOURCE_TTL)
        return cls(zones, health, names)

    def answer(self, qname: str, qtype: str) -> Answer:
        qname, qtype = absolute(qname), qtype.upper()
        zone = self._zone_of(qname)
        if zone is None:
            if qname in self.names:
                address, ttl = self.names[qname]
                records = ((qname, "A", ttl, address),) if qtype == "A" else ()
                return Answer(NOERROR, records)
            return Answer(REFUSED)
        return self._in_zone(zone, qname, qtype, MAX_CHAIN)

    # --- inside a zone ---------------------------------------------------------------------

    def _in_zone(self, zone: Zone, qname: str, qtype: str, depth: int) -> Answer:
        here = zone.at(qname)
        if not here:
            below = any(record.name.endswith("." + qname) for record in zone.records)
            return Answer(NOERROR if below else NXDOMAIN, zone=zone.name)
        of_type = [record for record in here if record.type == qtype]
        if of_type:
            return self._render(zone, qname, self._choose(zone, of_type, depth), qtype, depth)
        cnames = [record for record in here if record.type == "CNAME"]
        if cnames and depth > 0:
            chosen = self._choose(zone, cnames, depth)
            head = tuple((qname, "CNAME", chosen.ttl or RESOURCE_TTL, value)
                         for value in chosen.values)
            target = chosen.values[0] if chosen.values else ""
            if head and self._zone_of(absolute(target)) is zone:
                rest = self._in_zone(zone, absolute(target), qtype, depth - 1)
                return Answer(rest.rcode, head + rest.records, rest.zone)
            return Answer(NOERROR, head)
        return Answer(NOERROR, zone=zone.name)

    def _choose(self, zone: Zone, records: list[RecordSet], depth: int) -> RecordSet:
        """Route 53's failover rule; a name with a plain record set has just that one."""
        primary = [record for record in records if record.failover == "PRIMARY"]
        secondary = [record for record in records if record.failover == "SECONDARY"]
        if primary and self._is_healthy(zone, primary[0], depth):
            return primary[0]
        if secondary and self._is_healthy(zone, secondary[0], depth):
            return secondary[0]
        return (primary or secondary or records)[0]

    def _is_healthy(self, zone: Zone, record: RecordSet, depth: int) -> bool:
        if record.health_check_id and not self.health.get(record.health_check_id, True):
            return False
        if record.alias_target and record.evaluate_target_health and depth > 0:
            target = record.alias_target
            if self._zone_of(target) is zone:
                candidates = [r for r in zone.at(target) if r.type == record.type]
                return any(self._is_healthy(zone, r, depth - 1) for r in candidates)
        return True

    def _render(self, zone: Zone, qname: str, record: RecordSet, qtype: str,
                depth: int) -> Answer:
        if record.alias_target is None:
            ttl = record.ttl if record.ttl is not None else RESOURCE_TTL
            return Answer(NOERROR, tuple((qname, record.type, ttl, v) for v in record.values))
        target = record.alias_target
        if target in self.names and qtype == "A":
            address, ttl = self.names[target]
            return Answer(NOERROR, ((qname, "A", ttl, address),))
        if self._zone_of(target) is zone and depth > 0:
            found = self._in_zone(zone, target, qtype, depth - 1)
            renamed = tuple((qname, kind, ttl, value) for _, kind, ttl, value in found.records)
            return Answer(found.rcode, renamed, found.zone)
        return Answer(NOERROR, zone=zone.name)  # an alias the lab cannot resolve: no data

    def _zone_of(self, name: str) -> Zone | None:
        matches = [zone for zone in self.zones
                   if name == zone.name or name.endswith("." + zone.name)]
        return max(matches, key=lambda zone: len(zone.name), default=None)

    def soa(self, zone_name: str) -> RecordSet | None:
        for zone in self.zones:
            if zone.name == zone_name:
                return next((r for r in zone.at(zone.name) if r.type == "SOA"), None)
        return None


def _healthy(state: Any) -> bool:
    if isinstance(state, Mapping):
        state = state.get("healthy", state.get("Status", state.get("status")))
    if isinstance(state, str):
        return state.strip().lower() in ("healthy", "success", "true", "ok")
    return bool(state)
