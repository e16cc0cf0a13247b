"""Traffic during a failover: evacuate the failed region, fence it, verify the survivor.

Evacuation goes through the data plane only: the engine publishes the ``Evacuate`` metric
in the *surviving* region, whose alarm fails the evacuated region's calculated Route 53
health check, so DNS answers with the survivor even when the failed region's APIs and Route
53's control plane are down. Fencing the old writer's compute is best effort: it needs the
failed region's API, and when that does not answer, Aurora's own write fencing (a promoted
secondary takes the writes; the old writer is cut off from the global database) is all
there is, and the result says so.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

from dr import naming
from dr.addresses import ShopAddresses
from dr.aws import Target
from dr.probe import ProbeError, https_get, resolve_a
from dr.settings import StackSettings
from dr.waiting import Observation, Timeouts, WaitTimedOut, call, describe_error, wait_for
from dr.waiting import is_transient

logger = logging.getLogger(__name__)

# The app's write endpoint: an order placed through the public name proves the app works.
WRITE_PATH = "/orders"


class TrafficError(RuntimeError):
    """Base of the traffic failures a user can act on."""


class EvacuationSwitchMissing(TrafficError):
    def __init__(self, alarm: str, region: str) -> None:
        super().__init__(
            f"the evacuation alarm {alarm} was not found in {region}; it is declared by the"
            f" stack of {region} (infra alarms): deploy it, or shift traffic by hand"
        )


class EvacuationNotEffective(TrafficError):
    """The switch was thrown but its alarm did not go to ALARM in time."""


class SurvivorNotServing(TrafficError):
    """DNS, HTTP or the write through the public name did not reach the survivor in time."""


@dataclass(frozen=True)
class Serving:
    """The survivor answers through the public name: DNS, health path and a write."""

    region: str
    name: str
    dns_server: str
    addresses: tuple[str, ...]
    health_status: int
    write_status: int
    write_answer: str
    duration_s: float

    def summary(self) -> str:
        return (
            f"{self.name} resolves to {', '.join(self.addresses)} ({self.region}) via"
            f" {self.dns_server}; health {self.health_status}, order write"
            f" {self.write_status} ({self.duration_s:.1f} s)"
        )


# --- evacuate and fence --------------------------------------------------------------------

def evacuate_region(target: Target, evacuated: str, survivor: str, timeouts: Timeouts) -> str:
    """Publish ``Evacuate=1`` for ``evacuated`` in ``survivor`` and wait for its alarm.

    Returns the alarm's state. Idempotent: publishing again only adds a datapoint.
    """
    cloudwatch = target.client("cloudwatch", survivor)
    alarm = naming.evacuation_alarm(evacuated)
    found = call(lambda: cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"],
                 what=f"read alarm {alarm}", timeout_s=timeouts.call_s, poll_s=timeouts.poll_s)
    if not found:
        raise EvacuationSwitchMissing(alarm, survivor)
    logger.info("evacuating %s: publishing %s/%s=1 in %s", evacuated,
                naming.EVACUATION_NAMESPACE, naming.EVACUATION_METRIC, survivor)

    def publish() -> None:
        cloudwatch.put_metric_data(
            Namespace=naming.EVACUATION_NAMESPACE,
            MetricData=[{
                "MetricName": naming.EVACUATION_METRIC,
                "Dimensions": [{"Name": naming.EVACUATION_DIMENSION, "Value": evacuated}],
                "Value": 1.0,
                "Unit": "Count",
            }],
        )

    call(publish, what="publish the evacuate metric", timeout_s=timeouts.call_s,
         poll_s=timeouts.poll_s)
    published_at = time.monotonic()

    def look() -> Observation[str]:
        # Keep the switch thrown while waiting: one datapoint per alarm period is enough.
        if time.monotonic() - published_at > timeouts.poll_s * 4:
            publish()
        state = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]
        return Observation(state == "ALARM", f"{alarm} {state}", state)

    try:
        seen = wait_for(
            look, what=f"{alarm} to go to ALARM", timeout_s=timeouts.traffic_s,
            poll_s=timeouts.poll_s, progress_s=timeouts.progress_s,
            remedy=f"check the alarm's metric and period in {survivor}",
        )
    except WaitTimedOut as error:
        raise EvacuationNotEffective(str(error)) from None
    return seen.value or "ALARM"


def return_region(target: Target, region: str, peer: str,
                  timeouts: Timeouts) -> tuple[bool, str]:
    """Turn ``region``'s own evacuation switch off (``Evacuate=0`` in ``peer``, where its
    alarm lives) if ``peer``'s API answers; (off, in words).

    A switch thrown by an earlier run stays thrown: its alarm falls to INSUFFICIENT_DATA
    and the health check keeps its last known status. A region taking over with its switch
    still thrown leaves Route 53 with two unhealthy regions, and then it answers with the
    PRIMARY record, dead or not.
    """
    alarm = naming.evacuation_alarm(region)
    # Few, short attempts: during an outage ``peer`` is the dead region.
    cloudwatch = target.client("cloudwatch", peer, connect_timeout=2,
                               retries={"mode": "standard", "max_attempts": 2})
    deadline_s = min(timeouts.call_s, max(timeouts.poll_s * 6, 1.0))

    def state() -> str:
        return cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"]

    def publish() -> None:
        cloudwatch.put_metric_data(Namespace=naming.EVACUATION_NAMESPACE, MetricData=[{
            "MetricName": naming.EVACUATION_METRIC,
            "Dimensions": [{"Name": naming.EVACUATION_DIMENSION, "Value": region}],
            "Value": 0.0, "Unit": "Count"}])

    try:
        if call(state, what=f"read alarm {alarm}", timeout_s=deadline_s,
                poll_s=timeouts.poll_s) == "OK":
            return True, f"{region}'s evacuation switch is off ({alarm} OK in {peer})"
        logger.info("turning %s's evacuation switch off: publishing %s/%s=0 in %s", region,
                    naming.EVACUATION_NAMESPACE, naming.EVACUATION_METRIC, peer)
        call(publish, what="publish the evacuate metric", timeout_s=deadline_s,
             poll_s=timeouts.poll_s)

        def look() -> Observation[str]:
            seen = state()
            if seen != "OK":
                publish()  # one datapoint per alarm period keeps it evaluating
            return Observation(seen == "OK", f"{alarm} {seen}", seen)

        wait_for(look, what=f"{alarm} to go to OK", timeout_s=timeouts.traffic_s,
                 poll_s=timeouts.poll_s, progress_s=timeouts.progress_s,
                 remedy=f"check the alarm's metric and period in {peer}")
    except Exception as err:  # noqa: BLE001 - recorded; the run goes on
        return False, (f"{region}'s evacuation switch in {peer} not turned off"
                       f" ({describe_error(err)})")
    return True, f"{region}'s evacuation switch turned off ({alarm} OK in {peer})"


def holds_primary_record(target: Target, stack: StackSettings,
                         timeouts: Timeouts) -> bool | None:
    """Whether ``stack``'s region holds the PRIMARY failover record of the shop's name;
    None when Route 53's API does not say."""
    route53 = target.client("route53", naming.ROUTE53_REGION, connect_timeout=2,
                            retries={"mode": "standard", "max_attempts": 2})
    try:
        records = call(lambda: route53.list_resource_record_sets(
            HostedZoneId=stack.hosted_zone_id, StartRecordName=stack.domain,
            StartRecordType="A")["ResourceRecordSets"],
            what="read the failover records", timeout_s=timeouts.call_s,
            poll_s=timeouts.poll_s)
    except Exception as err:  # noqa: BLE001 - unknown means "evacuate as usual"
        logger.info("failover records not read: %s", describe_error(err))
        return None
    for record in records:
        if record.get("SetIdentifier") == naming.record_set_identifier(stack.region):
            return record.get("Failover") == "PRIMARY"
    return None


