"""The function registrations agree with the settings and the pipelines' constants."""

from __future__ import annotations

import re

import pytest

from integration_core.errors import ConfigurationError
from integration_core.messaging import INBOUND_QUEUE, OUTBOUND_QUEUE
from tests.harness.function_host import REPO, FunctionHost, sample_settings

pytestmark = pytest.mark.unit

ADMIN_FUNCTIONS = [
    "AdminListConflicts",
    "AdminGetConflict",
    "AdminDecideConflict",
    "AdminListDuplicates",
    "AdminGetDuplicate",
    "AdminDecideDuplicate",
    "AdminIssueKey",
    "AdminListKeys",
    "AdminRevokeKey",
    "AdminAuditLog",
    "AdminCreateConnection",
    "AdminListConnections",
    "AdminGetConnection",
    "AdminUpdateConnection",
    "AdminDeleteConnection",
    "AdminDisableConnection",
    "AdminTestConnection",
    "AdminConnectionOverview",
    "AdminRateLimitStatus",
    "AdminConfigureRateLimits",
    "AdminResetRateLimits",
    "AdminCreateTask",
    "AdminListTasks",
    "AdminGetTask",
    "AdminUpdateTask",
    "AdminDeleteTask",
    "AdminRunTask",
    "AdminPauseTask",
    "AdminResumeTask",
    "AdminResyncDryRun",
    "AdminResyncTask",
    "AdminListResults",
    "AdminGetResult",
    "AdminGetEntity",
    "AdminEditEntity",
    "AdminStartOAuthConnect",
    "AdminMetrics",
    "AdminListDestinations",
    "AdminAddDestination",
    "AdminRemoveDestination",
    "AdminGetNotificationPreferences",
    "AdminSetNotificationPreferences",
    "AdminListIncidents",
    "AdminConnectionHealth",
    "AdminListHeldDeletes",
    "AdminReleaseHeldDeletes",
    "AdminRejectHeldDeletes",
    "AdminRegisterWebhook",
    "AdminListWebhooks",
    "AdminGetWebhook",
    "AdminUnregisterWebhook",
    "AdminRotateWebhookSecret",
    "AdminEnableWebhook",
    "AdminWebhookHealth",
    "AdminListWebhookDeliveries",
    "AdminReplayWebhookDelivery",
    "AdminReplayWebhookRange",
    "AdminOpenApi",
]
EXPECTED = {
    "SyncScheduler": "timerTrigger",
    "TokenRefresher": "timerTrigger",
    "Notifier": "timerTrigger",
    "InboundWorker": "queueTrigger",
    "OutboundWorker": "queueTrigger",
    "WebhookReceiver": "httpTrigger",
    "Health": "httpTrigger",
    "ConnectCallback": "httpTrigger",
    "AdminPage": "httpTrigger",
    "AdminPageFile": "httpTrigger",
} | dict.fromkeys(ADMIN_FUNCTIONS, "httpTrigger")


@pytest.fixture(scope="module")
def host() -> FunctionHost:
    return FunctionHost(sample_settings())


def test_every_function_is_registered_with_its_trigger(host: FunctionHost) -> None:
    assert {name: r.trigger_type for name, r in host.functions.items()} == EXPECTED


def test_only_the_probe_the_webhooks_the_oauth_callback_and_the_admin_page_are_anonymous(
    host: FunctionHost,
) -> None:
    anonymous = {
        name
        for name, r in host.functions.items()
        if r.trigger_type == "httpTrigger"
        and str(getattr(r.binding["authLevel"], "value", r.binding["authLevel"])).lower()
        == "anonymous"
    }
    # The admin page's static files hold nothing of a tenant; its calls need the API key.
    assert anonymous == {
        "Health",
        "WebhookReceiver",
        "ConnectCallback",
        "AdminPage",
        "AdminPageFile",
    }


def test_every_setting_a_binding_names_is_in_the_sample(host: FunctionHost) -> None:
    sample = sample_settings()
    for registration in host.functions.values():
        for value in registration.binding.values():
            for name in re.findall(r"%([^%]+)%", str(value)):
                assert name in sample, f"{registration.name} uses %{name}%"
        connection = registration.binding.get("connection")
        if connection:
            assert connection in sample, f"{registration.name} uses connection {connection}"


def test_queue_names_match_the_pipelines(host: FunctionHost) -> None:
    assert host.functions["InboundWorker"].binding["queueName"] == INBOUND_QUEUE
    assert host.functions["OutboundWorker"].binding["queueName"] == OUTBOUND_QUEUE


def test_schedules_resolve_to_six_field_cron(host: FunctionHost) -> None:
    for name in ("SyncScheduler", "TokenRefresher", "Notifier"):
        schedule = host.setting(host.functions[name].binding["schedule"])
        assert len(schedule.split()) == 6, schedule


def test_service_bus_backend_registers_service_bus_triggers() -> None:
    settings = sample_settings() | {
        "QUEUE_BACKEND": "servicebus",
        "ServiceBusConnection": "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v",
    }
    host = FunctionHost(settings)
    for name in ("InboundWorker", "OutboundWorker"):
        registration = host.functions[name]
        assert registration.trigger_type == "serviceBusTrigger"
        assert registration.binding["connection"] in sample_settings()


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"COSMOS_ENDPOINT": ""}, "COSMOS_ENDPOINT"),
        ({"QUEUE_BACKEND": "servicebus"}, "ServiceBusConnection"),
        ({"SYNC_PAGE_SIZE": "many"}, "SYNC_PAGE_SIZE"),
        ({"STORE_BACKEND": "mongo"}, "STORE_BACKEND"),
        ({"SECRET_BACKEND": "keyvault"}, "KEY_VAULT_URL"),
    ],
)
def test_bad_config_fails_at_start_naming_the_setting(
    overrides: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        FunctionHost(sample_settings() | overrides)


def _setting_names() -> set[str]:
    from integration_core.settings import Settings

    return {field.alias or name.upper() for name, field in Settings.model_fields.items()}


def test_every_setting_the_app_reads_is_in_the_sample_and_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    sample = sample_settings()
    for name in _setting_names():
        assert name in sample, f"{name} missing from local.settings.sample.json"
        assert f"`{name}`" in readme, f"{name} missing from the README's settings table"
