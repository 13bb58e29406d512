from __future__ import annotations

import pytest

from integration_core.dedup.normalize import (
    canonical_first_name,
    country_code,
    normalize_company_name,
    normalize_date,
    normalize_digits,
    normalize_domain,
    normalize_email,
    normalize_name,
    normalize_phone,
    normalize_street,
    normalize_text,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello,   World! ", "hello world"),
        ("Zoë  Ünal", "zoe unal"),
        ("O'Neil-Smith", "o neil smith"),
        ("", None),
        ("  ...  ", None),
        (None, None),
        (float("nan"), None),
        (42, "42"),
    ],
)
def test_normalize_text(raw: object, expected: str | None) -> None:
    assert normalize_text(raw) == expected


def test_normalize_name_drops_spaces_and_punctuation() -> None:
    assert normalize_name("Mary-Ann") == normalize_name("mary ann") == "maryann"
    assert normalize_name("O'Neil") == "oneil"


def test_canonical_first_name_maps_nicknames() -> None:
    assert canonical_first_name("Bob") == "robert"
    assert canonical_first_name("Liz") == "elizabeth"
    assert canonical_first_name("Xavier") == "xavier"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John.Smith+news@GoogleMail.com", "johnsmith@gmail.com"),
        ("j.o.h.n@gmail.com", "john@gmail.com"),
        ("Jane+crm@Outlook.com", "jane@outlook.com"),
        ("jane.doe@outlook.com", "jane.doe@outlook.com"),  # dots matter outside Gmail
        ("first.last+tag@acme.io", "first.last+tag@acme.io"),  # unknown provider: kept
        ("mailto:<Bob@Example.COM>", "bob@example.com"),
        ("not-an-email", None),
        ("@gmail.com", None),
        (None, None),
    ],
)
def test_normalize_email(raw: object, expected: str | None) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-0123", "US", "+14155550123"),
        ("415.555.0123", "United States", "+14155550123"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("0044 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "gb", "+442079460958"),
        ("02 9374 4000", "Australia", "+61293744000"),
        ("555-0123", None, "5550123"),  # no region known: digits only
        ("call me", "US", None),
        (None, "US", None),
    ],
)
def test_normalize_phone(raw: object, region: str | None, expected: str | None) -> None:
    assert normalize_phone(raw, region=region) == expected


def test_country_code() -> None:
    assert country_code("us") == "US"
    assert country_code("United Kingdom") == "GB"
    assert country_code("UK") == "GB"
    assert country_code("Atlantis") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("www.acme.co.uk", "acme.co.uk"),
        ("acme.com:8443", "acme.com"),
        ("sales@acme.com", "acme.com"),
        ("ACME.COM.", "acme.com"),
        ("www.www.acme.com", "acme.com"),
        ("", None),
    ],
)
def test_normalize_domain(raw: str, expected: str | None) -> None:
    assert normalize_domain(raw) == expected


def test_normalize_company_name_strips_legal_forms() -> None:
    assert normalize_company_name("ACME, Inc.") == "acme"
    assert normalize_company_name("The Acme Widget Co. Ltd") == "acme widget"
    assert normalize_company_name("Smith & Sons GmbH") == "smith and sons"
    assert normalize_company_name("Inc") == "inc"  # never empties a name


def test_normalize_street_expands_abbreviations() -> None:
    assert normalize_street("12 Main St.") == "12 main street"
    assert normalize_street("4/7 Ocean Rd") == "4 7 ocean road"


def test_normalize_digits() -> None:
    assert normalize_digits("123-45 678") == "12345678"
    assert normalize_digits(2602) == "2602"
    assert normalize_digits("SW1A 1AA") == "11"
    assert normalize_digits("ABC") == "abc"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1996-01-12", "19960112"),
        ("19960112", "19960112"),
        ("1996-1-2", "19960102"),
        ("1996-01-12T10:00:00Z", "19960112"),
        ("12/01/1996", "19960112"),
        ("1996-13-40", "19961340"),  # kept: a typo must still compare
        ("yesterday", None),
        (None, None),
    ],
)
def test_normalize_date(raw: object, expected: str | None) -> None:
    assert normalize_date(raw) == expected
