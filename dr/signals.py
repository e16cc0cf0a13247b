"""Independent signals of a region's failure, and the evidence they add up to.

Each source answers on its own: Route 53's view of the region's endpoint, the region's
CloudWatch alarms, an HTTPS probe from here, the Aurora cluster's status, what the zone's DNS
servers answer for the shop's name, and AWS Health. A source that cannot be asked (its API
is down, throttled past retries, or slower than the bound) says "no-answer", never "failed":
silence is not proof, and the rule "k of n failed" must not be met by an outage of the
monitoring alone. Sources run in parallel, each with a bounded timeout, so one dead API
costs seconds, not the whole assessment.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence


from dr import naming
from dr.addresses import ShopAddresses, shop_addresses
from dr.aws import Target, error_code, is_unreachable
from dr.probe import ProbeError, https_get, resolve_a
from dr.settings import EvidenceRule, StackPair, StackSettings

logger = logging.getLogger(__name__)

FAILED = "failed"
OK = "ok"
NO_ANSWER = "no-answer"
VERDICTS = (FAILED, OK, NO_ANSWER)

ROUTE53 = "route53-health-check"
ALARMS = "cloudwatch-alarms"
PROBE = "https-probe"
CLUSTER = "aurora-cluster"
DNS = "dns-answer"
AWS_HEALTH = "aws-health"
SOURCES = (ROUTE53, ALARMS, PROBE, CLUSTER, DNS, AWS_HEALTH)

# Route 53 deems an endpoint healthy when more than 18% of its checkers say so.
ROUTE53_HEALTHY_FRACTION = 0.18
THROTTLING = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "PriorRequestNotComplete", "SlowDown",
})
# Cluster states in which the database is not serving; transitional states are not failure.
CLUSTER_DOWN = frozenset({
    "failed", "inaccessible-encryption-credentials",
    "inaccessible-encryption-credentials-recoverable", "incompatible-network",
    "incompatible-parameters", "incompatible-restore", "stopped", "stopping", "storage-full",
})


@dataclass(frozen=True)
class Signal:
    """One source's verdict on the suspect region, with what it saw in words."""

    source: str
    verdict: str
    detail: str
    observed_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, found {self.verdict!r}")

    @property
    def failed(self) -> bool:
        return self.verdict == FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "verdict": self.verdict, "detail": self.detail,
            "observed_at": datetime.fromtimestamp(self.observed_at, timezone.utc).isoformat(),
        }


@dataclass(frozen=True)
class Evidence:
    """The signals gathered about ``region`` (the suspect) as seen from ``observer``."""

    region: str
    observer: str
    signals: tuple[Signal, ...]

    @property
    def counts(self) -> Mapping[str, int]:
        return {verdict: sum(s.verdict == verdict for s in self.signals) for verdict in VERDICTS}

    @property
    def failed(self) -> tuple[Signal, ...]:
        return tuple(s for s in self.signals if s.failed)

    @property
    def first_failed_at(self) -> float | None:
        """When the first failed signal was observed (the start of detection)."""
        return min((s.observed_at for s in self.failed), default=None)

    def signal(self, source: str) -> Signal:
        for signal in self.signals:
            if signal.source == source:
                return signal
        raise KeyError(source)

    def meets(self, rule: EvidenceRule) -> bool:
        """True when at least ``rule.required`` signals failed among at least ``rule.of``
        consulted; "no-answer" and "ok" never count toward ``required``."""
        return len(self.signals) >= rule.of and len(self.failed) >= rule.required

    def summary(self, rule: EvidenceRule | None = None) -> str:
        counts = self.counts
        words = (f"{counts[FAILED]} of {len(self.signals)} signals say {self.region} failed"
                 f" ({counts[OK]} ok, {counts[NO_ANSWER]} no answer)")
        if rule is not None:
            verdict = "met" if self.meets(rule) else "not met"
            words += f"; rule {rule.required} of {rule.of}: {verdict}"
        return words

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "observer": self.observer, "counts": dict(self.counts),
                "signals": [s.to_dict() for s in self.signals]}


