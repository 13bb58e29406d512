"""The admin API's webhook routes under /api/admin/webhooks/...: registrations, their
secret, health, deliveries and replays (integration_core/admin/webhooks.py does the work).

Like every admin route: the Functions key and a Lockstep API key (`auth=`), whose tenant
scopes the call. Its own area, so that it merges apart from the rest of the admin API.

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

from collections.abc import Callable
from typing import Any

import azure.functions as func

from blueprints._private import actor, api_key_caller, as_json
from blueprints.http import endpoint
from integration_core.admin import ApiKey, Page, PageQuery
from integration_core.admin import webhooks as hooks
from integration_core.runtime import Runtime
from integration_core.webhooks.registrations import WebhookRegistration

__all__ = ["blueprint"]


def blueprint(runtime: Callable[[], Runtime]) -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    caller_of = api_key_caller(runtime)

    @bp.function_name("AdminRegisterWebhook")
    @bp.route(route="admin/webhooks", methods=["POST"])
    @endpoint(
        response=hooks.RegisteredWebhook, status=201, auth=caller_of, body=hooks.WebhookCreate
    )
    def admin_register_webhook(caller: ApiKey, body: hooks.WebhookCreate) -> dict[str, Any]:
        """Register a webhook endpoint; a generated secret is answered this once."""
        registered = hooks.register_webhook(runtime(), caller.tenant_id, body, actor=actor(caller))
        return as_json(registered)

    @bp.function_name("AdminListWebhooks")
    @bp.route(route="admin/webhooks", methods=["GET"])
    @endpoint(response=Page[WebhookRegistration], auth=caller_of, query=PageQuery)
    def admin_list_webhooks(caller: ApiKey, query: PageQuery) -> dict[str, Any]:
        found = hooks.list_webhooks(
            runtime(), caller.tenant_id, after=query.after, limit=query.limit
        )
        return as_json(found)

    @bp.function_name("AdminGetWebhook")
    @bp.route(route="admin/webhooks/{registration_id}", methods=["GET"])
    @endpoint(response=WebhookRegistration, auth=caller_of)
    def admin_get_webhook(caller: ApiKey, registration_id: str) -> dict[str, Any]:
        return hooks.get_webhook(runtime(), caller.tenant_id, registration_id).to_document()

    @bp.function_name("AdminUnregisterWebhook")
    @bp.route(route="admin/webhooks/{registration_id}", methods=["DELETE"])
    @endpoint(status=204, auth=caller_of)
    def admin_unregister_webhook(caller: ApiKey, registration_id: str) -> None:
        """Unregister a webhook and delete its secret; later deliveries get 404."""
        hooks.unregister_webhook(runtime(), caller.tenant_id, registration_id, actor=actor(caller))
        return None

    @bp.function_name("AdminRotateWebhookSecret")
    @bp.route(route="admin/webhooks/{registration_id}/rotate", methods=["POST"])
    @endpoint(response=hooks.RotatedSecret, auth=caller_of, body=hooks.WebhookRotate)
    def admin_rotate_webhook_secret(
        caller: ApiKey, registration_id: str, body: hooks.WebhookRotate
    ) -> dict[str, Any]:
        """Rotate the secret; the old one still verifies during the overlap."""
        rotated = hooks.rotate_webhook(
            runtime(), caller.tenant_id, registration_id, body, actor=actor(caller)
        )
        return as_json(rotated)

    @bp.function_name("AdminEnableWebhook")
    @bp.route(route="admin/webhooks/{registration_id}/enable", methods=["POST"])
    @endpoint(response=WebhookRegistration, auth=caller_of)
    def admin_enable_webhook(caller: ApiKey, registration_id: str) -> dict[str, Any]:
        """Make a failing or disabled webhook active again."""
        enabled = hooks.enable_webhook(
            runtime(), caller.tenant_id, registration_id, actor=actor(caller)
        )
        return enabled.to_document()

    @bp.function_name("AdminWebhookHealth")
    @bp.route(route="admin/webhooks/{registration_id}/health", methods=["GET"])
    @endpoint(response=hooks.WebhookHealth, auth=caller_of)
    def admin_webhook_health(caller: ApiKey, registration_id: str) -> dict[str, Any]:
        """Status, failure streak, missed webhooks and the last delivery."""
        return as_json(hooks.webhook_health(runtime(), caller.tenant_id, registration_id))

    @bp.function_name("AdminListWebhookDeliveries")
    @bp.route(route="admin/webhooks/{registration_id}/deliveries", methods=["GET"])
    @endpoint(response=Page[hooks.DeliveryView], auth=caller_of, query=hooks.DeliveryQuery)
    def admin_list_webhook_deliveries(
        caller: ApiKey, registration_id: str, query: hooks.DeliveryQuery
    ) -> dict[str, Any]:
        """A webhook's deliveries with outcome and reason, oldest first."""
        found = hooks.list_deliveries(
            runtime(),
            caller.tenant_id,
            registration_id,
            outcome=query.outcome,
            after=query.after,
            limit=query.limit,
        )
        return as_json(found)

    @bp.function_name("AdminReplayWebhookDelivery")
    @bp.route(
        route="admin/webhooks/{registration_id}/deliveries/{inbox_id}/replay", methods=["POST"]
    )
    @endpoint(response=hooks.ReplayStarted, status=202, auth=caller_of)
    def admin_replay_webhook_delivery(
        caller: ApiKey, registration_id: str, inbox_id: str
    ) -> dict[str, Any]:
        """Replay one delivery from the inbox (applied once more)."""
        started = hooks.replay_delivery(
            runtime(), caller.tenant_id, registration_id, inbox_id, actor=actor(caller)
        )
        return as_json(started)

    @bp.function_name("AdminReplayWebhookRange")
    @bp.route(route="admin/webhooks/{registration_id}/replay", methods=["POST"])
    @endpoint(response=hooks.ReplayStarted, status=202, auth=caller_of, body=hooks.ReplayRange)
    def admin_replay_webhook_range(
        caller: ApiKey, registration_id: str, body: hooks.ReplayRange
    ) -> dict[str, Any]:
        """Replay every delivery received in a time range."""
        started = hooks.replay_range(
            runtime(), caller.tenant_id, registration_id, body, actor=actor(caller)
        )
        return as_json(started)

    return bp
