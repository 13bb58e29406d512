"""The CLI's `webhooks` commands: the admin API's webhook routes, for one tenant.

register, list, get, rotate, enable, unregister, health, deliveries and replay call the same
service layer (integration_core/admin/webhooks.py) and exit as the other admin commands do.
A secret is read from stdin (`--secret-stdin`), never from the command line, where other
users of the machine could read it; a replay works the queues until it is applied.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping

from integration_core.admin import webhooks as hooks
from integration_core.admin_cli import Command, Output
from integration_core.admin_cli import _actor as actor_name
from integration_core.errors import PermanentError
from integration_core.pipelines.drain import drain_queues
from integration_core.runtime import Runtime
from integration_core.webhooks.audit import Outcome

__all__ = ["WEBHOOK_COLUMNS", "add_webhook_commands"]

WEBHOOK_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "webhooks": ("id", "provider", "connectionId", "status", "consecutiveFailures"),
    "deliveries": ("id", "outcome", "status", "reason", "deliveryId", "latencyMs", "inboxId"),
}


def _secret(a: argparse.Namespace) -> str | None:
    if not a.secret_stdin:
        return None
    secret = sys.stdin.readline().strip()
    if not secret:
        raise PermanentError("--secret-stdin: stdin held no secret")
    return secret


def _register(rt: Runtime, a: argparse.Namespace) -> Output:
    request = hooks.WebhookCreate.model_validate(
        {
            "id": a.id,
            "connectionId": a.connection,
            "provider": a.provider,
            "secret": _secret(a),
            "publicUrl": a.public_url,
            "subscribeAt": a.subscribe_at,
            "entityTypes": a.entity_type or [],
        }
    )
    return hooks.register_webhook(rt, a.tenant, request, actor=actor_name()), 0


def _rotate(rt: Runtime, a: argparse.Namespace) -> Output:
    request = hooks.WebhookRotate.model_validate(
        {"secret": _secret(a), "overlapSeconds": round(a.overlap_hours * 3600)}
    )
    return hooks.rotate_webhook(rt, a.tenant, a.id, request, actor=actor_name()), 0


def _unregister(rt: Runtime, a: argparse.Namespace) -> Output:
    hooks.unregister_webhook(rt, a.tenant, a.id, actor=actor_name())
    return {"unregistered": a.id}, 0


def _deliveries(rt: Runtime, a: argparse.Namespace) -> Output:
    outcome = Outcome(a.outcome) if a.outcome else None
    page = hooks.list_deliveries(rt, a.tenant, a.id, outcome=outcome, after=a.after, limit=a.limit)
    return page, 0


def _replay(rt: Runtime, a: argparse.Namespace) -> Output:
    if a.delivery:
        started = hooks.replay_delivery(rt, a.tenant, a.id, a.delivery, actor=actor_name())
    else:
        request = hooks.ReplayRange.model_validate({"since": a.since, "until": a.until})
        started = hooks.replay_range(rt, a.tenant, a.id, request, actor=actor_name())
    drain_queues(rt)
    return started, 0


def add_webhook_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    run: Callable[[Command, str], Callable[[argparse.Namespace], int]],
) -> None:
    """Register `webhooks ...`; `run(command, area)` wraps a command for main()."""
    text = "webhook registrations: secrets, health, deliveries, replays"
    parser = commands.add_parser("webhooks", help=text, description=text)
    sub = parser.add_subparsers(dest="action", required=True)

    def action(
        name: str, command: Command, example: str, *, area: str = "webhooks"
    ) -> argparse.ArgumentParser:
        found = sub.add_parser(
            name,
            help=example.split("  # ")[-1],
            description=f"Example: {example.split('  # ')[0]}",
        )
        found.set_defaults(run=run(command, area))
        return found

    register = action(
        "register",
        _register,
        "lockstep --tenant t1 webhooks register --connection crm --provider standard_webhooks"
        "  # register an endpoint; a generated secret is printed once",
    )
    register.add_argument("--connection", required=True)
    register.add_argument("--provider", required=True)
    register.add_argument("--id", help="the registration id (default: generated)")
    register.add_argument("--public-url", help="the URL the provider signs, behind a proxy")
    register.add_argument(
        "--subscribe-at",
        help="the app's public base URL: also subscribe at the provider (where its API can)",
    )
    register.add_argument(
        "--entity-type",
        action="append",
        choices=["contact", "company", "task"],
        help="a record type its deliveries announce (repeat; default: all)",
    )
    register.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")

    listed = action(
        "list",
        lambda rt, a: (hooks.list_webhooks(rt, a.tenant, after=a.after, limit=a.limit), 0),
        "lockstep --tenant t1 webhooks list  # the tenant's registrations",
    )
    listed.add_argument("--after", help="continue after this id (a page's `next`)")
    listed.add_argument("--limit", type=int, default=50)

    by_id: list[tuple[str, Command, str]] = [
        (
            "get",
            lambda rt, a: (hooks.get_webhook(rt, a.tenant, a.id), 0),
            "lockstep --tenant t1 webhooks get hook1  # one registration",
        ),
        (
            "enable",
            lambda rt, a: (hooks.enable_webhook(rt, a.tenant, a.id, actor=actor_name()), 0),
            "lockstep --tenant t1 webhooks enable hook1  # make a failing or disabled one active",
        ),
        (
            "unregister",
            _unregister,
            "lockstep --tenant t1 webhooks unregister hook1  # delete it and its secret",
        ),
        (
            "health",
            lambda rt, a: (hooks.webhook_health(rt, a.tenant, a.id), 0),
            "lockstep --tenant t1 webhooks health hook1  # status, failures, missed webhooks",
        ),
    ]
    for name, command, example in by_id:
        action(name, command, example).add_argument("id")

    rotate = action(
        "rotate",
        _rotate,
        "lockstep --tenant t1 webhooks rotate hook1 --overlap-hours 24"
        "  # a new secret; the old one verifies during the overlap",
    )
    rotate.add_argument("id")
    rotate.add_argument("--overlap-hours", type=float, default=24.0)
    rotate.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")

    deliveries = action(
        "deliveries",
        _deliveries,
        "lockstep --tenant t1 webhooks deliveries hook1 --outcome refused"
        "  # deliveries with outcome and reason",
        area="deliveries",
    )
    deliveries.add_argument("id")
    deliveries.add_argument("--outcome", choices=[o.value for o in Outcome])
    deliveries.add_argument("--after", help="continue after this id (a page's `next`)")
    deliveries.add_argument("--limit", type=int, default=50)

    replay = action(
        "replay",
        _replay,
        "lockstep --tenant t1 webhooks replay hook1 --since 2026-01-01T00:00:00Z "
        "--until 2026-01-02T00:00:00Z  # apply deliveries from the inbox again",
    )
    replay.add_argument("id")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--delivery", help="one inbox id (a delivery's `inboxId`)")
    which.add_argument("--since", help="ISO time with a zone; with --until")
    replay.add_argument("--until", help="ISO time with a zone (exclusive)")
