"""What the failover Lambda runs: the ``dr`` engine (without the lab), the two stack files it
finds resources from, and ruamel.yaml, which the Lambda runtime lacks (boto3 it has)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pulumi

from dr.settings import STACKS, stack_file

HANDLER = "dr.handler.handle"
# The lab emulates AWS and never runs inside it; clibz is ruamel's optional C build.
SKIPPED_DIRS = {"__pycache__", "lab", "clibz"}


def lambda_archive(project_dir: Path) -> pulumi.AssetArchive:
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}
    _add_tree(assets, project_dir / "dr", "dr")
    yaml_dir = Path(importlib.util.find_spec("ruamel.yaml").submodule_search_locations[0])
    _add_tree(assets, yaml_dir, "ruamel/yaml")
    for stack in STACKS:
        path = stack_file(project_dir, stack)
        assets[path.name] = pulumi.FileAsset(str(path))
    return pulumi.AssetArchive(dict(sorted(assets.items())))


def _add_tree(assets: dict, root: Path, prefix: str) -> None:
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if SKIPPED_DIRS.isdisjoint(relative.parts[:-1]):
            assets[f"{prefix}/{relative.as_posix()}"] = pulumi.FileAsset(str(path))