def fence_compute(target: Target, stack: StackSettings, timeouts: Timeouts) -> tuple[bool, str]:
    """Scale the failed region's groups to zero if its API answers; (fenced, in words)."""
    region = stack.region
    names = naming.asg_names(region, stack.az_count)
    # Few, short attempts: a dead region must cost seconds here, not the step's whole bound.
    autoscaling = target.client("autoscaling", region, connect_timeout=2,
                                retries={"mode": "standard", "max_attempts": 2})
    deadline_s = min(timeouts.call_s, max(timeouts.poll_s * 6, 1.0))
    try:
        for name in names:
            call(
                lambda name=name: autoscaling.update_auto_scaling_group(
                    AutoScalingGroupName=name, MinSize=0, DesiredCapacity=0
                ),
                what=f"fence {name}", timeout_s=deadline_s, poll_s=timeouts.poll_s,
            )
    except Exception as error:  # noqa: BLE001 - any failure here leaves Aurora's fencing
        if not is_transient(error) and "ValidationError" not in describe_error(error):
            raise
        words = (
            f"compute in {region} not fenced ({describe_error(error)}): fencing relied on"
            " Aurora's write fencing of the old primary"
        )
        logger.warning("%s", words)
        return False, words
    return True, f"compute in {region} fenced ({', '.join(names)} scaled to 0)"


