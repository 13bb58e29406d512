"""Comparators: similarity of two normalized values, in 0..1, or None when not comparable.

A comparator never sees a raw value: rules normalize first (see `normalize`). None on
either side means "unknown", which is not the same as "different".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Hamming, JaroWinkler, Levenshtein

from integration_core.dedup._phonetic import metaphone_code as _metaphone
from integration_core.dedup._phonetic import nysiis_code as _nysiis
from integration_core.dedup._phonetic import soundex_code as _soundex
from integration_core.dedup._tables import NICKNAMES

__all__ = [
    "Comparator",
    "COMPARATORS",
    "exact",
    "jaro_winkler",
    "levenshtein",
    "token_set",
    "token_sort",
    "soundex",
    "metaphone",
    "nysiis",
    "phonetic",
    "name_part",
    "person_name",
    "digits",
    "date",
]

Comparator = Callable[[Any, Any], float | None]


def exact(a: Any, b: Any) -> float | None:
    """1.0 when equal, else 0.0."""
    if a is None or b is None:
        return None
    return 1.0 if a == b else 0.0


def jaro_winkler(a: str | None, b: str | None) -> float | None:
    """Jaro-Winkler similarity; rewards a shared prefix, good for names."""
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    return float(JaroWinkler.normalized_similarity(a, b))


def levenshtein(a: str | None, b: str | None) -> float | None:
    """1 - edit distance / length of the longer value."""
    if a is None or b is None:
        return None
    return float(Levenshtein.normalized_similarity(a, b))


def token_set(a: str | None, b: str | None) -> float | None:
    """Token-set ratio: word order and extra words ('acme' vs 'acme widgets') hurt little."""
    if a is None or b is None:
        return None
    return fuzz.token_set_ratio(a, b) / 100.0


def token_sort(a: str | None, b: str | None) -> float | None:
    """Token-sort ratio: the same words in another order compare equal."""
    if a is None or b is None:
        return None
    return fuzz.token_sort_ratio(a, b) / 100.0


def _phonetic_equal(encode: Callable[[str], str], a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return 1.0 if encode(a) == encode(b) else 0.0


def soundex(a: str | None, b: str | None) -> float | None:
    """1.0 when the Soundex codes are equal."""
    return _phonetic_equal(_soundex, a, b)


def metaphone(a: str | None, b: str | None) -> float | None:
    """1.0 when the Metaphone codes are equal."""
    return _phonetic_equal(_metaphone, a, b)


def nysiis(a: str | None, b: str | None) -> float | None:
    """1.0 when the NYSIIS codes are equal."""
    return _phonetic_equal(_nysiis, a, b)


def phonetic(a: str | None, b: str | None) -> float | None:
    """1.0 when Metaphone or NYSIIS agree, 0.8 when only Soundex does, else 0.0."""
    if not a or not b:
        return None
    if _metaphone(a) == _metaphone(b) or _nysiis(a) == _nysiis(b):
        return 1.0
    return 0.8 if _soundex(a) == _soundex(b) else 0.0


def name_part(a: str | None, b: str | None) -> float | None:
    """One name part: Jaro-Winkler, lifted by nickname, phonetic and initial agreement.

    'bob'/'robert' -> 0.95 (nickname), 'smyth'/'smith' -> at least 0.9 (phonetic),
    'j'/'john' -> 0.75 (an initial).
    """
    if not a or not b:
        return None
    if a == b:
        return 1.0
    score = float(JaroWinkler.normalized_similarity(a, b))
    if score < 0.95 and NICKNAMES.get(a, a) == NICKNAMES.get(b, b):
        return 0.95
    if score < 0.9 and (_metaphone(a) == _metaphone(b) or _nysiis(a) == _nysiis(b)):
        score = 0.9
    if score < 0.75 and (len(a) == 1 or len(b) == 1) and a[0] == b[0]:
        score = 0.75
    return score


_FIRST_WEIGHT = 0.4
_LAST_WEIGHT = 1.0 - _FIRST_WEIGHT
_SWAP_FACTOR = 0.97
_ONE_PART_FACTOR = 0.85


def person_name(a: Any, b: Any) -> float | None:
    """Whole personal names given as (first, last) pairs, tolerant of swapped parts.

    The better of the direct and the swapped alignment wins (the swapped one slightly
    discounted). When a part is missing on a side, the parts that are there are compared,
    crosswise too, and the result discounted: one agreeing part is weaker evidence.
    """
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    first_a, last_a = a
    first_b, last_b = b
    if first_a and last_a and first_b and last_b:
        direct = _FIRST_WEIGHT * _part(first_a, first_b) + _LAST_WEIGHT * _part(last_a, last_b)
        if direct >= 0.99:
            return direct
        # Each side's first name meets the other's last name: weigh both halves alike, so
        # that the score does not depend on which record comes first.
        swapped = 0.5 * (_part(first_a, last_b) + _part(last_a, first_b))
        return max(direct, swapped * _SWAP_FACTOR)
    parts_a = [p for p in (first_a, last_a) if p]
    parts_b = [p for p in (first_b, last_b) if p]
    if not parts_a or not parts_b:
        return None
    best = max(_part(x, y) for x in parts_a for y in parts_b)
    return best * _ONE_PART_FACTOR


def _part(a: str, b: str) -> float:
    if a == b:
        return 1.0
    score = name_part(a, b)
    return 0.0 if score is None else score


def digits(a: str | None, b: str | None) -> float | None:
    """Identifiers and codes: 1.0 equal, 0.9 two adjacent characters swapped,
    0.8 one character wrong, 0.7 one character missing or extra, else 0.0."""
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    if OSA.distance(a, b, score_cutoff=1) > 1:
        return 0.0
    if len(a) != len(b):
        return 0.7
    return 0.8 if Hamming.distance(a, b) == 1 else 0.9


def date(a: str | None, b: str | None) -> float | None:
    """Dates as 'YYYYMMDD' (see `normalize_date`), tolerant of typos.

    1.0 equal; 0.9 day and month swapped, or two adjacent digits swapped; 0.8 one digit
    wrong; 0.3 same year and month only; else 0.0.
    """
    if a is None or b is None:
        return None
    if a == b:
        return 1.0
    if len(a) == 8 and len(b) == 8 and a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]:
        return 0.9
    typo = digits(a, b)
    if typo:
        return typo
    return 0.3 if a[:6] == b[:6] else 0.0


COMPARATORS: dict[str, Comparator] = {
    "exact": exact,
    "jaro_winkler": jaro_winkler,
    "levenshtein": levenshtein,
    "token_set": token_set,
    "token_sort": token_sort,
    "soundex": soundex,
    "metaphone": metaphone,
    "nysiis": nysiis,
    "phonetic": phonetic,
    "name_part": name_part,
    "person_name": person_name,
    "digits": digits,
    "date": date,
}
