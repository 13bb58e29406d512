"""Helpers for bench/sync.py: a recording DocumentStore proxy, its replay, and test data.

The proxy records every store call the engine makes (method, container, arguments, the
outcome and the etag it returned) at the cost of one tuple append per call, so that the
same sequence can be replayed against a fresh store with nothing else running. The
replayer maps the recorded etags to the ones the fresh store hands out, so conditional
writes (`if_match`) succeed or fail exactly as they did under the engine.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from integration_core.errors import LockstepError
from integration_core.models import Change
from integration_core.storage import DocumentStore, Filter
from integration_core.storage.base import ETAG

__all__ = [
    "Call",
    "RecordingStore",
    "Replayer",
    "ReplayStats",
    "contact_changes",
    "twin_changes",
    "updated_changes",
]

# (method, container, positional args after container, keyword args, error type or None,
#  etag of the returned document or None)
Call = tuple[str, str, tuple[Any, ...], dict[str, Any], type[BaseException] | None, str | None]


class RecordingStore:
    """A DocumentStore that forwards to `inner` and appends each call to `calls`."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.calls: list[Call] = []

    def take(self) -> list[Call]:
        """The calls recorded since the last `take`."""
        calls, self.calls = self.calls, []
        return calls

    def ping(self) -> None:
        self.inner.ping()

    def get(self, container: str, partition_key: str, id: str) -> dict[str, Any]:
        try:
            found = self.inner.get(container, partition_key, id)
        except LockstepError as err:
            self.calls.append(("get", container, (partition_key, id), {}, type(err), None))
            raise
        self.calls.append(("get", container, (partition_key, id), {}, None, found.get(ETAG)))
        return found

    def create(self, container: str, document: Mapping[str, Any]) -> dict[str, Any]:
        try:
            stored = self.inner.create(container, document)
        except LockstepError as err:
            self.calls.append(("create", container, (document,), {}, type(err), None))
            raise
        self.calls.append(("create", container, (document,), {}, None, stored.get(ETAG)))
        return stored

    def upsert(
        self, container: str, document: Mapping[str, Any], *, if_match: str | None = None
    ) -> dict[str, Any]:
        options = {"if_match": if_match}
        try:
            stored = self.inner.upsert(container, document, if_match=if_match)
        except LockstepError as err:
            self.calls.append(("upsert", container, (document,), options, type(err), None))
            raise
        self.calls.append(("upsert", container, (document,), options, None, stored.get(ETAG)))
        return stored

    def delete(
        self, container: str, partition_key: str, id: str, *, if_match: str | None = None
    ) -> None:
        options = {"if_match": if_match}
        try:
            self.inner.delete(container, partition_key, id, if_match=if_match)
        except LockstepError as err:
            self.calls.append(("delete", container, (partition_key, id), options, type(err), None))
            raise
        self.calls.append(("delete", container, (partition_key, id), options, None, None))

    def query(
        self,
        container: str,
        *,
        partition_key: str | None = None,
        filters: Sequence[Filter] = (),
        order_by: Sequence[tuple[str, bool]] = (),
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        options = {
            "partition_key": partition_key,
            "filters": filters,
            "order_by": order_by,
            "limit": limit,
        }
        try:
            found = self.inner.query(
                container,
                partition_key=partition_key,
                filters=filters,
                order_by=order_by,
                limit=limit,
            )
        except LockstepError as err:
            self.calls.append(("query", container, (), options, type(err), None))
            raise
        self.calls.append(("query", container, (), options, None, None))
        return found


@dataclass
class ReplayStats:
    """What replaying some calls cost; `add` more calls to it as they are replayed."""

    calls: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    mismatches: int = 0  # calls whose outcome (ok / error type) differed from the recording
    # "method:container" -> [calls, seconds]
    by_kind: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(_zero))

    def merged(self, other: ReplayStats) -> ReplayStats:
        total = ReplayStats(
            calls=self.calls + other.calls,
            seconds=self.seconds + other.seconds,
            cpu_seconds=self.cpu_seconds + other.cpu_seconds,
            mismatches=self.mismatches + other.mismatches,
        )
        for stats in (self, other):
            for kind, (count, seconds) in stats.by_kind.items():
                total.by_kind[kind][0] += count
                total.by_kind[kind][1] += seconds
        return total


