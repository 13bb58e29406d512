"""Entity matching: find records that describe the same person or company.

Pure and deterministic (no I/O). `Matcher.for_entity("contact")` gives the default rules;
`Matcher(rules=...)` takes custom ones. Blocking keeps the cost near-linear.
"""

from __future__ import annotations

from integration_core.dedup.compare import COMPARATORS, Comparator
from integration_core.dedup.defaults import PROFILES, Profile
from integration_core.dedup.matcher import Comparison, Decision, Match, Matcher, RunStats
from integration_core.dedup.rules import (
    ENCODERS,
    NORMALIZERS,
    BlockingKey,
    Normalizer,
    RecordRule,
    RecordScorer,
    Rule,
)

__all__ = [
    "Matcher",
    "Match",
    "Comparison",
    "Decision",
    "RunStats",
    "Rule",
    "RecordRule",
    "RecordScorer",
    "BlockingKey",
    "Profile",
    "PROFILES",
    "COMPARATORS",
    "Comparator",
    "NORMALIZERS",
    "Normalizer",
    "ENCODERS",
]
