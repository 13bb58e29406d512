"""A page of changes reaches the other CRM in as few write calls as its batch API allows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.crm_pair import CrmPair, crm_pair, person

pytestmark = pytest.mark.unit

N = 120


@pytest.fixture
def crms(tmp_path: Path) -> Iterator[CrmPair]:
    pair = crm_pair(tmp_path)
    yield pair
    pair.rt.close()


def test_n_changes_cost_ceil_n_over_the_batch_size_write_calls(crms: CrmPair) -> None:
    for i in range(N):
        crms.hubspot.create(person(i, domain="hubspot.example"))
    crms.sync()
    assert len(crms.salesforce.live()) == N
    # Composite: 25 subrequests a call.
    assert crms.logs["salesforce"].writes == {"composite": math.ceil(N / 25)}

    for i in range(N, 2 * N):
        crms.salesforce.create(person(i, domain="salesforce.example"))
    before = crms.logs["hubspot"].total_writes
    crms.sync()
    assert len(crms.hubspot.live()) == 2 * N
    # Creates upsert on the unique `lockstep_id`: 100 inputs a call.
    assert crms.logs["hubspot"].total_writes - before == math.ceil(N / 100)

    before_hs, before_sf = crms.logs["hubspot"].total_writes, crms.logs["salesforce"].total_writes
    idle = crms.sync()
    assert sum(r.pushed for r in idle) == 0
    assert crms.logs["hubspot"].total_writes == before_hs
    assert crms.logs["salesforce"].total_writes == before_sf
