"""Every policy of the pack, importable without starting the pack's analyzer server.

Each policy names the DR invariant it protects; its messages name the resource and the fix.
Thresholds are policy config, so a team can tighten them per stack with
``pulumi preview --policy-pack policies --policy-pack-config <file>.json`` (and
``invoke policy --config <file>.json`` reads the same file).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policies import alarms, compute, database, exposure, traffic

PACK_NAME = "shopsmart-dr"
PACK_DESCRIPTION = "Disaster-recovery invariants of the two ShopSmart stacks"
# A broken invariant surfaces during an outage, when it is too late: block by default.
PACK_ENFORCEMENT = EnforcementLevel.MANDATORY

MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY


def _threshold(key: str, default: int, minimum: int, what: str,
               maximum: int | None = None) -> PolicyConfigSchema:
    schema: dict[str, Any] = {"type": "integer", "default": default, "minimum": minimum,
                              "description": what}
    if maximum is not None:
        schema["maximum"] = maximum
    return PolicyConfigSchema(properties={key: schema})


def _resource(name: str, description: str, validate, level=MANDATORY,
              config: PolicyConfigSchema | None = None) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=level, config_schema=config)


def _stack(name: str, description: str, validate, level=MANDATORY,
           config: PolicyConfigSchema | None = None) -> StackValidationPolicy:
    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=level, config_schema=config)


# Rules that read both stack files (through dr.settings) find them here.
PROJECT_DIR_KEY = "projectDir"
_STACK_FILES = PolicyConfigSchema(properties={PROJECT_DIR_KEY: {
    "type": "string", "default": "",
    "description": "Folder of the two stack files; empty: the project around the pack."}})

POLICIES: list[Policy] = [
    # --- traffic ---------------------------------------------------------------------------
    _resource("failover-record-has-health-check",
              "Every Route 53 failover record has a health check.",
              traffic.failover_record_has_health_check),
    _resource("dns-ttl-at-most",
              "DNS records that route shop traffic have a TTL at most the configured maximum.",
              traffic.dns_ttl_at_most,
              config=_threshold("maxTtlSeconds", traffic.DEFAULT_MAX_TTL_S, 1,
                                "Largest TTL, in seconds, a record may have.")),
    # --- database --------------------------------------------------------------------------
    _stack("aurora-engine-matches-across-stacks",
           "Both stacks run the same Aurora engine and engine version.",
           database.aurora_engine_matches_across_stacks, config=_STACK_FILES),
    _resource("secondary-cluster-without-credentials",
              "A secondary Aurora cluster carries no database name or master credentials.",
              database.secondary_cluster_without_credentials, config=_STACK_FILES),
    _resource("database-protected",
              "Aurora clusters and the global cluster are protected from deletion by Pulumi.",
              database.database_protected),
    _resource("cluster-deletion-protection",
              "Aurora clusters and the global cluster have deletion protection.",
              database.cluster_deletion_protection),
    _resource("cluster-backup-retention",
              "Aurora clusters keep backups for at least the configured number of days.",
              database.cluster_backup_retention,
              config=_threshold("minBackupDays", database.DEFAULT_MIN_BACKUP_DAYS, 1,
                                "Fewest days of automated backups.", maximum=35)),
    _resource("cluster-encrypted-with-kms",
              "Aurora clusters are encrypted with a KMS key.",
              database.cluster_encrypted_with_kms),
    _resource("cluster-ignores-global-membership",
              "Global database members ignore changes to their membership fields.",
              database.cluster_ignores_global_membership),
    # --- compute ---------------------------------------------------------------------------
    _resource("asg-elb-health-check",
              "Auto Scaling groups use ELB health checks with a grace period.",
              compute.asg_elb_health_check,
              config=_threshold("minGracePeriodSeconds", compute.DEFAULT_MIN_GRACE_PERIOD_S, 1,
                                "Shortest health check grace period, in seconds.")),
    _resource("alb-spans-two-azs",
              "The application load balancer spans at least two AZs.",
              compute.alb_spans_two_azs,
              config=_threshold("minAvailabilityZones", compute.DEFAULT_MIN_AZS, 2,
                                "Fewest AZs the load balancer spans.")),
    _stack("one-asg-per-az",
           "Each AZ has exactly one Auto Scaling group, and each group stays in its AZ.",
           compute.one_asg_per_az),
    # --- alarms ----------------------------------------------------------------------------
    _resource("route53-alarms-in-us-east-1",
              "Alarms on AWS/Route53 metrics are created in us-east-1.",
              alarms.route53_alarms_in_us_east_1),
    _resource("alarm-actions-in-alarm-region",
              "An alarm's SNS actions are topics of the alarm's own region.",
              alarms.alarm_actions_in_alarm_region),
    _resource("alarm-treats-missing-data",
              "Every alarm says how to treat missing data.",
              alarms.alarm_treats_missing_data),
    # --- exposure --------------------------------------------------------------------------
    _resource("sns-topic-encrypted",
              "SNS topics are encrypted with a customer managed KMS key.",
              exposure.sns_topic_encrypted),
    _resource("instances-require-imdsv2",
              "Instances and launch templates require IMDSv2.",
              exposure.instances_require_imdsv2),
    _resource("no-world-open-ingress",
              "Nothing is open to the world except the ALB on tcp/80 and tcp/443.",
              exposure.no_world_open_ingress),
    _resource("failover-api-requires-iam",
              "The failover API's methods require IAM authorization.",
              exposure.failover_api_requires_iam),
    _stack("failover-role-no-wildcard-actions",
           "The failover role is allowed no wildcard action.",
           exposure.failover_role_no_wildcard_actions),
]


def by_name() -> dict[str, Policy]:
    return {policy.name: policy for policy in POLICIES}


def default_config(policy: Policy) -> dict[str, Any]:
    """The policy's thresholds as its schema declares them, before any user config."""
    schema = policy.config_schema
    if schema is None:
        return {}
    return {key: spec["default"] for key, spec in schema.properties.items() if "default" in spec}
