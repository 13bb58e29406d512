"""The webhook receiver: anonymous (providers cannot send a Functions key), verified by
each provider's signature in the pipeline.

No `from __future__ import annotations` here: the Functions worker binds by annotation.
"""

from collections.abc import Callable

import azure.functions as func

from blueprints.http import endpoint
from integration_core.observability import log_context
from integration_core.pipelines.webhook_intake import MAX_BODY_BYTES as WEBHOOK_MAX_BODY_BYTES
from integration_core.pipelines.webhook_intake import receive_webhook
from integration_core.runtime import Runtime

__all__ = ["WEBHOOK_MAX_BODY_BYTES", "blueprint"]


def blueprint(runtime: Callable[[], Runtime]) -> func.Blueprint:
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions has no hints here

    @bp.function_name("WebhookReceiver")
    @bp.route(
        route="webhooks/{registration_id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS
    )
    @endpoint(max_body_bytes=WEBHOOK_MAX_BODY_BYTES)
    def webhook_receiver(req: func.HttpRequest, registration_id: str) -> func.HttpResponse:
        with log_context():
            reply = receive_webhook(
                runtime(),
                registration_id,
                headers=dict(req.headers),
                body=req.get_body(),
                url=req.url,
                method=req.method,
            )
        return func.HttpResponse(
            reply.body, status_code=reply.status, headers=reply.headers, mimetype=reply.content_type
        )

    return bp
