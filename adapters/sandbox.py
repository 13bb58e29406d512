"""The sandbox provider (adapters/sandbox_server.py) as data: the toolkit's reference spec.

Keyset listing by (modifiedAt, id): a new listing starts strictly after the committed
watermark (no overlap needed, the sandbox lists every committed change in order), pages
follow the opaque `paging.next` token, and a listing older than the account keeps changes
is answered 410 CURSOR_EXPIRED, after which the toolkit rescans without inferring deletes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from adapters.toolkit import (
    Budget,
    DeclarativeAdapter,
    ErrorMap,
    ErrorRule,
    JsonCursorPaginator,
    ModifiedSince,
    ObjectSpec,
    Outcome,
    ProviderSpec,
    RecordSpec,
    SubscriptionSpec,
    WriteSpec,
    webhook_json,
    webhook_notice,
)
from adapters.toolkit.mappings import register_copies
from integration_core.credentials.types import CredentialType
from integration_core.errors import PermanentError
from integration_core.mapping import ObjectMapping
from integration_core.ports import ChangeNotice
from integration_core.ports.oauth import OAuthSpec

__all__ = ["SANDBOX", "SANDBOX_MAPPINGS", "SandboxAdapter"]

# One-to-one: the sandbox's property names, and what they mean canonically.
_CONTACT = {
    "first_name": "firstname",
    "last_name": "lastname",
    "email": "email",
    "phone": "phone",
    "company": "company",
    "title": "jobtitle",
    "city": "city",
    "country": "country",
    "tags": "tags",
}
_COMPANY = {"name": "name", "domain": "domain", "phone": "phone", "city": "city"}
_TASK = {
    name: name for name in ("title", "description", "status", "assignee", "due_date", "labels")
}

SANDBOX_MAPPINGS: Mapping[str, ObjectMapping] = register_copies(
    "sandbox",
    {
        ("contact", "contacts"): _CONTACT,
        ("company", "companies"): _COMPANY,
        ("task", "tasks"): _TASK,
    },
)


def _expired(body: Any) -> bool:
    return isinstance(body, dict) and body.get("code") == "CURSOR_EXPIRED"


def _object(mapping: ObjectMapping) -> ObjectSpec:
    return ObjectSpec(
        path=f"/v1/objects/{mapping.provider_object}",
        records_path="results",
        paginator=JsonCursorPaginator("paging.next"),
        cursor=ModifiedSince("after_time", id_param="after_id", overlap=timedelta(0)),
        record=RecordSpec(deleted="archived"),
        write=WriteSpec(idempotency_header="Idempotency-Key"),
        max_page_size=200,
    )


_ENTITY_TYPES: dict[Any, Literal["contact", "company", "task"]] = {
    "contacts": "contact",
    "companies": "company",
    "tasks": "task",
}
_ACTIONS = frozenset({"created", "updated", "archived"})

SANDBOX = ProviderSpec(
    name="sandbox",
    objects={entity_type: _object(mapping) for entity_type, mapping in SANDBOX_MAPPINGS.items()},
    credential_types=frozenset(
        {
            CredentialType.BEARER_TOKEN,
            CredentialType.API_KEY,
            CredentialType.OAUTH2_AUTHORIZATION_CODE,
        }
    ),
    health_path="/v1/objects/contacts?limit=1",
    budgets=(Budget("rate", 100, 1.0),),
    errors=ErrorMap((ErrorRule(Outcome.CURSOR_EXPIRED, status=410, when=_expired),)),
    # The sandbox runs wherever it is deployed: its OAuth endpoints are paths, placed by the
    # deployment's OAuth client entry (`base_url` in OAUTH_CLIENTS); tests/harness/
    # oauth_server.py serves them.
    oauth=OAuthSpec(
        authorize_url="/oauth/authorize",
        token_url="/oauth/token",  # noqa: S106 - a path
        scopes=("contacts", "companies"),
    ),
    # POST /v1/webhooks registers an endpoint; its deliveries are Standard Webhooks.
    subscription=SubscriptionSpec(
        provider="standard_webhooks",
        path="/v1/webhooks",
        objects={entity_type: m.provider_object for entity_type, m in SANDBOX_MAPPINGS.items()},
    ),
)


class SandboxAdapter(DeclarativeAdapter):
    """Connection config: `base_url` of the sandbox API (auth comes from the credential)."""

    spec = SANDBOX

    @classmethod
    def parse_webhook(cls, *, headers: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        """The sandbox's thin events (adapters/sandbox_server.py); objects it does not sync
        are left out."""
        payload = webhook_json("sandbox", body)
        events = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(events, list):
            raise PermanentError("sandbox webhook: the body has no 'events' list")
        notices = []
        for index, event in enumerate(events):
            if not isinstance(event, dict):
                raise PermanentError(f"sandbox webhook event {index}: not an object")
            entity_type = _ENTITY_TYPES.get(event.get("object"))
            action = event.get("action")
            if entity_type is None:
                continue
            if action not in _ACTIONS:
                raise PermanentError(f"sandbox webhook event {index}: unknown action {action!r}")
            notices.append(
                webhook_notice(
                    "sandbox",
                    index,
                    object_type=entity_type,
                    external_id=event.get("id"),
                    operation="delete" if action == "archived" else "upsert",
                    occurred_at=event.get("occurredAt"),
                )
            )
        return notices
