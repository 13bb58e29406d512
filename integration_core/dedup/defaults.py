"""Default rules for canonical contacts, companies and tasks.

Weights are bits of evidence (see `rules`). They were set offline from how often fields
agree among true duplicates versus random pairs (FEBRL's synthetic people and typical CRM
data); nothing here reads labels at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from integration_core.dedup.rules import BlockingKey, Rule

__all__ = [
    "Profile",
    "PROFILES",
    "CONTACT_RULES",
    "CONTACT_BLOCKING",
    "COMPANY_RULES",
    "COMPANY_BLOCKING",
    "TASK_RULES",
    "TASK_BLOCKING",
]


@dataclass(frozen=True, slots=True)
class Profile:
    """Everything `Matcher.for_entity` needs for one entity type."""

    rules: tuple[Rule, ...]
    blocking: tuple[BlockingKey, ...]
    prior: float
    match_threshold: float
    auto_link_threshold: float


CONTACT_RULES: tuple[Rule, ...] = (
    Rule("national_id", ("national_id",), "digits", 14.0, 0.5, 4.0, "digits"),
    Rule("email", ("email",), "exact", 14.0, 0.0, 2.0, "email"),
    Rule("phone", ("phone",), "exact", 12.0, 0.0, 1.0, "phone"),
    Rule("name", ("first_name", "last_name"), "person_name", 12.0, 0.6, 5.0, "name"),
    Rule("birth_date", ("birth_date",), "date", 10.0, 0.0, 4.0, "date"),
    Rule("street", ("street",), "token_sort", 8.0, 0.6, 3.0, "street"),
    Rule("postal_code", ("postal_code",), "digits", 8.0, 0.5, 4.0, "digits"),
    Rule("city", ("city",), "jaro_winkler", 8.0, 0.7, 3.5, "text"),
    Rule("street2", ("street2",), "jaro_winkler", 6.0, 0.7, 3.0, "text"),
    Rule("company", ("company",), "token_set", 4.0, 0.6, 0.5, "company"),
    Rule("region", ("region",), "exact", 2.0, 0.0, 3.0, "text"),
    Rule("title", ("title",), "token_set", 1.0, 0.6, 0.0, "text"),
    Rule("country", ("country",), "exact", 0.5, 0.0, 2.0, "text"),
)

CONTACT_BLOCKING: tuple[BlockingKey, ...] = (
    BlockingKey("nid", ("national_id",), normalizer="digits"),
    BlockingKey("email", ("email",), normalizer="email"),
    BlockingKey("phone", ("phone",), normalizer="phone"),
    # Names and birth dates alone are too common at scale (every "John Smith" would meet
    # every other): each is paired with one of several other values.
    BlockingKey(
        "namey",
        ("first_name", "last_name", "birth_date"),
        ("formal_metaphone", "formal_metaphone", "year"),
        normalizer=("name", "name", "date"),
        unordered=True,
    ),
    BlockingKey(
        "namec",
        ("first_name", "last_name", "city"),
        ("formal_metaphone", "formal_metaphone", "initial"),
        normalizer=("name", "name", "text"),
        unordered=True,
    ),
    BlockingKey(
        "namek",
        ("first_name", "last_name", "company"),
        ("formal_metaphone", "formal_metaphone", "initial"),
        normalizer=("name", "name", "company"),
        unordered=True,
    ),
    BlockingKey(
        "name4y",
        ("first_name", "last_name", "birth_date"),
        ("prefix4", "prefix4", "year"),
        normalizer=("name", "name", "date"),
    ),
    BlockingKey(
        "name4c",
        ("first_name", "last_name", "city"),
        ("prefix4", "prefix4", "initial"),
        normalizer=("name", "name", "text"),
    ),
    BlockingKey(
        "dobf",
        ("birth_date", "first_name"),
        ("date_unordered", "initial"),
        normalizer=("date", "name"),
    ),
    BlockingKey(
        "dobl",
        ("birth_date", "last_name"),
        ("date_unordered", "initial"),
        normalizer=("date", "name"),
    ),
    BlockingKey(
        "dobc", ("birth_date", "city"), ("date_unordered", "initial"), normalizer=("date", "text")
    ),
    BlockingKey(
        "dobp",
        ("birth_date", "postal_code"),
        ("date_unordered", "exact"),
        normalizer=("date", "digits"),
    ),
    BlockingKey(
        "lnym", ("last_name", "birth_date"), ("soundex", "year_month"), normalizer=("name", "date")
    ),
    BlockingKey(
        "lnpc", ("last_name", "postal_code"), ("nysiis", "exact"), normalizer=("name", "digits")
    ),
    BlockingKey(
        "pcst", ("postal_code", "street"), ("exact", "street_name"), normalizer=("digits", "street")
    ),
)

COMPANY_RULES: tuple[Rule, ...] = (
    Rule("domain", ("domain",), "exact", 14.0, 0.0, 2.0, "domain"),
    Rule("phone", ("phone",), "exact", 12.0, 0.0, 1.0, "phone"),
    Rule("name", ("name",), "token_set", 10.0, 0.7, 6.0, "company"),
    Rule("street", ("street",), "token_sort", 6.0, 0.6, 2.0, "street"),
    Rule("postal_code", ("postal_code",), "digits", 5.0, 0.5, 2.0, "digits"),
    Rule("city", ("city",), "jaro_winkler", 4.0, 0.7, 2.0, "text"),
    Rule("region", ("region",), "exact", 1.0, 0.0, 1.0, "text"),
    Rule("country", ("country",), "exact", 0.5, 0.0, 3.0, "text"),
)

COMPANY_BLOCKING: tuple[BlockingKey, ...] = (
    BlockingKey("domain", ("domain",), normalizer="domain"),
    BlockingKey("phone", ("phone",), normalizer="phone"),
    BlockingKey("name", ("name",), normalizer="company"),
    BlockingKey("name4", ("name",), "prefix4", normalizer="company"),
    BlockingKey("namephon", ("name",), "metaphone", normalizer="company"),
)

# Tasks: the same to-do kept in two trackers before their first sync. A title alone links
# nothing (many tasks are called "Update docs"); a title with its description or assignee
# lands in the review band, and only title, description and assignee together link.
TASK_RULES: tuple[Rule, ...] = (
    Rule("title", ("title",), "token_sort", 12.0, 0.8, 4.0, "text"),
    Rule("description", ("description",), "token_set", 6.0, 0.7, 2.0, "text"),
    Rule("assignee", ("assignee",), "exact", 4.0, 0.0, 2.0, "text"),
    Rule("due_date", ("due_date",), "date", 4.0, 0.0, 2.0, "date"),
)

TASK_BLOCKING: tuple[BlockingKey, ...] = (
    BlockingKey("title", ("title",), normalizer="text"),
    BlockingKey("title4", ("title",), "prefix4", normalizer="text"),
)

PROFILES: dict[str, Profile] = {
    "contact": Profile(CONTACT_RULES, CONTACT_BLOCKING, -16.0, 0.5, 0.95),
    "company": Profile(COMPANY_RULES, COMPANY_BLOCKING, -12.0, 0.5, 0.95),
    "task": Profile(TASK_RULES, TASK_BLOCKING, -14.0, 0.5, 0.95),
}
