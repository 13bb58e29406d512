"""The serverless surface: registers one `func.Blueprint` per area, nothing else.

Settings are validated at import, so a bad deployment fails at start with the name of the
setting; backends are built on first use. The areas (blueprints/): workers (timers and
queue workers), webhooks (the receiver), admin (the admin API and health), webhook_admin (the
admin API's webhook routes), metrics (the admin API's figures and notification settings),
held_deletes (the mass-delete guard's holds), connect (the OAuth connect flow: start, and the
provider's callback), openapi (the admin API's document), ui (the admin web page over that
API, kept out of the API's document).

This module deliberately has no `from __future__ import annotations`: the Functions Python
worker reads the trigger parameters' annotations as real types to bind them.
"""

import functools
import gc
import logging

import azure.functions as func

from blueprints import (
    admin,
    connect,
    held_deletes,
    metrics,
    openapi,
    ui,
    webhook_admin,
    webhooks,
    workers,
)
from integration_core.observability import install_log_context, install_redaction
from integration_core.observability.telemetry import setup_telemetry
from integration_core.runtime import Runtime, build_runtime
from integration_core.settings import load_host_settings

install_redaction()
install_log_context()
SETTINGS = load_host_settings()
setup_telemetry(
    connection_string=SETTINGS.applicationinsights_connection_string.get_secret_value()
    if SETTINGS.applicationinsights_connection_string
    else None,
    console=SETTINGS.otel_console,
)
logging.getLogger("integration_core").setLevel(SETTINGS.log_level)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@functools.cache
def runtime() -> Runtime:
    return build_runtime(SETTINGS)


AREAS = [
    workers.blueprint(runtime, queue_backend=SETTINGS.queue_backend),
    webhooks.blueprint(runtime),
    admin.blueprint(runtime),
    webhook_admin.blueprint(runtime),
    metrics.blueprint(runtime),
    held_deletes.blueprint(runtime),
    connect.blueprint(runtime),
]
for area in AREAS:
    app.register_functions(area)
app.register_functions(openapi.blueprint(AREAS, runtime))
app.register_functions(ui.blueprint())

# What the worker has built so far (modules, settings, the app: some 130,000 objects) lives
# as long as it does: out of reach of the cyclic collector, a full collection no longer
# scans it. A listing's pages trigger full collections; each took ~0.1 s (bench/adapters.py).
gc.freeze()
