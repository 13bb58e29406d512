"""A tenant's notification preferences, set through the admin API.

One document per tenant in `notification-preferences`. Today it says how long a conflict
or a duplicate candidate may wait for an admin's decision before the tenant is alerted
(`decision_wait_minutes`; null: never).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from integration_core.storage import DocumentStore
from integration_core.storage.concurrency import get_or_none

__all__ = [
    "DEFAULT_DECISION_WAIT_MINUTES",
    "PREFERENCES",
    "NotificationPreferences",
    "all_preferences",
    "get_preferences",
    "set_preferences",
]

PREFERENCES = "notification-preferences"
_ID = "preferences"
DEFAULT_DECISION_WAIT_MINUTES = 24 * 60


class NotificationPreferences(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    # At least 5 minutes (the Notifier's usual period), at most a year.
    decision_wait_minutes: int | None = Field(
        default=DEFAULT_DECISION_WAIT_MINUTES, ge=5, le=366 * 24 * 60
    )


def get_preferences(store: DocumentStore, tenant_id: str) -> NotificationPreferences:
    found = get_or_none(store, PREFERENCES, tenant_id, _ID)
    if found is None:
        return NotificationPreferences()
    return NotificationPreferences.model_validate(found["preferences"])


def set_preferences(
    store: DocumentStore, tenant_id: str, preferences: NotificationPreferences
) -> NotificationPreferences:
    document: dict[str, Any] = {
        "id": _ID,
        "tenantId": tenant_id,
        "preferences": preferences.model_dump(mode="json", by_alias=True),
    }
    store.upsert(PREFERENCES, document)
    return preferences


def all_preferences(store: DocumentStore) -> dict[str, NotificationPreferences]:
    """Every tenant that set its preferences (a cross-partition read of small documents)."""
    return {
        d["tenantId"]: NotificationPreferences.model_validate(d["preferences"])
        for d in store.query(PREFERENCES)
    }
