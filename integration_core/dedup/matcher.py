"""The Matcher: blocking, pairwise scoring, thresholds and an incremental index."""

from __future__ import annotations

import gc
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, NamedTuple

from integration_core.dedup.defaults import PROFILES
from integration_core.dedup.normalize import country_code, normalize_phone
from integration_core.dedup.rules import (
    ENCODERS,
    NORMALIZERS,
    BlockingKey,
    Normalizer,
    RecordRule,
    RecordScorer,
    Rule,
)
from integration_core.errors import ConfigurationError

__all__ = [
    "Comparison",
    "Match",
    "Decision",
    "RunStats",
    "Matcher",
    "DEFAULT_PRIOR",
    "DEFAULT_MAX_BLOCK_SIZE",
]

DEFAULT_PRIOR = -10.0
_MEMO_SIZE = 200_000
DEFAULT_MAX_BLOCK_SIZE = 200

RuleLike = Rule | RecordRule | RecordScorer
BlockingLike = BlockingKey | Callable[[Mapping[str, Any]], Iterable[str]]


class Comparison(NamedTuple):
    """One rule's part in a score: its similarity (None for record rules) and bits added."""

    rule: str
    similarity: float | None
    evidence: float


class Match:
    """A scored pair: `left_id`, `right_id`, `score` (0..1) and why.

    `rule` names the comparisons that added evidence, strongest first ("national_id+name");
    `comparisons` lists every comparison made. Both are worked out on first access, so that
    scoring thousands of pairs stays cheap.
    """

    __slots__ = ("left_id", "right_id", "score", "_rule", "_comparisons", "_explain")

    def __init__(
        self,
        left_id: str,
        right_id: str,
        score: float,
        rule: str | None = None,
        comparisons: tuple[Comparison, ...] = (),
        *,
        explain: Callable[[], tuple[Comparison, ...]] | None = None,
    ) -> None:
        self.left_id = left_id
        self.right_id = right_id
        self.score = score
        self._rule = rule
        self._comparisons: tuple[Comparison, ...] | None = None if explain else comparisons
        self._explain = explain

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        if self._comparisons is None:
            assert self._explain is not None  # noqa: S101  (set whenever comparisons is not)
            self._comparisons = self._explain()
            self._explain = None
        return self._comparisons

    @property
    def rule(self) -> str:
        if self._rule is None:
            drivers = sorted((c for c in self.comparisons if c.evidence > 0), key=_by_evidence)
            self._rule = "+".join(c.rule for c in drivers) or "none"
        return self._rule

    @property
    def explanation(self) -> str:
        """Every comparison made, e.g. 'national_id 1.00 +14.0; name 0.93 +8.2; ...'."""
        parts = []
        for c in self.comparisons:
            sim = "-" if c.similarity is None else f"{c.similarity:.2f}"
            parts.append(f"{c.rule} {sim} {c.evidence:+.1f}")
        return "; ".join(parts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Match):
            return NotImplemented
        return (self.left_id, self.right_id, self.score, self.rule) == (
            other.left_id,
            other.right_id,
            other.score,
            other.rule,
        )

    def __hash__(self) -> int:
        return hash((self.left_id, self.right_id, self.score))

    def __repr__(self) -> str:
        return (
            f"Match(left_id={self.left_id!r}, right_id={self.right_id!r}, "
            f"score={self.score:.4f}, rule={self.rule!r})"
        )


def _by_evidence(c: Comparison) -> float:
    return -c.evidence


class Decision(StrEnum):
    """What the inbound pipeline does with its best match."""

    LINK = "link"
    REVIEW = "review"
    NEW = "new"


@dataclass(frozen=True, slots=True)
class RunStats:
    """Figures for the last find_duplicates / link / match call."""

    records: int
    comparisons: int
    blocks: int
    oversized_blocks: int
    seconds: float


@dataclass(frozen=True, slots=True)
class _Step:
    name: str
    rule: Rule
    slots: tuple[int, ...]


@dataclass(slots=True)
class _Prepared:
    id: str
    record: Mapping[str, Any]
    values: tuple[Any, ...]
    keys: tuple[str, ...]