def _zero() -> list[float]:
    return [0, 0.0]


class Replayer:
    """Replays recorded calls on `store`, translating recorded etags into its own."""

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        self.etags: dict[str, str] = {}

    def run(self, calls: Sequence[Call], stats: ReplayStats) -> None:
        """Replay `calls` in order, adding their cost to `stats`."""
        store, etags, by_kind = self.store, self.etags, stats.by_kind
        clock = time.perf_counter
        start, cpu = clock(), time.process_time()
        for method, container, args, options, error, etag in calls:
            if options.get("if_match") is not None:
                options = {**options, "if_match": etags.get(options["if_match"])}
            kind = by_kind[f"{method}:{container}"]
            began = clock()
            try:
                result = getattr(store, method)(container, *args, **options)
            except LockstepError as err:
                kind[0] += 1
                kind[1] += clock() - began
                if type(err) is not error:
                    stats.mismatches += 1
                continue
            kind[0] += 1
            kind[1] += clock() - began
            if error is not None:
                stats.mismatches += 1
            if etag is not None:
                etags[etag] = result[ETAG]
        stats.seconds += clock() - start
        stats.cpu_seconds += time.process_time() - cpu
        stats.calls += len(calls)


_FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Lisa",
    "Daniel",
    "Nancy",
    "Matthew",
    "Betty",
    "Anthony",
    "Sandra",
    "Mark",
    "Margaret",
    "Donald",
    "Ashley",
    "Steven",
    "Kimberly",
    "Andrew",
    "Emily",
    "Paul",
    "Donna",
    "Joshua",
    "Michelle",
    "Kenneth",
    "Carol",
    "Kevin",
    "Amanda",
    "Brian",
    "Melissa",
    "George",
    "Deborah",
    "Sophie",
    "Lukas",
    "Emma",
    "Noah",
    "Chloe",
    "Hugo",
    "Lea",
    "Jonas",
    "Mia",
    "Elias",
    "Sofia",
    "Mateo",
    "Aiko",
    "Hiroshi",
    "Priya",
    "Arjun",
    "Fatima",
    "Omar",
    "Ingrid",
    "Lars",
    "Zofia",
    "Piotr",
    "Chiara",
    "Luca",
    "Ana",
    "Joao",
    "Thandiwe",
    "Kwame",
]
_LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Dubois",
    "Laurent",
    "Bernard",
    "Rossi",
    "Russo",
    "Bianchi",
    "Tanaka",
    "Suzuki",
    "Sato",
    "Patel",
    "Sharma",
    "Singh",
    "Kowalski",
    "Nowak",
    "Silva",
    "Santos",
    "Okafor",
    "Mensah",
    "Johansson",
    "Nielsen",
    "Virtanen",
    "O'Brien",
    "McCarthy",
]
_COMPANIES = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Pied Piper",
    "Vandelay Industries",
    "Soylent",
    "Tyrell Systems",
    "Cyberdyne",
    "Wonka Foods",
    "Aperture Labs",
    "Oceanic Airlines",
    "Monarch Logistics",
    "Blue Sun",
    "Massive Dynamic",
    "Nakatomi Trading",
    "Gringotts",
]
_TITLES = [
    "CEO",
    "CTO",
    "VP Sales",
    "Account Executive",
    "Sales Manager",
    "Software Engineer",
    "Product Manager",
    "Marketing Director",
    "Customer Success Manager",
    "Head of Operations",
    "Data Analyst",
    "Procurement Lead",
    "Office Manager",
    "CFO",
    "Support Engineer",
]
_PLACES = (
    ("New York", "US", "+1"),
    ("Chicago", "US", "+1"),
    ("Austin", "US", "+1"),
    ("Toronto", "CA", "+1"),
    ("London", "GB", "+44"),
    ("Manchester", "GB", "+44"),
    ("Berlin", "DE", "+49"),
    ("Munich", "DE", "+49"),
    ("Paris", "FR", "+33"),
    ("Lyon", "FR", "+33"),
    ("Milan", "IT", "+39"),
    ("Madrid", "ES", "+34"),
    ("Amsterdam", "NL", "+31"),
    ("Stockholm", "SE", "+46"),
    ("Warsaw", "PL", "+48"),
    ("Tokyo", "JP", "+81"),
    ("Sydney", "AU", "+61"),
    ("Sao Paulo", "BR", "+55"),
    ("Lagos", "NG", "+234"),
    ("Bangalore", "IN", "+91"),
)