class BoundedClients:
    """The clients of one reading: pooled (made once) and bounded, so that a silent API costs
    ``timeout_s`` and one retry, not botocore's default minutes."""

    def __init__(self, target: Target, timeout_s: float, max_attempts: int = 2) -> None:
        # The target shares one boto3 session (dr.aws); clients are also made only once.
        self.target = target
        self.bounds = {"connect_timeout": min(2.0, timeout_s), "read_timeout": timeout_s,
                       "retries": {"mode": "standard", "max_attempts": max_attempts}}
        self._lock = threading.Lock()
        self._made: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            if (service, region) not in self._made:
                self._made[(service, region)] = self.target.client(service, region,
                                                                   **self.bounds)
            return self._made[(service, region)]


@dataclass(frozen=True)
class _Ask:
    """What every source needs: where calls go and which region is under suspicion."""

    target: Target
    clients: BoundedClients
    suspect: StackSettings
    survivor: StackSettings
    addresses: ShopAddresses
    timeout_s: float

    def client(self, service: str, region: str) -> Any:
        return self.clients.client(service, region)


def collect_evidence(target: Target, pair: StackPair, *, region: str | None = None,
                     addresses: ShopAddresses | None = None, timeout_s: float = 5.0,
                     sources: Sequence[str] = SOURCES, lab_dir: str | None = None) -> Evidence:
    """Ask every source, in parallel, whether ``region`` (default: the configured primary)
    has failed, as seen from its peer (the survivor).

    Each call is bounded by ``timeout_s`` (one retry); a source still asking after three
    times that says "no-answer". addresses: where the data-plane sources look; by default
    from the running lab's state (lab target, ``lab_dir``) or the regions' load balancers.
    """
    unknown = [name for name in sources if name not in _SOURCES]
    if unknown:
        raise ValueError(f"unknown evidence sources {unknown}: use some of {SOURCES}")
    suspect = pair.by_region(region or pair.primary.region)
    survivor = pair.by_region(suspect.peer_region)
    if addresses is None:
        addresses = shop_addresses(target, pair, lab_dir=lab_dir, timeout_s=timeout_s)
    clients = BoundedClients(target, timeout_s)
    ask = _Ask(target, clients, suspect, survivor, addresses, timeout_s)

    pool = ThreadPoolExecutor(max_workers=len(sources), thread_name_prefix="evidence")
    futures = {name: pool.submit(_answer, name, ask) for name in sources}
    wait(futures.values(), timeout=timeout_s * 3)
    pool.shutdown(wait=False, cancel_futures=True)
    signals = []
    for name, future in futures.items():
        if future.done():
            signals.append(future.result())
        else:
            signals.append(Signal(name, NO_ANSWER, f"gave no answer within {timeout_s * 3:g} s"))
    evidence = Evidence(suspect.region, survivor.region, tuple(signals))
    for signal in evidence.signals:
        logger.info("evidence %s: %s (%s)", signal.source, signal.verdict, signal.detail)
    return evidence


def _answer(name: str, ask: _Ask) -> Signal:
    try:
        verdict, detail = _SOURCES[name](ask)
    except Exception as err:  # any failure to ask is silence, never proof of failure
        return Signal(name, NO_ANSWER, why_silent(err))
    return Signal(name, verdict, detail)


def why_silent(err: BaseException) -> str:
    """Why a call gave no evidence, in a few words (unreachable, throttled, an AWS error)."""
    code = error_code(err)
    if is_unreachable(err):
        return f"API did not answer ({type(err).__name__})"
    if code in THROTTLING:
        return f"throttled ({code}) after retries"
    if code is not None:
        message = err.response.get("Error", {}).get("Message", "")  # type: ignore[attr-defined]
        return _short(f"API answered {code}: {message}" if message else f"API answered {code}")
    return _short(f"could not ask: {err}")


def _short(words: str, limit: int = 160) -> str:
    """The first line, cut to ``limit``: an error page must not drown the evidence table."""
    line = words.strip().splitlines()[0] if words.strip() else words
    return line if len(line) <= limit else line[:limit - 1] + "…"


