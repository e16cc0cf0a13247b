"""Fixtures of the policy tests: the shipped stacks recorded once under mocks, and the pack
served as the Pulumi CLI serves it."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from infra.offline import RecordedResource, run_stack
from served_pack import serve

PROJECT_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shipped() -> dict[str, tuple[RecordedResource, ...]]:
    """What each shipped stack declares, recorded once for the whole session."""
    return {stack: tuple(run_stack(stack, PROJECT_DIR).resources)
            for stack in ("primary", "secondary")}


@pytest.fixture(scope="session")
def pack() -> Iterator:
    with serve(PROJECT_DIR / "policies") as stub:
        yield stub