EPOCH = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def _contact(rng: random.Random, index: int) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    company = rng.choice(_COMPANIES)
    city, country, dial = rng.choice(_PLACES)
    domain = company.lower().replace(" ", "") + ".example"
    # The index keeps emails unique, as they are in a real CRM.
    email = f"{first}.{last}{index}@{domain}".lower().replace("'", "")
    digits = str(rng.randint(2_000_000_000, 9_999_999_999))
    return {
        "firstname": first,
        "lastname": last,
        "email": email,
        "phone": f"{dial} {digits[:3]} {digits[3:6]} {digits[6:]}",
        "company": company,
        "jobtitle": rng.choice(_TITLES),
        "city": city,
        "country": country,
    }


def contact_changes(count: int, *, seed: int, prefix: str) -> Iterator[Change]:
    """`count` new contacts as a sandbox reports them (provider field names), version 1."""
    rng = random.Random(seed)  # noqa: S311 (test data, not crypto)
    for index in range(count):
        yield Change(
            external_id=f"{prefix}{index:07d}",
            version="1",
            modified_at=EPOCH + timedelta(milliseconds=index),
            values=_contact(rng, index),
        )


def updated_changes(
    originals: Sequence[Change], *, share: float, seed: int, later: timedelta
) -> list[Change]:
    """Version 2 of a random `share` of `originals`: one to three fields edited."""
    rng = random.Random(seed)  # noqa: S311 (test data, not crypto)
    picked = rng.sample(range(len(originals)), round(len(originals) * share))
    updates = []
    for position, index in enumerate(sorted(picked)):
        original = originals[index]
        values = dict(original.values)
        fresh = _contact(rng, index)
        for name in rng.sample(
            ["jobtitle", "phone", "company", "city", "lastname"], rng.randint(1, 3)
        ):
            values[name] = fresh[name] if fresh[name] != values[name] else values[name] + " Jr"
        updates.append(
            Change(
                external_id=original.external_id,
                version="2",
                modified_at=EPOCH + later + timedelta(milliseconds=position),
                values=values,
            )
        )
    return updates


def twin_changes(
    originals: Sequence[Change], *, share: float, seed: int, later: timedelta, prefix: str
) -> list[Change]:
    """The same people as another system holds them: same email and name, the phone
    written differently, sometimes another job title (a twin for the matcher to find)."""
    rng = random.Random(seed)  # noqa: S311 (test data, not crypto)
    picked = rng.sample(range(len(originals)), round(len(originals) * share))
    twins = []
    for position, index in enumerate(sorted(picked)):
        values = dict(originals[index].values)
        values["phone"] = values["phone"].replace(" ", "")
        if rng.random() < 0.5:
            values["jobtitle"] = rng.choice(_TITLES)
        twins.append(
            Change(
                external_id=f"{prefix}{index:07d}",
                version="1",
                modified_at=EPOCH + later + timedelta(milliseconds=position),
                values=values,
            )
        )
    return twins