# --- sources -------------------------------------------------------------------------------

def _route53(ask: _Ask) -> tuple[str, str]:
    route53 = ask.client("route53", naming.ROUTE53_REGION)
    name = naming.endpoint_health_check(ask.suspect.region)
    check_id = find_health_check(route53, name)
    if check_id is None:
        return NO_ANSWER, f"no health check tagged Name={name}"
    observations = route53.get_health_check_status(HealthCheckId=check_id)[
        "HealthCheckObservations"]
    if not observations:
        return NO_ANSWER, f"{name} has no checker observations yet"
    healthy = sum(o["StatusReport"]["Status"].startswith("Success") for o in observations)
    share = f"{healthy} of {len(observations)} checkers report healthy"
    if healthy / len(observations) > ROUTE53_HEALTHY_FRACTION:
        return OK, f"{name}: {share}"
    return FAILED, f"{name}: {share}"


def find_health_check(route53: Any, name: str) -> str | None:
    """The id of the Route 53 health check tagged ``Name=name``, or None."""
    return health_check_ids(route53).get(name)


def health_check_ids(route53: Any) -> dict[str, str]:
    """Name tag -> id of every Route 53 health check that has a Name tag."""
    ids = []
    for page in route53.get_paginator("list_health_checks").paginate():
        ids.extend(check["Id"] for check in page["HealthChecks"])
    named = {}
    for start in range(0, len(ids), 10):
        tag_sets = route53.list_tags_for_resources(
            ResourceType="healthcheck", ResourceIds=ids[start:start + 10])["ResourceTagSets"]
        for tag_set in tag_sets:
            for tag in tag_set.get("Tags", []):
                if tag["Key"] == "Name":
                    named[tag["Value"]] = tag_set["ResourceId"]
    return named


def _alarms(ask: _Ask) -> tuple[str, str]:
    # The survivor first: alarms about the suspect that live there stay readable when the
    # suspect's own APIs are down: those on Route 53 metrics (in us-east-1), and the
    # survivor's replication-lag alarm, which breaches when the writer stops replicating.
    prefix = naming.alarm(ask.suspect.region, "")
    lag_alarm = naming.alarm(ask.survivor.region, "replication-lag")
    own: dict[str, str] = {}
    lag: dict[str, str] = {}
    silent = []
    for region in (ask.survivor.region, ask.suspect.region):
        try:
            cloudwatch = ask.client("cloudwatch", region)
            own.update(read_alarm_states(cloudwatch, prefix))
            # The suspect is the writer: its own lag alarm (from its days as a replica)
            # breaches when nothing replicates into it, which is no sign of its failure.
            own.pop(naming.alarm(ask.suspect.region, "replication-lag"), None)
            if region == ask.survivor.region:
                lag.update(read_alarm_states(cloudwatch, lag_alarm))
        except Exception as err:
            silent.append(f"{region}: {why_silent(err)}")
    firing = sorted(name for name, state in {**own, **lag}.items() if state == "ALARM")
    unread = f"; not read from {'; '.join(silent)}" if silent else ""
    if firing:
        return FAILED, f"in ALARM: {', '.join(firing)} ({len(own) + len(lag)} alarms read){unread}"
    if not own:
        # A quiet lag alarm alone says nothing about the suspect's own components.
        where = "; ".join(silent) or f"none named {prefix}* in either region"
        return NO_ANSWER, f"no alarm of {ask.suspect.region} read ({where})"
    return OK, f"none of {len(own) + len(lag)} alarms in ALARM{unread}"


def read_alarm_states(cloudwatch: Any, prefix: str) -> dict[str, str]:
    """Alarm name -> state (OK, ALARM, INSUFFICIENT_DATA) of the metric alarms under prefix."""
    states = {}
    for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix):
        for alarm in page["MetricAlarms"]:
            states[alarm["AlarmName"]] = alarm["StateValue"]
    return states