# --- verify --------------------------------------------------------------------------------

def verify_serving(
    survivor: StackSettings, addresses: ShopAddresses, timeouts: Timeouts,
    order: dict[str, Any] | None = None,
) -> Serving:
    """Wait until the shop's name resolves to the survivor, its health path answers 200 and
    an order can be written through it."""
    if not addresses.dns_servers:
        raise SurvivorNotServing(
            f"no authoritative DNS server is known for {survivor.domain}; on the lab, is the"
            " lab DNS running (`invoke lab.up`)?"
        )
    started = time.monotonic()
    port = _port(survivor.region, addresses)
    name = survivor.domain
    body = order or {"client_id": "dr-verify", "sequence": int(time.time() * 1000),
                     "item": "failover verification"}

    def look() -> Observation[Serving]:
        problems = []
        for host, dns_port in addresses.dns_servers:
            try:
                answer = resolve_a(name, host, dns_port, timeout_s=min(2.0, timeouts.call_s))
            except ProbeError as error:
                problems.append(str(error))
                continue
            region = addresses.region_of(answer)
            if region != survivor.region:
                shown = ", ".join(answer) or "no address"
                return Observation(False, f"{name} answers {shown} ({region or 'unknown'})")
            address = answer[0]
            try:
                health = https_get(address, port, survivor.dns.health_path, name,
                                   timeout_s=min(3.0, timeouts.call_s))
            except ProbeError as error:
                return Observation(False, f"health path: {error}")
            if health.status != 200:
                return Observation(False, f"health path answered {health.status}")
            try:
                status, text = https_post(address, port, WRITE_PATH, name, body,
                                          timeout_s=min(5.0, timeouts.call_s))
            except ProbeError as error:
                return Observation(False, f"order write: {error}")
            if not 200 <= status < 300:
                return Observation(False, f"order write answered {status}: {text[:120]}")
            stored_in = _region_of_order(text)
            if stored_in not in (None, survivor.region):
                return Observation(False, f"order was stored in {stored_in}")
            serving = Serving(survivor.region, name, f"{host}:{dns_port}", tuple(answer),
                              health.status, status, text[:200],
                              round(time.monotonic() - started, 3))
            return Observation(True, "serving", serving)
        return Observation(False, "; ".join(problems))

    try:
        seen = wait_for(
            look, what=f"{name} to be served by {survivor.region}", timeout_s=timeouts.traffic_s,
            poll_s=timeouts.poll_s, progress_s=timeouts.progress_s,
            remedy="check the calculated health checks and the app in the surviving region",
        )
    except WaitTimedOut as error:
        raise SurvivorNotServing(str(error)) from None
    assert seen.value is not None
    return seen.value


def _region_of_order(text: str) -> str | None:
    """The region the app says stored the order, when it says (the lab's app does)."""
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document.get("region") if isinstance(document, dict) else None


def _port(region: str, addresses: ShopAddresses) -> int:
    endpoint = addresses.endpoints.get(region)
    return endpoint[1] if endpoint else 443


def https_post(host: str, port: int, path: str, host_header: str, document: dict[str, Any],
               timeout_s: float = 5.0) -> tuple[int, str]:
    """POST a JSON document over HTTPS, certificate unchecked as the health checkers do."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(host, port, timeout=timeout_s, context=context)
    payload = json.dumps(document).encode()
    try:
        connection.request("POST", path, body=payload, headers={
            "Host": host_header, "Content-Type": "application/json",
        })
        response = connection.getresponse()
        text = response.read(64 * 1024).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as error:
        raise ProbeError(f"POST https://{host}:{port}{path} gave no answer: {error}") from error
    finally:
        connection.close()
    return response.status, text
