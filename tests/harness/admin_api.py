"""The admin API as a test calls it through the function host: a call, its answer or
problem detail, a sandbox connection, and a first sync (for tests/unit/app/)."""

from __future__ import annotations

import json
from typing import Any

from adapters.sandbox_server import SandboxServer
from integration_core.pipelines.drain import drain_queues
from integration_core.webhooks.registrations import WebhookRegistrations
from tests.harness.function_host import FunctionHost
from tests.harness.webhooks import github_delivery

__all__ = ["call", "connect", "delivered_three_ways", "ok", "problem", "synced"]


def call(host: FunctionHost, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    """`method /api/admin/<path>` with `body` as JSON, under the host's tenant's key unless
    `tenant=` names another."""
    raw = b"" if body is None else json.dumps(body).encode()
    return host.http(method, f"/api/admin/{path}", body=raw, **kw)


def ok(response: Any, status: int = 200) -> Any:
    """The JSON of a successful answer with `status` (None when it has no body)."""
    assert response.status_code == status, response.get_body()
    return json.loads(response.get_body()) if response.get_body() else None


def problem(response: Any, status: int) -> dict[str, Any]:
    """The problem detail of a refused answer with `status`."""
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/problem+json"
    found: dict[str, Any] = json.loads(response.get_body())
    return found


def connect(host: FunctionHost, server: SandboxServer, name: str) -> dict[str, Any]:
    body = {
        "id": name,
        "system": "sandbox",
        "displayName": name.upper(),
        "config": {"base_url": server.base_url},
        "credential": {"type": "bearer_token", "token": server.account.api_key},
    }
    return ok(call(host, "POST", "connections", body), 201)  # type: ignore[no-any-return]


def synced(host: FunctionHost, served: tuple[SandboxServer, SandboxServer]) -> str:
    """crm and mkt connected, task crm-contacts (crm -> mkt) run once; its result id."""
    for name, server in zip(("crm", "mkt"), served, strict=True):
        connect(host, server, name)
    task = {
        "id": "crm-contacts",
        "connectionId": "crm",
        "entityType": "contact",
        "targetConnectionIds": ["mkt"],
    }
    ok(call(host, "POST", "tasks", task), 201)
    result_id: str = ok(call(host, "POST", "tasks/crm-contacts/run"), 202)["resultId"]
    drain_queues(host.runtime())
    return result_id


def delivered_three_ways(host: FunctionHost, tenant_id: str, connection_id: str) -> str:
    """A GitHub webhook registered for the connection and three deliveries to it: one
    accepted, the same one again (a duplicate), one with a wrong signature (refused); the
    registration's id."""
    rt = host.runtime()
    registration, secret = WebhookRegistrations(rt.store, rt.credentials).register(
        tenant_id, connection_id, "github"
    )
    for key in (secret, secret, "wrong"):
        headers, body = github_delivery(key, delivery="same-delivery")
        host.http("POST", f"/api/webhooks/{registration.id}", body=body, headers=headers)
    return registration.id
