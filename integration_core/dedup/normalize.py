"""Normalizers: turn a raw field value into the form that matching compares.

Every normalizer takes any value (None, numbers and strings alike) and returns a string,
or None when nothing comparable is left. They are pure and deterministic.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

import phonenumbers

from integration_core.dedup._tables import (
    COUNTRY_NAMES,
    LEGAL_SUFFIXES,
    NICKNAMES,
    STREET_ABBREVIATIONS,
)

__all__ = [
    "normalize_text",
    "normalize_name",
    "canonical_first_name",
    "normalize_email",
    "normalize_phone",
    "normalize_domain",
    "normalize_company_name",
    "normalize_street",
    "normalize_digits",
    "normalize_date",
    "country_code",
]

_NON_WORD = re.compile(r"[^\w]+")
_NON_DIGIT = re.compile(r"\D+")
_SPACES = re.compile(r"\s+")

# Providers whose mailboxes ignore dots in the local part.
_DOT_INSENSITIVE = frozenset({"gmail.com", "googlemail.com"})
# Providers that deliver local+tag@domain to local@domain.
_PLUS_ADDRESSING = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "fastmail.com",
        "fastmail.fm",
        "protonmail.com",
        "proton.me",
        "pm.me",
    }
)
_DOMAIN_ALIASES = {"googlemail.com": "gmail.com"}


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from data frames
        return None
    text = str(value).strip()
    return text or None


def _fold(text: str) -> str:
    """Case-fold and strip accents: 'Zoë' -> 'zoe'.

    Unicode's compatibility caseless match (D146): NFKD(casefold(NFKD(casefold(NFD(x))))).
    Folding once, before the compatibility decomposition, is not enough: '🄐' decomposes
    to '(A)' only then, and would fold to 'a' on a second pass.
    """
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFD", text).casefold()
    decomposed = unicodedata.normalize("NFKD", decomposed).casefold()
    decomposed = unicodedata.normalize("NFKD", decomposed)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize_text(value: Any) -> str | None:
    """Case-folded, accents stripped, punctuation to spaces, whitespace collapsed."""
    text = _as_str(value)
    return None if text is None else _text(text)


@lru_cache(maxsize=262144)
def _text(text: str) -> str | None:
    return " ".join(_NON_WORD.sub(" ", _fold(text)).replace("_", " ").split()) or None


def normalize_name(value: Any) -> str | None:
    """A personal name part: like `normalize_text`, but without any spaces or hyphens.

    'Mary-Ann' and 'mary ann' and "O'Neil" / 'oneil' compare equal.
    """
    text = normalize_text(value)
    if text is None:
        return None
    return text.replace(" ", "") or None


def canonical_first_name(value: Any) -> str | None:
    """The formal form of a given name: 'bob' -> 'robert'; unknown names stay as they are."""
    name = normalize_name(value)
    if name is None:
        return None
    return NICKNAMES.get(name, name)


def normalize_email(value: Any) -> str | None:
    """Case-folded address, with the provider's dot and plus-tag rules applied.

    'John.Smith+news@GoogleMail.com' -> 'johnsmith@gmail.com'. Plus tags are removed only
    for providers known to deliver them to the base mailbox; dots only for Gmail.
    """
    text = _as_str(value)
    if text is None:
        return None
    text = text.casefold().removeprefix("mailto:").strip("<> ")
    local, sep, domain = text.rpartition("@")
    if not sep or not local or not domain:
        return None
    domain = _DOMAIN_ALIASES.get(domain.rstrip("."), domain.rstrip("."))
    if domain in _PLUS_ADDRESSING:
        local = local.split("+", 1)[0]
    if domain in _DOT_INSENSITIVE:
        local = local.replace(".", "")
    if not local:
        return None
    return f"{local}@{domain}"


def country_code(value: Any) -> str | None:
    """ISO 3166 alpha-2 code for a country given as a code or a common name."""
    text = normalize_text(value)
    if text is None:
        return None
    if text in COUNTRY_NAMES:
        return COUNTRY_NAMES[text]
    return text.upper() if len(text) == 2 and text.isalpha() else None


@lru_cache(maxsize=65536)
def _phone(text: str, region: str | None) -> str | None:
    digits = _NON_DIGIT.sub("", text)
    if not digits:
        return None
    if text.startswith("+") or text.startswith("00") or region is not None:
        candidate = "+" + digits[2:] if text.startswith("00") else text
        try:
            parsed = phonenumbers.parse(candidate, None if candidate.startswith("+") else region)
        except phonenumbers.NumberParseException:
            return digits
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return digits


def normalize_phone(value: Any, *, region: Any = None) -> str | None:
    """E.164 ('+14155550123') when the number has a country prefix or `region` is known.

    `region` may be an ISO code or a country name. Without either, the digits alone.
    """
    text = _as_str(value)
    if text is None:
        return None
    return _phone(text, country_code(region))


def normalize_domain(value: Any) -> str | None:
    """Host name of a domain or URL, lower-case, without scheme, port, path or 'www.'."""
    text = _as_str(value)
    if text is None:
        return None
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text.casefold())
    # The authority, then the host: without user info (an email's domain, `user:pw@host`)
    # or port. A host holds no "@", so the result normalizes to itself.
    authority = re.split(r"[/?#]", text, maxsplit=1)[0]
    host = authority.rpartition("@")[2].partition(":")[0].strip().strip(".")
    while host.startswith("www."):
        host = host[4:].strip(".")
    return host or None


def normalize_company_name(value: Any) -> str | None:
    """Company name without legal-form suffixes: 'ACME, Inc.' -> 'acme'."""
    raw = _as_str(value)
    text = normalize_text(raw.replace("&", " and ")) if raw else None
    if text is None:
        return None
    words = text.split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(words) or None


def normalize_street(value: Any) -> str | None:
    """Street line with common abbreviations expanded: '12 Main St.' -> '12 main street'."""
    text = normalize_text(value)
    return None if text is None else _street(text)


@lru_cache(maxsize=262144)
def _street(text: str) -> str:
    return " ".join(STREET_ABBREVIATIONS.get(word, word) for word in text.split())


def normalize_digits(value: Any) -> str | None:
    """Digits only, for identifiers and postcodes: '123-45 678' -> '12345678'.

    Values with no digit at all (a foreign postcode like 'SW1A') fall back to the text form.
    """
    text = _as_str(value)
    if text is None:
        return None
    digits = _NON_DIGIT.sub("", text)
    if digits:
        return digits
    folded = normalize_text(text)
    return folded.replace(" ", "") if folded else None


def normalize_date(value: Any) -> str | None:
    """A date as 'YYYYMMDD' digits, from ISO ('1996-01-12'), compact or datetime strings.

    Invalid calendar dates are kept (a typo like month 13 must still compare); day-first
    forms 'DD/MM/YYYY' and 'DD.MM.YYYY' are read day first.
    """
    text = _as_str(value)
    return None if text is None else _date(text)


@lru_cache(maxsize=262144)
def _date(text: str) -> str | None:
    text = text.split("T", 1)[0]
    parts = [p for p in _NON_DIGIT.split(text) if p]
    if len(parts) == 1 and len(parts[0]) == 8:
        return parts[0]
    if len(parts) >= 3:
        if len(parts[0]) == 4:
            year, month, day = parts[0], parts[1], parts[2]
        elif len(parts[2]) == 4:
            day, month, year = parts[0], parts[1], parts[2]
        else:
            return None
        return f"{year}{month.zfill(2)[-2:]}{day.zfill(2)[-2:]}"
    return None
