"""Flipping a stack's role changes exactly the role's resources, nothing that holds data.

Each stack is run as recorded in its file and with the role flipped; the two recordings
are compared resource by resource (by URN). What a flip may change is written out in full,
so anything else that starts to depend on the role fails here.
"""

from __future__ import annotations

import pytest

from infra.offline import Recording, run_stack


def flipped(role: str) -> str:
    return "secondary" if role == "primary" else "primary"


def diff(before: Recording, after: Recording) -> dict:
    old = {r.urn: r for r in before.resources}
    new = {r.urn: r for r in after.resources}
    changed = {}
    for urn in old.keys() & new.keys():
        a, b = old[urn], new[urn]
        keys = sorted(k for k in a.inputs.keys() | b.inputs.keys()
                      if a.inputs.get(k) != b.inputs.get(k))
        if keys:
            changed[a.name] = {k: (a.inputs.get(k), b.inputs.get(k)) for k in keys}
        assert (a.region, a.provider, a.protect, a.ignore_changes, a.parent) == (
            b.region, b.provider, b.protect, b.ignore_changes, b.parent), a.name
    return {
        "removed": sorted(old[u].name for u in old.keys() - new.keys()),
        "added": sorted(new[u].name for u in new.keys() - old.keys()),
        "changed": changed,
    }


@pytest.fixture(scope="module")
def flips() -> dict[str, dict]:
    result = {}
    for stack in ("primary", "secondary"):
        as_filed = run_stack(stack)
        other = run_stack(stack, overrides={"role": flipped(as_filed.outputs["role"])})
        result[stack] = diff(as_filed, other)
    return result


def test_primary_stack_flipped_to_secondary_changes_record_capacity_and_db_alarms(flips):
    assert flips["primary"] == {
        "removed": ["alarms-db-writer"],
        "added": ["alarms-replication-lag"],
        "changed": {
            "dns-record": {"failoverRoutingPolicies": ([{"type": "PRIMARY"}],
                                                       [{"type": "SECONDARY"}])},
            "compute-asg-0": {"desiredCapacity": (2, 1), "minSize": (2, 1)},
            "compute-asg-1": {"desiredCapacity": (2, 1), "minSize": (2, 1)},
            "alarms-capacity-0": {"threshold": (2, 1)},
            "alarms-capacity-1": {"threshold": (2, 1)},
        },
    }


def test_secondary_stack_flipped_to_primary_changes_the_same_things_back(flips):
    assert flips["secondary"] == {
        "removed": ["alarms-replication-lag"],
        "added": ["alarms-db-writer"],
        "changed": {
            "dns-record": {"failoverRoutingPolicies": ([{"type": "SECONDARY"}],
                                                       [{"type": "PRIMARY"}])},
            "compute-asg-0": {"desiredCapacity": (1, 2), "minSize": (1, 2)},
            "compute-asg-1": {"desiredCapacity": (1, 2), "minSize": (1, 2)},
            "alarms-capacity-0": {"threshold": (1, 2)},
            "alarms-capacity-1": {"threshold": (1, 2)},
        },
    }


@pytest.mark.parametrize("stack", ["primary", "secondary"])
def test_a_flip_moves_no_database_resource_nor_credentials(flips, stack):
    touched = flips[stack]["changed"].keys() | set(flips[stack]["removed"]) | set(
        flips[stack]["added"])
    assert not [name for name in touched if name.startswith(("database", "network", "lease",
                                                              "trigger"))]


@pytest.mark.parametrize("stack, owns_global", [("primary", True), ("secondary", False)])
def test_global_cluster_ownership_and_credentials_stay_with_the_home_stack(stack, owns_global):
    for role in ("primary", "secondary"):
        run = run_stack(stack, overrides={"role": role})
        assert bool(run.of_type("aws:rds/globalCluster:GlobalCluster")) is owns_global
        cluster = run.named("database-cluster")
        assert ("masterPassword" in cluster.inputs) is owns_global
        assert cluster.urn == (
            f"urn:pulumi:{stack}::shopsmart::shopsmart:database:Database$"
            f"aws:rds/cluster:Cluster::database-cluster")
        assert cluster.physical_name == f"shopsmart-db-{run.outputs['region']}"
