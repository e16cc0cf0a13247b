"""Pulumi mocks shaped like AWS: the outputs the program reads back, and the AZ list.

Offline runs (``infra.offline``) use these instead of a provider; the values are fake but
have AWS's shapes (ARNs, ALB DNS names, validation records), so the program's use of them
is exercised the way a deployment would exercise it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pulumi
from pulumi.runtime import rpc

ROOT = Path(__file__).resolve().parent.parent
SECRET = "[secret]"
ACCOUNT_ID = "123456789012"

# The AZs the mocked provider reports, as (name, state, opt-in status); tests may pass others.
DEFAULT_ZONES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "us-east-1": tuple((f"us-east-1{s}", "available", "opt-in-not-required") for s in "abcdef")
    + (("us-east-1-bos-1a", "available", "opted-in"),),
    "us-west-2": tuple((f"us-west-2{s}", "available", "opt-in-not-required") for s in "abcd")
    + (("us-west-2-lax-1a", "available", "opted-in"),),
}
_FALLBACK_ZONES = ("a", "b", "c")
_ALB_ZONE_IDS = {"us-east-1": "Z35SXDOTRQ7X7K", "us-west-2": "Z1H1FL5HABSF5"}
_NAME_KEYS = ("identifier", "clusterIdentifier", "globalClusterIdentifier", "dashboardName",
              "name")


@dataclass(frozen=True)
class RecordedCall:
    token: str  # e.g. "aws:index/getAvailabilityZones:getAvailabilityZones"
    args: dict
    region: str | None


def physical_name(inputs: Mapping[str, Any]) -> str | None:
    for key in _NAME_KEYS:
        if isinstance(inputs.get(key), str):
            return inputs[key]
    tags = inputs.get("tags")
    return tags.get("Name") if isinstance(tags, Mapping) else None


def render(value: Any) -> Any:
    """Resolved inputs as plain data: secrets masked, assets by path."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, pulumi.AssetArchive):
        return {"assets": {k: render(v) for k, v in value.assets.items()}}
    if isinstance(value, (pulumi.FileAsset, pulumi.FileArchive)):
        path = Path(value.path)
        return {"path": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)}
    if isinstance(value, Mapping):
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [render(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double
    return value


class AwsMocks(pulumi.runtime.Mocks):
    """Outputs shaped like AWS's for the properties the program reads back."""

    def __init__(self, zones: Mapping[str, tuple[tuple[str, str, str], ...]]) -> None:
        self.zones = zones
        self.provider_regions: dict[str, str] = {}  # provider id -> region
        self.calls: list[RecordedCall] = []

    def _region(self, provider_ref: str | None) -> str | None:
        return self.provider_regions.get((provider_ref or "").rsplit("::", 1)[-1])

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = {k: rpc.unwrap_rpc_secret(v) for k, v in args.inputs.items()}
        if args.typ.startswith("pulumi:providers:"):
            provider_id = f"provider-{args.name}"
            self.provider_regions[provider_id] = inputs.get("region")
            return provider_id, inputs
        region = self._region(args.provider) or "unknown-region"
        physical = physical_name(inputs) or args.name
        return physical, {**inputs, **_outputs(args.typ, physical, region, inputs)}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        region = self._region(args.provider)
        self.calls.append(RecordedCall(args.token, render(dict(args.args)), region))
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return _zones(self.zones, region or "", args.args), []
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "id": ACCOUNT_ID, "userId": "AIDAOFFLINE",
                    "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/offline"}, []
        return {}, []


def _zones(table: Mapping, region: str, args: Mapping[str, Any]) -> dict:
    rows = table.get(region) or tuple(
        (f"{region}{s}", "available", "opt-in-not-required") for s in _FALLBACK_ZONES
    )
    wanted_state = args.get("state")
    opt_in = {
        value for f in args.get("filters") or [] if f.get("name") == "opt-in-status"
        for value in f.get("values", [])
    }
    names = [
        name for name, state, status in rows
        if (not wanted_state or state == wanted_state) and (not opt_in or status in opt_in)
    ]
    return {"id": region, "names": names, "zoneIds": [f"use-az{i}" for i in range(len(names))],
            "groupNames": [region] * len(names)}


def _outputs(typ: str, physical: str, region: str, inputs: Mapping[str, Any]) -> dict:
    service = typ.split(":")[1].split("/")[0]
    arn = f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{physical}"
    extra: dict[str, Any] = {"arn": arn}
    if typ == "aws:lb/loadBalancer:LoadBalancer":
        extra.update(dnsName=f"{physical}-1234567890.{region}.elb.amazonaws.com",
                     zoneId=_ALB_ZONE_IDS.get(region, "ZOFFLINEALB"),
                     arnSuffix=f"app/{physical}/50dc6c495c0c9188")
    elif typ == "aws:lb/targetGroup:TargetGroup":
        extra.update(arnSuffix=f"targetgroup/{physical}/73e2d6bc24d8a067")
    elif typ == "aws:acm/certificate:Certificate":
        domain = inputs.get("domainName", "example.com")
        extra.update(domainValidationOptions=[{
            "domainName": domain, "resourceRecordName": f"_0ff1ine.{domain}.",
            "resourceRecordType": "CNAME", "resourceRecordValue": "_0ff1ine.acm-validations.aws.",
        }])
    elif typ == "aws:route53/record:Record":
        extra.update(fqdn=inputs.get("name"))
    elif typ == "aws:rds/cluster:Cluster":
        extra.update(endpoint=f"{physical}.cluster-offline.{region}.rds.amazonaws.com",
                     readerEndpoint=f"{physical}.cluster-ro-offline.{region}.rds.amazonaws.com")
    elif typ == "aws:kms/key:Key":
        extra.update(keyId=f"key-{physical}",
                     arn=f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/key-{physical}")
    elif typ == "aws:lambda/function:Function":
        extra.update(invokeArn=f"arn:aws:apigateway:{region}:lambda:path/functions/{arn}")
    elif typ == "aws:apigateway/restApi:RestApi":
        extra.update(rootResourceId="root0ff1ne",
                     executionArn=f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{physical}")
    elif typ == "aws:apigateway/stage:Stage":
        extra.update(invokeUrl=f"https://{inputs.get('restApi')}.execute-api.{region}"
                               f".amazonaws.com/{inputs.get('stageName')}")
    return extra
