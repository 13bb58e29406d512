"""`lockstep` / `python -m integration_core …`: run, serve and administer Lockstep.

Every command but `demo` runs on the backends the app settings name: the environment,
then local.settings.sample.json, on the embedded stack unless `--stack local`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from integration_core.admin_cli import (
    COLUMNS,
    EXIT_CODES,
    Command,
    add_admin_commands,
    exit_code_for,
    print_output,
)
from integration_core.demo import run_demo
from integration_core.demo_systems import DEMO_SYSTEMS
from integration_core.errors import ConfigurationError, LockstepError
from integration_core.localstack import apply_local_settings
from integration_core.observability import install_log_context, install_redaction
from integration_core.pipelines.drain import drain_queues
from integration_core.pipelines.scheduler import run_scheduler
from integration_core.runtime import build_runtime
from integration_core.settings import load_settings
from integration_core.webhook_cli import WEBHOOK_COLUMNS, add_webhook_commands

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    reports = run_demo(contacts=args.contacts, systems=args.systems, out=sys.stdout)
    return 0 if reports[-1].in_lockstep else 1


def _demo_systems(value: str) -> tuple[str, str]:
    names = [name.strip() for name in value.split(",")]
    unknown = [name for name in names if name not in DEMO_SYSTEMS]
    if len(names) != 2 or unknown:
        raise argparse.ArgumentTypeError(
            f"two of {', '.join(DEMO_SYSTEMS)}, comma-separated (got {value!r})"
        )
    return names[0], names[1]


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


def _admin(command: Command, area: str) -> Callable[[argparse.Namespace], int]:
    """An admin command on a runtime of its own, its answer printed, its errors as codes."""

    def run(args: argparse.Namespace) -> int:
        if not args.tenant:
            print("--tenant (or LOCKSTEP_TENANT) names the tenant to act for", file=sys.stderr)
            return 2
        rt = build_runtime(load_settings())
        try:
            output, code = command(rt, args)
        except (LockstepError, ValidationError) as err:
            code = exit_code_for(err) or 1
            print(f"error: {_message(err)}", file=sys.stderr)
            return code
        finally:
            rt.close()
        columns = COLUMNS.get(area) or WEBHOOK_COLUMNS.get(area, ())
        print_output(output, as_json=args.json, columns=columns)
        return code

    return run


def _message(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in err.errors(include_input=False, include_url=False)
        )
    return str(err)


def _serve(args: argparse.Namespace) -> int:
    """The function app from a checkout (function_app.py and blueprints/ beside this package)."""
    repo = Path(__file__).resolve().parents[1]
    if not (repo / "function_app.py").is_file():
        raise ConfigurationError(f"serve runs the function app of a checkout; none at {repo}")
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    serve = importlib.import_module("blueprints.serve").serve

    def ready(url: str) -> None:
        print(f"Lockstep is serving {url} (Ctrl-C stops)", flush=True)

    code: int = serve(
        host=args.host, port=args.port, stack=args.stack, workdir=Path(args.workdir), ready=ready
    )
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lockstep",
        description="Run, serve and administer Lockstep. Example: lockstep --tenant t1 "
        "connections list",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--tenant", default=os.environ.get("LOCKSTEP_TENANT"), help="the tenant to act for"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--stack",
        choices=["embedded", "local"],
        default=os.environ.get("LOCKSTEP_STACK", "embedded"),
        help="embedded (SQLite, in-process queue; the default) or local (the emulators; "
        "LOCKSTEP_STACK=local)",
    )
    parser.add_argument(
        "--workdir", default=".lockstep", help="where the embedded stack keeps its data"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="the embedded demo (no cloud, no emulators)")
    demo.add_argument("--contacts", type=int, default=200)
    demo.add_argument(
        "--systems",
        type=_demo_systems,
        default=("sandbox", "sandbox"),
        help="the two systems, crm first: sandbox, hubspot or salesforce "
        "(e.g. hubspot,salesforce; default sandbox,sandbox)",
    )
    demo.set_defaults(run=_demo)
    sync = commands.add_parser("sync", help="run due syncs now")
    sync.add_subparsers(dest="action", required=True).add_parser("run").set_defaults(run=_sync_run)
    commands.add_parser("status", help="check every backend").set_defaults(run=_status)
    serve = commands.add_parser(
        "serve",
        help="run the function app locally: HTTP under /api, timers, queue workers",
        description="Run the function app on this machine without Core Tools. "
        "Example: lockstep serve --port 7071  (then: curl http://127.0.0.1:7071/api/health)",
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7071)
    serve.set_defaults(run=_serve)
    add_admin_commands(commands, _admin)
    add_webhook_commands(commands, _admin)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(levelname)s %(name)s [%(correlation_id)s %(tenant)s] %(message)s",
    )
    install_redaction()
    install_log_context()
    try:
        if args.command not in ("demo", "serve"):
            apply_local_settings(args.stack, Path(args.workdir))
        code: int = args.run(args)
    except ConfigurationError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    return code
