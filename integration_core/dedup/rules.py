"""Matching rules and blocking keys, as data or as callables.

Scoring follows Fellegi-Sunter: each rule adds evidence in bits (log2 of a likelihood
ratio) and a pair's score is `1 / (1 + 2 ** -(prior + evidence))`. A rule whose
comparison is unknown (a value missing on either side) adds nothing.

A data rule turns its comparator's similarity `s` into evidence: `+weight` at `s == 1`,
`-penalty` at or below `threshold`, and linearly in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import ValidationError

from integration_core.dedup._phonetic import metaphone_code, nysiis_code, soundex_code
from integration_core.dedup._tables import NICKNAMES
from integration_core.dedup.compare import COMPARATORS, Comparator
from integration_core.dedup.normalize import (
    canonical_first_name,
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
from integration_core.errors import ConfigurationError

__all__ = [
    "Normalizer",
    "NORMALIZERS",
    "Rule",
    "RecordRule",
    "RecordScorer",
    "BlockingKey",
    "ENCODERS",
]

_T = TypeVar("_T")
Normalizer = Callable[[Any], str | None]
RecordScorer = Callable[[Mapping[str, Any], Mapping[str, Any]], float | None]

NORMALIZERS: dict[str, Normalizer] = {
    "none": lambda value: None if value is None else str(value),
    "text": normalize_text,
    "name": normalize_name,
    "first_name": canonical_first_name,
    "email": normalize_email,
    "phone": normalize_phone,
    "domain": normalize_domain,
    "company": normalize_company_name,
    "street": normalize_street,
    "digits": normalize_digits,
    "date": normalize_date,
}


def _resolve(kind: str, value: str | _T, table: Mapping[str, _T]) -> _T:
    if isinstance(value, str):
        try:
            return table[value]
        except KeyError as err:
            known = ", ".join(sorted(table))
            raise ConfigurationError(f"unknown {kind} {value!r} (known: {known})") from err
    return value


@dataclass(frozen=True, slots=True)
class Rule:
    """One comparison: normalize `fields` on both sides, compare, weigh.

    With one field the comparator receives the two normalized values; with several it
    receives two tuples (e.g. `("first_name", "last_name")` for `person_name`), or None for
    a side where every field is missing. `comparator` and `normalizer` are names from
    `COMPARATORS` / `NORMALIZERS` or callables. Phones are normalized to E.164 using the
    record's country (or the matcher's default region).
    """

    name: str
    fields: tuple[str, ...]
    comparator: str | Comparator
    weight: float
    threshold: float = 0.0
    penalty: float = 0.0
    normalizer: str | Normalizer = "text"

    def __post_init__(self) -> None:
        if not self.fields:
            raise ConfigurationError(f"rule {self.name!r} has no fields")
        if self.weight < 0 or self.penalty < 0:
            raise ConfigurationError(f"rule {self.name!r}: weight and penalty must be >= 0")
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigurationError(f"rule {self.name!r}: threshold must be in [0, 1)")
        _resolve("comparator", self.comparator, COMPARATORS)
        _resolve("normalizer", self.normalizer, NORMALIZERS)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """A rule from configuration data, e.g. JSON stored on a sync task.

        Keys: name (optional, defaults to the fields), fields (a name or a list), comparator,
        weight, and optionally threshold, penalty, normalizer (see `options.RuleData`).
        """
        from integration_core.dedup.options import RuleData, describe_errors

        try:
            return RuleData.model_validate(dict(data)).rule()
        except ValidationError as err:
            raise ConfigurationError(f"invalid matching rule: {describe_errors(err)}") from None

    @property
    def comparator_fn(self) -> Comparator:
        return _resolve("comparator", self.comparator, COMPARATORS)

    @property
    def normalizer_fn(self) -> Normalizer:
        return _resolve("normalizer", self.normalizer, NORMALIZERS)

    def evidence(self, similarity: float) -> float:
        """Bits of evidence for a similarity in 0..1."""
        if similarity >= 1.0:
            return self.weight
        if similarity <= self.threshold:
            return -self.penalty
        share = (similarity - self.threshold) / (1.0 - self.threshold)
        return -self.penalty + (self.weight + self.penalty) * share


@dataclass(frozen=True, slots=True)
class RecordRule:
    """A custom rule as a callable over the two raw records.

    `scorer(left, right)` returns bits of evidence (positive for "same", negative for
    "different") or None to abstain. Record rules run before the data rules.
    """

    name: str
    scorer: RecordScorer


@lru_cache(maxsize=131072)
def _date_unordered(value: str) -> str:
    if len(value) != 8:
        return value
    month, day = sorted((value[4:6], value[6:8]))
    return f"{value[:4]}{month}{day}"


@lru_cache(maxsize=131072)
def _street_name(value: str) -> str:
    word = next((w for w in value.split() if w.isalpha() and len(w) > 1), "")
    return metaphone_code(word) if word else ""


@lru_cache(maxsize=131072)
def _house_number(value: str) -> str:
    return next((w for w in value.split() if w.isdigit()), "")


ENCODERS: dict[str, Callable[[str], str]] = {
    "exact": lambda value: value,
    "soundex": soundex_code,
    "metaphone": metaphone_code,
    "nysiis": nysiis_code,
    "formal_metaphone": lambda value: metaphone_code(NICKNAMES.get(value, value)),
    "prefix4": lambda value: value[:4],
    "initial": lambda value: value[:1],
    "year": lambda value: value[:4] if len(value) == 8 else "",
    "year_month": lambda value: value[:6] if len(value) == 8 else "",
    "date_unordered": _date_unordered,
    "street_name": _street_name,
    "house_number": _house_number,
}


@dataclass(frozen=True, slots=True)
class BlockingKey:
    """Records sharing a key value are compared; the union over all keys is the candidate set.

    Each field is normalized with `normalizer` and encoded with `encoder`, either one for
    all fields or one per field; the key exists only when every field has a code.
    Encoders: "exact", "soundex", "metaphone", "nysiis", "formal_metaphone" (Metaphone of
    the formal name: 'bob' as 'robert'), "prefix4" (first four characters), "initial";
    "year", "year_month" and "date_unordered" (day and month in either order) for
    normalized dates; "street_name" (Metaphone of the street's name) and "house_number"
    for normalized streets. `unordered` sorts the codes, so that swapped fields (first and
    last name) share a key. For anything else give `function(record) -> iterable of
    strings`.
    """

    name: str
    fields: tuple[str, ...] = ()
    encoder: str | tuple[str, ...] = "exact"
    normalizer: str | Normalizer | tuple[str | Normalizer, ...] = "text"
    unordered: bool = False
    function: Callable[[Mapping[str, Any]], Iterable[str]] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.function is None and not self.fields:
            raise ConfigurationError(f"blocking key {self.name!r} needs fields or a function")
        for option in (self.encoder, self.normalizer):
            if isinstance(option, tuple) and len(option) != len(self.fields):
                raise ConfigurationError(f"blocking key {self.name!r}: one per field, or one")
        for encoder in self.encoders:
            _resolve("encoder", encoder, ENCODERS)
        for normalizer in self.normalizers:
            _resolve("normalizer", normalizer, NORMALIZERS)

    @property
    def encoders(self) -> tuple[str, ...]:
        """One encoder name per field."""
        if isinstance(self.encoder, str):
            return (self.encoder,) * len(self.fields)
        return self.encoder

    @property
    def normalizers(self) -> tuple[str | Normalizer, ...]:
        """One normalizer per field."""
        if isinstance(self.normalizer, tuple):
            return self.normalizer
        return (self.normalizer,) * len(self.fields)
