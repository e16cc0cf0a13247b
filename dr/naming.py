"""Deterministic physical names and tags.

The Pulumi program declares resources under these names and the runtime finds them through
the same functions, from the stack config alone. That is what lets a failover run with only
the surviving region: nothing is looked up in the failed region, in stack outputs or in the
Pulumi state. Names never contain the role, because the role changes and names must not.
"""

from __future__ import annotations

PROJECT = "shopsmart"
ROUTE53_REGION = "us-east-1"  # Route 53's control plane and its metrics live only here.

EVACUATION_NAMESPACE = "ShopSmart/DR"
EVACUATION_METRIC = "Evacuate"
EVACUATION_DIMENSION = "Region"


def tags(region: str, component: str) -> dict[str, str]:
    return {
        f"{PROJECT}:project": PROJECT,
        f"{PROJECT}:region": region,
        f"{PROJECT}:component": component,
    }


# --- database ------------------------------------------------------------------------------

def global_cluster_id() -> str:
    return f"{PROJECT}-global"


def cluster_id(region: str) -> str:
    return f"{PROJECT}-db-{region}"


def instance_id(region: str, index: int) -> str:
    return f"{cluster_id(region)}-{index}"


def db_subnet_group(region: str) -> str:
    return f"{PROJECT}-db-{region}"


def db_kms_alias(region: str) -> str:
    return f"alias/{PROJECT}-db-{region}"


# --- compute -------------------------------------------------------------------------------

def alb_name(region: str) -> str:
    return f"{PROJECT}-alb-{region}"


def target_group_name(region: str) -> str:
    return f"{PROJECT}-tg-{region}"


def launch_template_name(region: str) -> str:
    return f"{PROJECT}-app-{region}"


def asg_name(region: str, az_index: int) -> str:
    """One Auto Scaling group per AZ, named by the AZ's position among the chosen AZs."""
    return f"{PROJECT}-app-{region}-{az_index}"


def asg_names(region: str, az_count: int) -> list[str]:
    return [asg_name(region, index) for index in range(az_count)]


# --- DNS and evacuation --------------------------------------------------------------------

def endpoint_health_check(region: str) -> str:
    """Name tag of the HTTPS check on the region's ALB."""
    return f"{PROJECT}-{region}-endpoint"


def evacuation_health_check(region: str) -> str:
    """Name tag of the CLOUDWATCH_METRIC check that follows the region's evacuation alarm."""
    return f"{PROJECT}-{region}-evacuation"


def calculated_health_check(region: str) -> str:
    """Name tag of the check the failover record uses: endpoint healthy and not evacuated."""
    return f"{PROJECT}-{region}-calculated"


def evacuation_alarm(region: str) -> str:
    """Alarm on the evacuate metric of ``region``; it lives in the peer region."""
    return f"{PROJECT}-evacuate-{region}"


def record_set_identifier(region: str) -> str:
    return region


# --- alarms and notification ---------------------------------------------------------------

def alarm(region: str, what: str) -> str:
    """Alarm names: ``alb-5xx``, ``unhealthy-hosts-<i>``, ``capacity-<i>``, ``db-writer``,
    ``replication-lag``, ``endpoint-health`` (the last one lives in us-east-1)."""
    return f"{PROJECT}-{region}-{what}"


def topic_name(region: str) -> str:
    return f"{PROJECT}-dr-{region}"


def route53_alarm_topic(region: str) -> tuple[str, str]:
    """(region, name) of the topic for alarms on Route 53 metrics of ``region``'s checks.

    Those alarms must live in us-east-1 and an alarm's SNS action must be in its own region,
    so a stack outside us-east-1 needs a second topic there.
    """
    if region == ROUTE53_REGION:
        return ROUTE53_REGION, topic_name(region)
    return ROUTE53_REGION, f"{topic_name(region)}-route53"


def notification_queue(region: str) -> str:
    """SQS queue the lab subscribes to the region's topic, so tests can read every message."""
    return f"{PROJECT}-dr-{region}-inbox"


def lease_table() -> str:
    """DynamoDB table of run leases; each region has one, the survivor's is used."""
    return f"{PROJECT}-dr-leases"


def dashboard_name(region: str) -> str:
    return f"{PROJECT}-dr-{region}"


# --- automated failover endpoint -----------------------------------------------------------

def failover_function(region: str) -> str:
    return f"{PROJECT}-failover-{region}"


def failover_api(region: str) -> str:
    return f"{PROJECT}-failover-{region}"


def failover_role(region: str) -> str:
    return f"{PROJECT}-failover-{region}"


def failover_schedule(region: str) -> str:
    """EventBridge rule that dry-runs the failover endpoint on a timer (calls nothing)."""
    return f"{PROJECT}-failover-dry-run-{region}"


# --- names the runtime never looks up, kept here so every physical name has one home -----

def database_name() -> str:
    """Database created in the founding cluster; joining clusters inherit it."""
    return PROJECT


def network_name(region: str, what: str) -> str:
    """Name tags of network pieces: ``vpc``, ``public-0``, ``private-1``, ``nat-0`` ..."""
    return f"{PROJECT}-{region}-{what}"


def security_group(region: str, tier: str) -> str:
    """Security groups per tier: ``alb``, ``app``, ``db``."""
    return f"{PROJECT}-{tier}-{region}"