def _probe(ask: _Ask) -> tuple[str, str]:
    endpoint = ask.addresses.endpoints.get(ask.suspect.region)
    if endpoint is None:
        return NO_ANSWER, f"no endpoint address known for {ask.suspect.region}"
    host, port = endpoint
    path = ask.suspect.dns.health_path
    try:
        answer = https_get(host, port, path, ask.suspect.domain, timeout_s=ask.timeout_s)
    except ProbeError as err:
        # The endpoint not answering is exactly what this source measures.
        return FAILED, str(err)
    words = f"https://{host}:{port}{path} answered {answer.status} {answer.reason}"
    return (OK if answer.healthy else FAILED), words


def _cluster(ask: _Ask) -> tuple[str, str]:
    cluster = naming.cluster_id(ask.suspect.region)
    try:
        found = ask.client("rds", ask.suspect.region).describe_db_clusters(
            DBClusterIdentifier=cluster)["DBClusters"][0]
    except Exception as err:
        return NO_ANSWER, f"{cluster}: {why_silent(err)}; {_global_view(ask, cluster)}"
    status = found["Status"]
    if status in CLUSTER_DOWN:
        return FAILED, f"{cluster} is {status}"
    return OK, f"{cluster} is {status}"


def _global_view(ask: _Ask, cluster: str) -> str:
    try:
        clusters = ask.client("rds", ask.survivor.region).describe_global_clusters(
            GlobalClusterIdentifier=naming.global_cluster_id())["GlobalClusters"]
    except Exception as err:
        return f"global cluster from {ask.survivor.region}: {why_silent(err)}"
    if not clusters:
        return f"{ask.survivor.region} knows no global cluster {naming.global_cluster_id()}"
    found = clusters[0]
    writer = [m["DBClusterArn"] for m in found["GlobalClusterMembers"] if m.get("IsWriter")]
    names = ", ".join(arn.rsplit(":", 1)[-1] for arn in writer) or "no writer"
    return f"from {ask.survivor.region} the global cluster is {found['Status']}, writer {names}"


def _dns(ask: _Ask) -> tuple[str, str]:
    name = ask.suspect.domain
    if not ask.addresses.dns_servers:
        return NO_ANSWER, f"no DNS server known for {name}"
    problems = []
    for host, port in ask.addresses.dns_servers:
        try:
            answer = resolve_a(name, host, port, timeout_s=min(2.0, ask.timeout_s))
        except ProbeError as err:
            problems.append(str(err))
            continue
        mine = set(ask.addresses.region_ips.get(ask.suspect.region, ()))
        peers = set(ask.addresses.region_ips.get(ask.survivor.region, ()))
        shown = ", ".join(answer) or "no address"
        if mine & set(answer):
            return OK, f"{name} answers {shown} ({ask.suspect.region})"
        if peers & set(answer):
            return FAILED, (f"{name} answers {shown} ({ask.survivor.region}): Route 53 judges"
                            f" {ask.suspect.region} unhealthy or evacuated")
        return NO_ANSWER, f"{name} answers {shown}, an address of neither region"
    return NO_ANSWER, "; ".join(problems)


def _aws_health(ask: _Ask) -> tuple[str, str]:
    if ask.target.is_lab:
        return NO_ANSWER, "AWS Health is not emulated by the lab"
    # AWS Health's API is global; it needs a Business or Enterprise support plan.
    health = ask.client("health", "us-east-1")
    events = health.describe_events(filter={
        "regions": [ask.suspect.region], "eventStatusCodes": ["open"],
        "eventTypeCategories": ["issue"],
    })["events"]
    if events:
        shown = ", ".join(sorted({f"{e['service']} {e['eventTypeCode']}" for e in events}))
        return FAILED, f"open issues in {ask.suspect.region}: {shown}"
    return OK, f"no open AWS Health issue in {ask.suspect.region}"


_SOURCES: dict[str, Callable[[_Ask], tuple[str, str]]] = {
    ROUTE53: _route53, ALARMS: _alarms, PROBE: _probe, CLUSTER: _cluster, DNS: _dns,
    AWS_HEALTH: _aws_health,
}
