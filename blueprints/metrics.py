"""The admin API's figures and notification settings, under /api/admin/...

- `metrics`: the tenant's figures over the last hours (`?hours=`, at most a week): records
  per connection and hour, latency percentiles per stage, dedup match rate, conflicts,
  webhooks per outcome, token refreshes, limiter decisions, the queues' backlog;
- `notifications/destinations`: where alerts go (Slack incoming webhooks, Teams Workflows
  webhooks); a URL is write-only: kept in the secret store, never listed or logged;
- `notifications/preferences`: how long a conflict or duplicate may wait for a decision
  before the tenant is alerted;
- `notifications/incidents`: the alerts open now;
- `health/connections`: each connection's auth state, last successful sync and breaker.

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

from collections.abc import Callable
from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from blueprints._private import api_key_caller, audit
from blueprints.http import endpoint
from integration_core.admin import ApiKey
from integration_core.admin.metrics import MetricsQuery, TenantMetrics, tenant_metrics
from integration_core.admin.requests import AdminRequest
from integration_core.models import UtcDatetime
from integration_core.notify import add_destination, list_destinations, remove_destination
from integration_core.notify.incidents import open_incidents
from integration_core.notify.preferences import (
    NotificationPreferences,
    get_preferences,
    set_preferences,
)
from integration_core.pipelines.connection_health import connection_health
from integration_core.runtime import Runtime

__all__ = [
    "ConnectionHealthView",
    "DestinationCreate",
    "DestinationView",
    "IncidentView",
    "blueprint",
]


class DestinationCreate(AdminRequest):
    """A destination; the same name replaces it. The URL is never shown again."""

    kind: Literal["slack", "teams"]
    name: str = Field(min_length=1, max_length=100)
    url: SecretStr = Field(min_length=8, max_length=2048)


class DestinationView(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    kind: str
    name: str
    host: str


class IncidentView(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    kind: str
    subject_id: str
    opened_at: UtcDatetime
    last_occurred_at: UtcDatetime | None = None
    occurrences: int
    totals: dict[str, int] = Field(default_factory=dict)


class BreakerView(BaseModel):
    state: Literal["closed", "open", "half_open"]
    failures: int
    shared: bool  # False: this instance's own breaker (Redis unreachable)


class ConnectionHealthView(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    id: str
    system: str
    status: str
    last_success_at: UtcDatetime | None
    breaker: BreakerView


def blueprint(runtime: Callable[[], Runtime]) -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    caller_of = api_key_caller(runtime)

    @bp.function_name("AdminMetrics")
    @bp.route(route="admin/metrics", methods=["GET"])
    @endpoint(response=TenantMetrics, auth=caller_of, query=MetricsQuery)
    def admin_metrics(caller: ApiKey, query: MetricsQuery) -> dict[str, Any]:
        """The tenant's figures over the last hours (records, latency, webhooks, queues)."""
        figures = tenant_metrics(runtime(), caller.tenant_id, hours=query.hours)
        dumped: dict[str, Any] = figures.model_dump(mode="json", by_alias=True)
        return dumped

    @bp.function_name("AdminListDestinations")
    @bp.route(route="admin/notifications/destinations", methods=["GET"])
    @endpoint(response=list[DestinationView], auth=caller_of)
    def admin_list_destinations(caller: ApiKey) -> list[dict[str, Any]]:
        """Where the tenant's alerts go (never the URLs)."""
        return [_destination(d.to_json()) for d in list_destinations(runtime(), caller.tenant_id)]

    @bp.function_name("AdminAddDestination")
    @bp.route(route="admin/notifications/destinations", methods=["POST"])
    @endpoint(response=DestinationView, status=201, auth=caller_of, body=DestinationCreate)
    def admin_add_destination(caller: ApiKey, body: DestinationCreate) -> dict[str, Any]:
        """Send the tenant's alerts to a Slack or Teams webhook URL (write-only)."""
        added = add_destination(
            runtime(),
            caller.tenant_id,
            kind=body.kind,
            name=body.name,
            url=body.url.get_secret_value(),
        )
        audit(runtime(), caller, "add", "notification-destination", added.id)
        return _destination(added.to_json())

    @bp.function_name("AdminRemoveDestination")
    @bp.route(route="admin/notifications/destinations/{destination_id}", methods=["DELETE"])
    @endpoint(status=204, auth=caller_of)
    def admin_remove_destination(caller: ApiKey, destination_id: str) -> None:
        """Stop sending alerts there; its URL is deleted from the secret store."""
        remove_destination(runtime(), caller.tenant_id, destination_id)
        audit(runtime(), caller, "remove", "notification-destination", destination_id)

    @bp.function_name("AdminGetNotificationPreferences")
    @bp.route(route="admin/notifications/preferences", methods=["GET"])
    @endpoint(response=NotificationPreferences, auth=caller_of)
    def admin_get_notification_preferences(caller: ApiKey) -> dict[str, Any]:
        """The tenant's notification preferences."""
        found = get_preferences(runtime().store, caller.tenant_id)
        dumped: dict[str, Any] = found.model_dump(mode="json", by_alias=True)
        return dumped

    @bp.function_name("AdminSetNotificationPreferences")
    @bp.route(route="admin/notifications/preferences", methods=["PUT"])
    @endpoint(response=NotificationPreferences, auth=caller_of, body=NotificationPreferences)
    def admin_set_notification_preferences(
        caller: ApiKey, body: NotificationPreferences
    ) -> dict[str, Any]:
        """Set how long a conflict or duplicate may wait before an alert (null: never)."""
        stored = set_preferences(runtime().store, caller.tenant_id, body)
        audit(runtime(), caller, "set", "notification-preferences", "preferences")
        dumped: dict[str, Any] = stored.model_dump(mode="json", by_alias=True)
        return dumped

    @bp.function_name("AdminListIncidents")
    @bp.route(route="admin/notifications/incidents", methods=["GET"])
    @endpoint(response=list[IncidentView], auth=caller_of)
    def admin_list_incidents(caller: ApiKey) -> list[dict[str, Any]]:
        """The tenant's open incidents (one per kind of trouble and subject)."""
        return [
            IncidentView.model_validate(found).model_dump(mode="json", by_alias=True)
            for found in open_incidents(runtime().store, caller.tenant_id)
        ]

    @bp.function_name("AdminConnectionHealth")
    @bp.route(route="admin/health/connections", methods=["GET"])
    @endpoint(response=list[ConnectionHealthView], auth=caller_of)
    def admin_connection_health(caller: ApiKey) -> list[dict[str, Any]]:
        """Each connection's auth state, last successful sync and circuit breaker."""
        return connection_health(runtime(), caller.tenant_id)

    return bp


def _destination(document: dict[str, str]) -> dict[str, Any]:
    dumped: dict[str, Any] = DestinationView.model_validate(document).model_dump(
        mode="json", by_alias=True
    )
    return dumped
