"""The sandbox provider (adapters/sandbox_server.py) as data: the toolkit's reference spec.

Keyset listing by (modifiedAt, id): a new listing starts strictly after the committed
watermark (no overlap needed, the sandbox lists every committed change in order), pages
follow the opaque `paging.next` token, and a listing older than the account keeps changes
is answered 410 CURSOR_EXPIRED, after which the toolkit rescans without inferring deletes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

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
    WriteSpec,
)
from integration_core.credentials.types import CredentialType
from integration_core.mapping import FieldMap

__all__ = ["SANDBOX", "SANDBOX_FIELD_MAPS", "SandboxAdapter"]

SANDBOX_FIELD_MAPS: Mapping[str, FieldMap] = {
    "contact": FieldMap(
        entity_type="contact",
        provider_object="contacts",
        fields={
            "first_name": "firstname",
            "last_name": "lastname",
            "email": "email",
            "phone": "phone",
            "company": "company",
            "title": "jobtitle",
            "city": "city",
            "country": "country",
            "tags": "tags",
        },
    ),
    "company": FieldMap(
        entity_type="company",
        provider_object="companies",
        fields={"name": "name", "domain": "domain", "phone": "phone", "city": "city"},
    ),
}


def _expired(body: Any) -> bool:
    return isinstance(body, dict) and body.get("code") == "CURSOR_EXPIRED"


def _object(entity_type: str) -> ObjectSpec:
    field_map = SANDBOX_FIELD_MAPS[entity_type]
    return ObjectSpec(
        field_map=field_map,
        path=f"/v1/objects/{field_map.provider_object}",
        records_path="results",
        paginator=JsonCursorPaginator("paging.next"),
        cursor=ModifiedSince("after_time", id_param="after_id", overlap=timedelta(0)),
        record=RecordSpec(deleted="archived"),
        write=WriteSpec(idempotency_header="Idempotency-Key"),
        max_page_size=200,
    )


SANDBOX = ProviderSpec(
    name="sandbox",
    objects={entity_type: _object(entity_type) for entity_type in SANDBOX_FIELD_MAPS},
    credential_types=frozenset({CredentialType.BEARER_TOKEN}),
    health_path="/v1/objects/contacts?limit=1",
    budgets=(Budget("rate", 100, 1.0),),
    errors=ErrorMap((ErrorRule(Outcome.CURSOR_EXPIRED, status=410, when=_expired),)),
)


class SandboxAdapter(DeclarativeAdapter):
    """Connection config: `base_url` of the sandbox API (auth comes from the credential)."""

    spec = SANDBOX
