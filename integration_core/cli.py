"""`python -m integration_core …`: the demo, and running a sync from a shell."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from integration_core.demo import run_demo
from integration_core.errors import ConfigurationError
from integration_core.observability import install_log_context, install_redaction
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import build_runtime
from integration_core.settings import load_settings

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    reports = run_demo(contacts=args.contacts, out=sys.stdout)
    return 0 if reports[-1].in_lockstep else 1


def _sync_run(args: argparse.Namespace) -> int:
    """One scheduler tick, then the workers until the queues are empty (embedded queues)."""
    rt = build_runtime(load_settings())
    try:
        scheduled = run_scheduler(rt)
        drained = drain_queues(rt)
    finally:
        rt.close()
    summary = {
        "enqueued": len(scheduled.enqueued),
        "skipped": scheduled.skipped,
        "results": len(drained.results),
        "failures": drained.failures,
        "poisoned": len(drained.poisoned),
    }
    print(json.dumps(summary))
    return 0 if not drained.poisoned else 1


def _status(args: argparse.Namespace) -> int:
    rt = build_runtime(load_settings())
    try:
        from integration_core.pipelines.health import check_health

        report = check_health(rt.health_probes())
    finally:
        rt.close()
    print(json.dumps(report.to_json(), indent=2))
    return 0 if report.healthy else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration_core")
    parser.add_argument("--log-level", default="WARNING")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="the embedded demo (no cloud, no emulators)")
    demo.add_argument("--contacts", type=int, default=200)
    demo.set_defaults(run=_demo)
    sync = commands.add_parser("sync", help="run due syncs now")
    sync.add_subparsers(dest="action", required=True).add_parser("run").set_defaults(run=_sync_run)
    commands.add_parser("status", help="check every backend").set_defaults(run=_status)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(levelname)s %(name)s [%(correlation_id)s %(tenant)s] %(message)s",
    )
    install_redaction()
    install_log_context()
    try:
        code: int = args.run(args)
    except ConfigurationError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    return code
