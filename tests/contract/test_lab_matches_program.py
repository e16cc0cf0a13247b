"""The lab deploys what the Pulumi program declares, wherever the runtime looks it up.

The program runs offline under mocks for both stacks; the lab deploys into its emulator.
For every resource type the runtime finds by name, both must agree on the set of
(type, physical name, region). Route 53 is global: its resources are compared without one.
"""

from __future__ import annotations

from collections import Counter

import pytest

from dr.settings import load_pair

pytestmark = pytest.mark.lab

RUNTIME_FOUND = {
    "aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup",
    "aws:ec2/launchTemplate:LaunchTemplate", "aws:autoscaling/group:Group",
    "aws:rds/globalCluster:GlobalCluster", "aws:rds/subnetGroup:SubnetGroup",
    "aws:rds/cluster:Cluster", "aws:rds/clusterInstance:ClusterInstance",
    "aws:route53/healthCheck:HealthCheck", "aws:route53/record:Record",
    "aws:sns/topic:Topic", "aws:dynamodb/table:Table", "aws:cloudwatch/metricAlarm:MetricAlarm",
}
GLOBAL = {"aws:route53/healthCheck:HealthCheck", "aws:route53/record:Record"}


def comparable(rows, domain: str) -> Counter:
    kept = Counter()
    for type_, name, region in rows:
        if type_ not in RUNTIME_FOUND:
            continue
        if type_ == "aws:route53/record:Record" and name.rstrip(".") != domain:
            continue  # certificate validation records: the runtime never looks them up
        kept[(type_, name.rstrip("."), "global" if type_ in GLOBAL else region)] += 1
    return kept


@pytest.fixture(scope="module")
def program_rows() -> list[tuple[str, str, str]]:
    offline = pytest.importorskip("infra.offline")
    rows = []
    for stack in ("primary", "secondary"):
        recording = offline.run_stack(stack)
        rows += [(r.type, r.physical_name, r.region) for r in recording.resources
                 if r.physical_name]
    return rows


def test_every_runtime_found_resource_has_the_same_name_type_and_region(
        program_rows, lab_deployment) -> None:
    domain = load_pair(".").primary.domain
    program = comparable(program_rows, domain)
    lab = comparable(lab_deployment.resources, domain)

    assert sum(lab.values()) >= 40
    assert sorted((lab - program).elements()) == [], "deployed by the lab, not declared"
    assert sorted((program - lab).elements()) == [], "declared, not deployed by the lab"


def test_the_comparison_covers_every_kind_the_runtime_finds(program_rows) -> None:
    declared = {type_ for type_, _, _ in program_rows}
    assert RUNTIME_FOUND <= declared