_Scored = tuple[float, list[float | None], list[float | None]]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector during a bulk run.

    A run allocates many small objects that all stay alive until it ends, so the collector
    would repeatedly traverse a growing heap for nothing (a third of the time at 100k
    records). Nothing here makes reference cycles; the previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _logit2(p: float) -> float:
    """Bits for a score; the inverse of `_score_of` (which is 1.0 from 60 bits on)."""
    return 60.0 if p >= 1.0 else math.log2(p / (1.0 - p))


def _score_of(bits: float) -> float:
    if bits >= 60:
        return 1.0
    if bits <= -60:
        return 0.0
    return 1.0 / (1.0 + math.pow(2.0, -bits))


class Matcher:
    """Finds records that describe the same real-world entity.

    Args:
        rules: data `Rule`s, `RecordRule`s, or bare callables `(left, right) -> bits | None`.
        blocking: keys that select candidate pairs; defaults to an exact key per rule field.
        prior: bits a pair starts with before any evidence (log2 prior odds).
        match_threshold: the lowest score reported as a match; also the bottom of the
            review band.
        auto_link_threshold: scores at or above it are safe to link without review.
        max_block_size: blocks with more records than this are too common to be useful
            and are skipped (counted in `last_run.oversized_blocks`).
        default_region: region for phones when a record has no `country`.
    """

    def __init__(
        self,
        rules: Sequence[RuleLike],
        *,
        blocking: Sequence[BlockingLike] | None = None,
        prior: float = DEFAULT_PRIOR,
        match_threshold: float = 0.5,
        auto_link_threshold: float = 0.95,
        max_block_size: int = DEFAULT_MAX_BLOCK_SIZE,
        default_region: str | None = None,
        country_field: str = "country",
    ) -> None:
        if not rules:
            raise ConfigurationError("a Matcher needs at least one rule")
        if not 0.0 < match_threshold <= auto_link_threshold <= 1.0:
            raise ConfigurationError(
                "thresholds must satisfy 0 < match_threshold <= auto_link_threshold <= 1"
            )
        if max_block_size < 2:
            raise ConfigurationError("max_block_size must be at least 2")
        record_rules: list[RecordRule] = []
        data_rules: list[Rule] = []
        for item in rules:
            if isinstance(item, Rule):
                data_rules.append(item)
            elif isinstance(item, RecordRule):
                record_rules.append(item)
            elif callable(item):
                record_rules.append(RecordRule(getattr(item, "__name__", "custom"), item))
            else:
                raise ConfigurationError(f"not a rule: {item!r}")
        data_rules.sort(key=lambda r: -r.weight)
        self._rules: tuple[Rule | RecordRule, ...] = (*record_rules, *data_rules)
        self._record_rules = tuple(record_rules)
        # A slot is one (field, normalizer) pair, normalized once per record.
        self._slots: list[tuple[str, Normalizer]] = []
        self._steps = tuple(
            _Step(r.name, r, self._slot_ids(r.fields, r.normalizer)) for r in data_rules
        )
        self._names = tuple(r.name for r in data_rules)
        self._plan = tuple(
            (
                r.comparator_fn,
                r.weight,
                r.threshold,
                r.penalty,
                (r.weight + r.penalty) / (1.0 - r.threshold),
            )
            for r in data_rules
        )
        # suffix[i]: the most evidence the data rules from i on can still add.
        self._suffix = [0.0] * (len(self._steps) + 1)
        for i in range(len(self._steps) - 1, -1, -1):
            self._suffix[i] = self._suffix[i + 1] + self._steps[i].rule.weight
        if blocking is None:
            blocking = [
                BlockingKey(name=f, fields=(f,), normalizer=r.normalizer)
                for r in data_rules
                for f in r.fields
            ]
        self._blocking = tuple(blocking)
        # A code is one encoded slot, shared by every key that uses it.
        self._codes: list[tuple[int, Callable[[str], str]]] = []
        self._key_plans: list[tuple[str, tuple[int, ...], bool]] = []
        self._key_functions: list[tuple[str, Callable[[Mapping[str, Any]], Iterable[str]]]] = []
        for number, key in enumerate(self._blocking):
            if not isinstance(key, BlockingKey):
                self._key_functions.append((getattr(key, "__name__", f"key{number}"), key))
            elif key.function is not None:
                self._key_functions.append((key.name, key.function))
            else:
                code_ids = []
                for name, normalizer, encoder in zip(
                    key.fields, key.normalizers, key.encoders, strict=True
                ):
                    code = (self._slot_ids((name,), normalizer)[0], ENCODERS[encoder])
                    if code not in self._codes:
                        self._codes.append(code)
                    code_ids.append(self._codes.index(code))
                self._key_plans.append((key.name, tuple(code_ids), key.unordered))
        self.prior = prior
        self.match_threshold = match_threshold
        self.auto_link_threshold = auto_link_threshold
        self.max_block_size = max_block_size
        self.default_region = country_code(default_region) if default_region else None
        self.country_field = country_field
        self._cutoff = _logit2(match_threshold)
        # Raw -> normalized value per slot: names, cities and postcodes repeat a lot.
        self._step_slots = [step.slots for step in self._steps]
        self._memo: list[dict[str, str | None]] = [{} for _ in self._slots]
        self._index: dict[str, _Prepared] = {}
        self._blocks: dict[str, list[str]] = defaultdict(list)
        self.last_run = RunStats(records=0, comparisons=0, blocks=0, oversized_blocks=0, seconds=0)

    @classmethod
    def for_entity(cls, entity_type: str, **options: Any) -> Matcher:
        """The default rules for a canonical entity type ("contact" or "company").

        `options` override the profile's keyword arguments (thresholds, region, ...) and
        `rules` its rules; the profile's blocking keys stay unless `blocking` is given.
        """
        try:
            profile = PROFILES[entity_type]
        except KeyError as err:
            known = ", ".join(sorted(PROFILES))
            raise ConfigurationError(
                f"no default matching rules for {entity_type!r} (known: {known})"
            ) from err
        rules = options.pop("rules", profile.rules)
        kwargs: dict[str, Any] = {
            "blocking": profile.blocking,
            "prior": profile.prior,
            "match_threshold": profile.match_threshold,
            "auto_link_threshold": profile.auto_link_threshold,
            **options,
        }
        return cls(rules, **kwargs)

    # -- configuration ---------------------------------------------------------------------

    @property
    def rules(self) -> tuple[Rule | RecordRule, ...]:
        return self._rules

    @property
    def blocking(self) -> tuple[BlockingLike, ...]:
        return self._blocking

    @property
    def key_fields(self) -> frozenset[str] | None:
        """The fields blocking keys are made from (None: a key is a function of anything).

        An update that touches none of them leaves a record's keys as they were.
        """
        fields = {self.country_field}
        for key in self._blocking:
            if not isinstance(key, BlockingKey) or key.function is not None:
                return None
            fields.update(key.fields)
        return frozenset(fields)

    @property
    def review_band(self) -> tuple[float, float]:
        """Scores in [low, high) go to a person for review."""
        return (self.match_threshold, self.auto_link_threshold)

    def decide(self, score: float | Match) -> Decision:
        """Link, review or new entity, for a best match's score."""
        value = score.score if isinstance(score, Match) else score
        if value >= self.auto_link_threshold:
            return Decision.LINK
        if value >= self.match_threshold:
            return Decision.REVIEW
        return Decision.NEW

    # -- preparation -----------------------------------------------------------------------

    def _region(self, record: Mapping[str, Any]) -> str | None:
        return country_code(record.get(self.country_field)) or self.default_region

    def _slot_ids(self, fields: tuple[str, ...], normalizer: str | Normalizer) -> tuple[int, ...]:
        fn = normalizer if callable(normalizer) else NORMALIZERS[normalizer]
        ids = []
        for name in fields:
            slot = (name, fn)
            if slot not in self._slots:
                self._slots.append(slot)
            ids.append(self._slots.index(slot))
        return tuple(ids)

    def _prepare(self, record: Mapping[str, Any], *, need_id: bool = True) -> _Prepared:
        raw_id = record.get("id")
        if raw_id is None and need_id:
            raise ValueError("every record needs an 'id'")
        slots: list[str | None] = []
        for (name, normalizer), memo in zip(self._slots, self._memo, strict=True):
            raw = record.get(name)
            if raw is None:
                slots.append(None)
            elif normalizer is normalize_phone:
                slots.append(normalize_phone(raw, region=self._region(record)))
            elif type(raw) is str:
                try:
                    slots.append(memo[raw])
                except KeyError:
                    if len(memo) >= _MEMO_SIZE:
                        memo.clear()
                    value = memo[raw] = normalizer(raw)
                    slots.append(value)
            else:
                slots.append(normalizer(raw))
        values = tuple(
            [
                slots[ids[0]]
                if len(ids) == 1
                else (None if all(slots[i] is None for i in ids) else tuple(slots[i] for i in ids))
                for ids in self._step_slots
            ]
        )
        codes = [encode(v) if (v := slots[i]) else "" for i, encode in self._codes]
        keys: list[str] = []
        for label, ids, unordered in self._key_plans:
            parts = [codes[i] for i in ids]
            if all(parts):
                if unordered:
                    parts.sort()
                keys.append(f"{label}:{'|'.join(parts)}")
        for label, function in self._key_functions:
            keys.extend(dict.fromkeys(f"{label}:{v}" for v in function(record) if v))
        return _Prepared("" if raw_id is None else str(raw_id), record, values, tuple(keys))

    def blocking_keys(self, record: Mapping[str, Any]) -> list[str]:
        """The record's blocking keys ("name:value"), sorted: store them with an entity and
        look candidates up with ARRAY_CONTAINS-any instead of a scan."""
        return sorted(self._prepare(record, need_id=False).keys)

    # -- scoring ---------------------------------------------------------------------------

    def _bits(self, a: _Prepared, b: _Prepared, cutoff: float) -> _Scored | None:
        """Evidence for a pair, or None once it can no longer reach `cutoff` bits.

        Returns the total and the similarity per data rule (None where not compared), plus
        the record rules' bits; few allocations, as this runs for every candidate pair.
        """
        total = self.prior
        custom: list[float | None] = []
        for record_rule in self._record_rules:
            bits = record_rule.scorer(a.record, b.record)
            custom.append(bits)
            if bits is not None:
                total += bits
        suffix = self._suffix
        if total + suffix[0] < cutoff:
            return None
        values_a = a.values
        values_b = b.values
        sims: list[float | None] = [None] * len(values_a)
        for i, (compare, weight, threshold, penalty, slope) in enumerate(self._plan):
            va = values_a[i]
            vb = values_b[i]
            if va is not None and vb is not None:
                sim = compare(va, vb)
                if sim is not None:
                    sims[i] = sim
                    if sim >= 1.0:
                        total += weight
                    elif sim <= threshold:
                        total -= penalty
                    else:
                        total += slope * (sim - threshold) - penalty
            if total + suffix[i + 1] < cutoff:
                return None
        return total, sims, custom

    def _match(self, left_id: str, right_id: str, scored: _Scored) -> Match:
        return Match(
            left_id, right_id, _score_of(scored[0]), explain=partial(self._explain, scored)
        )

    def _explain(self, scored: _Scored) -> tuple[Comparison, ...]:
        _, sims, custom = scored
        made = [
            Comparison(rule.name, None, bits)
            for rule, bits in zip(self._record_rules, custom, strict=True)
            if bits is not None
        ]
        for name, (_, weight, threshold, penalty, slope), sim in zip(
            self._names, self._plan, sims, strict=True
        ):
            if sim is not None:
                if sim >= 1.0:
                    bits = weight
                elif sim <= threshold:
                    bits = -penalty
                else:
                    bits = slope * (sim - threshold) - penalty
                made.append(Comparison(name, sim, bits))
        return tuple(made)

    def compare(self, left: Mapping[str, Any], right: Mapping[str, Any]) -> Match:
        """Score one pair, whatever the score, with every comparison explained."""
        a = self._prepare(left, need_id=False)
        b = self._prepare(right, need_id=False)
        scored = self._bits(a, b, -math.inf)
        assert scored is not None  # noqa: S101  (no cutoff, so always scored)
        return self._match(a.id, b.id, scored)

    # -- runs ------------------------------------------------------------------------------

    def find_duplicates(self, records: Sequence[Mapping[str, Any]]) -> list[Match]:
        """Pairs of `records` at or above the match threshold, each once (left_id <
        right_id), best first."""
        with _gc_paused():
            return self._find_duplicates(records)

    def _find_duplicates(self, records: Sequence[Mapping[str, Any]]) -> list[Match]:
        started = time.perf_counter()
        prepared = [self._prepare(r) for r in records]
        n = len(prepared)
        blocks: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(prepared):
            for key in p.keys:
                blocks[key].append(i)
        pairs: set[int] = set()
        used = oversized = 0
        for members in blocks.values():
            size = len(members)
            if size < 2:
                continue
            if size > self.max_block_size:
                oversized += 1
                continue
            used += 1
            for x in range(size - 1):
                base = members[x] * n
                pairs.update(base + y for y in members[x + 1 :])
        cutoff = self._cutoff
        found: list[Match] = []
        for pair in pairs:
            a = prepared[pair // n]
            b = prepared[pair % n]
            if a.id == b.id:
                continue
            scored = self._bits(a, b, cutoff)
            if scored is not None and scored[0] >= cutoff:
                left, right = (a, b) if a.id < b.id else (b, a)
                found.append(self._match(left.id, right.id, scored))
        found.sort(key=lambda m: (-m.score, m.left_id, m.right_id))
        self.last_run = RunStats(n, len(pairs), used, oversized, time.perf_counter() - started)
        return found

    def link(
        self, left_records: Sequence[Mapping[str, Any]], right_records: Sequence[Mapping[str, Any]]
    ) -> list[Match]:
        """Pairs across two sources (left from `left_records`), at or above the match
        threshold, best first. A left record may match several right records."""
        with _gc_paused():
            return self._link(left_records, right_records)

    def _link(
        self, left_records: Sequence[Mapping[str, Any]], right_records: Sequence[Mapping[str, Any]]
    ) -> list[Match]:
        started = time.perf_counter()
        right = [self._prepare(r) for r in right_records]
        blocks: dict[str, list[int]] = defaultdict(list)
        for j, p in enumerate(right):
            for key in p.keys:
                blocks[key].append(j)
        oversized_keys = {k for k, v in blocks.items() if len(v) > self.max_block_size}
        comparisons = 0
        found: list[Match] = []
        used_keys: set[str] = set()
        for record in left_records:
            a = self._prepare(record)
            candidates: set[int] = set()
            for key in a.keys:
                members = blocks.get(key)
                if members and key not in oversized_keys:
                    used_keys.add(key)
                    candidates.update(members)
            comparisons += len(candidates)
            for j in candidates:
                scored = self._bits(a, right[j], self._cutoff)
                if scored is not None and scored[0] >= self._cutoff:
                    found.append(self._match(a.id, right[j].id, scored))
        found.sort(key=lambda m: (-m.score, m.left_id, m.right_id))
        self.last_run = RunStats(
            len(left_records) + len(right),
            comparisons,
            len(used_keys),
            len(oversized_keys),
            time.perf_counter() - started,
        )
        return found

    # -- incremental index -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._index)

    def index(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add records to the index (a record with an indexed id replaces it)."""
        with _gc_paused():
            self._index_all(records)

    def _index_all(self, records: Iterable[Mapping[str, Any]]) -> None:
        for record in records:
            p = self._prepare(record)
            if p.id in self._index:
                self.remove(p.id)
            self._index[p.id] = p
            for key in p.keys:
                self._blocks[key].append(p.id)

    def remove(self, record_id: str) -> None:
        """Drop a record from the index; unknown ids are ignored."""
        p = self._index.pop(record_id, None)
        if p is None:
            return
        for key in p.keys:
            members = self._blocks[key]
            members.remove(record_id)
            if not members:
                del self._blocks[key]

    def match(self, record: Mapping[str, Any], *, limit: int | None = None) -> list[Match]:
        """Indexed records matching `record` (left_id is the record's id), best first."""
        started = time.perf_counter()
        a = self._prepare(record, need_id=False)
        candidates: set[str] = set()
        used = oversized = 0
        for key in a.keys:
            members = self._blocks.get(key)
            if not members:
                continue
            if len(members) > self.max_block_size:
                oversized += 1
                continue
            used += 1
            candidates.update(members)
        candidates.discard(a.id)
        found: list[Match] = []
        for candidate_id in candidates:
            scored = self._bits(a, self._index[candidate_id], self._cutoff)
            if scored is not None and scored[0] >= self._cutoff:
                found.append(self._match(a.id, candidate_id, scored))
        found.sort(key=lambda m: (-m.score, m.right_id))
        self.last_run = RunStats(1, len(candidates), used, oversized, time.perf_counter() - started)
        return found if limit is None else found[:limit]
