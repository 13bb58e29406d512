"""The Notifier timer's run: look for decisions waiting too long, queue due digests, then
send the outbox."""

from __future__ import annotations

from datetime import timedelta

from integration_core.notify.delivery import DeliveryReport, deliver_outbox
from integration_core.notify.incidents import send_digests
from integration_core.notify.waiting import alert_waiting_decisions
from integration_core.runtime import Runtime

__all__ = ["run_notifier"]


def run_notifier(rt: Runtime) -> DeliveryReport:
    alert_waiting_decisions(rt.store)
    send_digests(rt.store, interval=timedelta(minutes=rt.settings.notify_digest_minutes))
    return deliver_outbox(rt)
