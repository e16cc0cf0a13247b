"""A switchover there and back leaves DNS able to fail over again.

Each run throws an evacuation switch, and a thrown switch is sticky: its alarm falls to
INSUFFICIENT_DATA and the health check keeps its last known status. A region taking over
must have its own switch turned off, or Route 53 sees both regions unhealthy and answers
with the PRIMARY record, however dead that region is.
"""

from __future__ import annotations

import pytest

from dr.lab.client import ControlClient
from test_failover_support import (  # noqa: F401 - fixtures
    EAST, WEST, project, run_engine, writer_region,
)

pytestmark = pytest.mark.lab


def test_after_a_switchover_and_back_an_outage_of_us_east_1_still_fails_over(
        fresh_lab, project):
    there = run_engine(fresh_lab, project, planned=True)
    assert there.outcome.status == "complete", there.outcome.error
    back = run_engine(fresh_lab, project, planned=True)
    assert back.outcome.status == "complete", back.outcome.error
    assert writer_region(fresh_lab) == EAST

    ControlClient(fresh_lab.control_url).set_fault(EAST, "outage")
    again = run_engine(fresh_lab, project, force=True, accept_data_loss=True)

    assert again.outcome.status == "complete", again.outcome.error
    assert again.outcome.result_of("verify")["region"] == WEST
