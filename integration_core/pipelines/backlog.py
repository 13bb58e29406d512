"""What waits in the sync queues: depth and the oldest message's age.

The scheduler's tick samples it into the `lockstep.queue.*` gauges, and the admin API's
metrics read it live. A backend that cannot say (an outage; on Service Bus an identity
without the Manage right, where Azure Monitor's own ActiveMessages metric has the depth) is
left out, logged as a warning the first time per process: the figures never stop a tick.
"""

from __future__ import annotations

import logging

from integration_core.errors import LockstepError
from integration_core.messaging import QUEUES, Backlog
from integration_core.observability.metrics import record_queue
from integration_core.runtime import Runtime

__all__ = ["sample_backlogs"]

log = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()


def sample_backlogs(rt: Runtime) -> dict[str, Backlog]:
    found: dict[str, Backlog] = {}
    for queue in QUEUES:
        try:
            backlog = rt.queue.backlog(queue)
        except LockstepError as err:
            seen = (queue, type(err).__name__)
            level = logging.DEBUG if seen in _warned else logging.WARNING
            _warned.add(seen)
            log.log(level, "backlog of %s not read: %s", queue, type(err).__name__)
            continue
        record_queue(queue, depth=backlog.depth, oldest_age_seconds=backlog.oldest_age_seconds)
        found[queue] = backlog
    return found
