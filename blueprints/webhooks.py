"""The webhook receiver: anonymous (providers cannot send a Functions key), verified by
each provider's signature in the pipeline.

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

from collections.abc import Callable

import azure.functions as func

from blueprints.http import endpoint, json_response
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.runtime import Runtime

__all__ = ["WEBHOOK_MAX_BODY_BYTES", "blueprint"]

# GitHub drops deliveries over 25 MB; nothing a provider sends is larger.
# https://docs.github.com/en/webhooks/webhook-events-and-payloads#payload-cap
WEBHOOK_MAX_BODY_BYTES = 25 * 1024 * 1024


def blueprint(runtime: Callable[[], Runtime]) -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    @bp.function_name("WebhookReceiver")
    @bp.route(
        route="webhooks/{registration_id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS
    )
    @endpoint(max_body_bytes=WEBHOOK_MAX_BODY_BYTES)
    def webhook_receiver(req: func.HttpRequest, registration_id: str) -> func.HttpResponse:
        reply = receive_webhook(runtime(), registration_id, dict(req.headers), req.get_body())
        return json_response(reply.body, reply.status, reply.headers)

    return bp
