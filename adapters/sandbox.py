"""Adapter for the sandbox system (adapters/sandbox_server.py), over HTTP like any other."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

from adapters.base import BaseIntegrationAdapter, ChangePage, WriteResult
from integration_core.clock import from_iso, to_iso
from integration_core.mapping import ObjectMapping, register_default_mappings
from integration_core.models import Change
from integration_core.sync.watermark import Watermark

__all__ = ["SandboxAdapter", "SANDBOX_MAPPINGS"]

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

SANDBOX_MAPPINGS: Mapping[str, ObjectMapping] = register_default_mappings(
    "sandbox",
    [
        {
            "entity_type": entity_type,
            "provider_object": provider_object,
            "fields": [{"source": path, "canonical": name} for name, path in fields.items()],
        }
        for entity_type, provider_object, fields in (
            ("contact", "contacts", _CONTACT),
            ("company", "companies", _COMPANY),
        )
    ],
)


class SandboxAdapter(BaseIntegrationAdapter):
    """Connection config: `base_url` of the sandbox API (auth comes from the credential)."""

    system: ClassVar[str] = "sandbox"
    # The sandbox lists every committed change at once, in order: no overlap is needed.
    read_overlap: ClassVar[timedelta] = timedelta(0)
    default_rate_limits: ClassVar[tuple[tuple[str, int, float], ...]] = (("rate", 100, 1.0),)

    def discover(self) -> list[str]:
        return sorted(SANDBOX_MAPPINGS)

    def read_changes(
        self, entity_type: str, after: Watermark | None, *, page_size: int = 100
    ) -> ChangePage:
        mapping = self.field_map(entity_type)
        params: dict[str, str | int] = {"limit": page_size}
        if after is not None:
            params["after_time"] = to_iso(after.modified_at)
            params["after_id"] = after.id
        response = self._request(
            "GET", f"/v1/objects/{mapping.provider_object}", params=params, what="list"
        )
        body = response.json()
        changes = [
            Change(
                external_id=row["id"],
                version=row["version"],
                modified_at=from_iso(row["modifiedAt"]),
                values=row["properties"],
                deleted=bool(row.get("archived")),
            )
            for row in body["results"]
        ]
        return ChangePage(changes=changes, has_more=body.get("paging") is not None)

    def write(
        self,
        entity_type: str,
        external_id: str | None,
        values: Mapping[str, Any],
        *,
        expected_version: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        path = f"/v1/objects/{self.field_map(entity_type).provider_object}"
        body = {"properties": dict(values)}
        if external_id is None:
            headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
            response = self._request("POST", path, json=body, headers=headers, what="create")
        else:
            headers = {"If-Match": expected_version} if expected_version else {}
            response = self._request(
                "PATCH", f"{path}/{external_id}", json=body, headers=headers, what="update"
            )
        row = response.json()
        # 201 for a record made now, 200 for the one an earlier call with this key made.
        created = external_id is None and response.status_code == 201
        return WriteResult(external_id=row["id"], version=row["version"], created=created)

    def delete(
        self, entity_type: str, external_id: str, *, expected_version: str | None = None
    ) -> None:
        path = f"/v1/objects/{self.field_map(entity_type).provider_object}/{external_id}"
        headers = {"If-Match": expected_version} if expected_version else {}
        self._request("DELETE", path, headers=headers, what="delete")

    def health(self) -> None:
        # An authenticated call, so that a bad credential shows up as unhealthy.
        self._request("GET", "/v1/objects/contacts", params={"limit": 1}, what="health")
