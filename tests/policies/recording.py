"""The shipped stacks as the program declares them, and single edits of them that break
one invariant at a time."""

from __future__ import annotations

import dataclasses
from typing import Any

from infra.offline import RecordedResource

OPTIONS = ("protect", "ignore_changes", "region", "parent", "provider")


def find(resources, type_: str, name_part: str = "") -> RecordedResource:
    """The one resource of ``type_`` whose name contains ``name_part``."""
    found = [r for r in resources if r.type == type_ and name_part in r.name]
    assert len(found) == 1, f"expected one {type_} named *{name_part}*, found {found}"
    return found[0]


def change(resources, type_: str, name_part: str = "", *, drop: tuple[str, ...] = (),
           **changes: Any) -> list[RecordedResource]:
    """``resources`` with one resource's inputs (or its options) changed.

    Keyword arguments named like an option (``protect``, ``ignore_changes``, ``region``,
    ``parent``, ``provider``) replace that option; the others replace inputs; ``drop``
    removes inputs."""
    target = find(resources, type_, name_part)
    fields = OPTIONS
    inputs = {k: v for k, v in target.inputs.items() if k not in drop}
    inputs.update({k: v for k, v in changes.items() if k not in fields})
    changed = dataclasses.replace(
        target, inputs=inputs, **{k: v for k, v in changes.items() if k in fields})
    return [changed if r is target else r for r in resources]


def add(resources, beside: RecordedResource, type_: str, name: str,
        inputs: dict[str, Any]) -> list[RecordedResource]:
    """``resources`` plus a new resource, declared like ``beside`` (same parent, provider)."""
    stack, project, qualified_type, _ = beside.urn.split("::")
    parents = qualified_type.rsplit("$", 1)[0] + "$" if "$" in qualified_type else ""
    new = dataclasses.replace(
        beside, type=type_, name=name, urn=f"{stack}::{project}::{parents}{type_}::{name}",
        physical_name=inputs.get("name"), inputs=inputs, protect=False, ignore_changes=())
    return [*resources, new]
