"""The CLI's admin commands: the same service layer as the admin API, for one tenant.

Each command prints a table (rich) or, with `--json`, the JSON the API would answer.
Exit codes scripts can rely on: 0 done, 1 the operation ran and failed (a sync with
errors, a connection test that failed, an unhealthy check), 2 usage or configuration
error, 3 not found, 4 conflict (exists, changed meanwhile, already decided), 5 the
request was refused as invalid.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import webbrowser
from collections.abc import Callable, Iterable, Mapping
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from integration_core._setting_checks import check_redirect_url
from integration_core.admin import connections, decisions, entities, ratelimits, resync, tasks
from integration_core.admin.audit import list_audit
from integration_core.admin.keys import issue_key, list_keys, revoke_key
from integration_core.admin.requests import (
    ConnectionCreate,
    ConnectionUpdate,
    EntityEdit,
    TaskCreate,
    TaskUpdate,
)
from integration_core.connect.flow import LOCAL_REDIRECT_URI, start_connect
from integration_core.errors import ConflictError, NotFoundError, PermanentError
from integration_core.pipelines.drain import drain_queues
from integration_core.runtime import Runtime

__all__ = ["EXIT_CODES", "add_admin_commands", "exit_code_for"]

EXIT_CODES = """exit codes: 0 done; 1 the operation ran and failed; 2 usage or configuration
error; 3 not found; 4 conflict (exists, changed meanwhile, already decided); 5 invalid"""

Command = Callable[[Runtime, argparse.Namespace], "Output"]
Output = tuple[Any, int]  # what to print, and the exit code


def exit_code_for(err: Exception) -> int | None:
    """The exit code of an error a command raised, or None when it is not an answer."""
    if isinstance(err, NotFoundError):
        return 3
    if isinstance(err, ConflictError):
        return 4
    if isinstance(err, PermanentError | ValidationError):
        return 5
    return None


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _json_argument(text: str) -> Any:
    """A JSON value, or @file / @- (stdin) holding one."""
    if text.startswith("@"):
        text = sys.stdin.read() if text == "@-" else open(text[1:]).read()  # noqa: SIM115
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err.msg}") from None


def _redirect_url(text: str) -> str:
    try:
        check_redirect_url(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def print_output(value: Any, *, as_json: bool, columns: Iterable[str] = ()) -> None:
    data = _dump(value)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    if isinstance(data, str):  # a URL or a line to copy: no table around it
        print(data)
        return
    console = Console()
    rows = data["items"] if isinstance(data, dict) and "items" in data else data
    if isinstance(rows, dict):
        rows = [
            {"field": k, "value": json.dumps(v) if not isinstance(v, str) else v}
            for k, v in rows.items()
        ]
        columns = ("field", "value")
    if not rows:
        console.print("(none)")
        return
    names = list(columns) or list(rows[0])
    table = Table(*names)
    for row in rows:
        table.add_row(*(_cell(row.get(name)) for name in names))
    console.print(table)
    if isinstance(data, dict) and data.get("next"):
        console.print(f"more: --after {data['next']}")


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _synced(rt: Runtime, tenant_id: str, result_id: str, label: str) -> dict[str, Any]:
    """Work the queues until the sync `result_id` and what it caused are done, with a
    progress bar on stderr (records read so far, from the running result); its result.
    """
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} records read"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        bar = progress.add_task(label, total=None)

        def advance(_: object) -> None:
            found = tasks.get_result(rt, tenant_id, result_id)
            progress.update(bar, completed=found["recordsRead"])

        drain_queues(rt, after_each=advance)
    return tasks.get_result(rt, tenant_id, result_id)


# -- commands ------------------------------------------------------------------------------


def _keys_issue(rt: Runtime, a: argparse.Namespace) -> Output:
    """Issue an API key (shown once)."""
    issued = issue_key(rt.store, a.tenant, name=a.name, actor=_actor())
    return issued.key.public() | {"key": issued.secret}, 0


def _keys_list(rt: Runtime, a: argparse.Namespace) -> Output:
    page = list_keys(rt.store, a.tenant, after=a.after, limit=a.limit)
    return {"items": [k.public() for k in page.items], "next": page.next}, 0


def _keys_revoke(rt: Runtime, a: argparse.Namespace) -> Output:
    """Revoke an API key."""
    return revoke_key(rt.store, a.tenant, a.id, actor=_actor()).public(), 0


def _connections_create(rt: Runtime, a: argparse.Namespace) -> Output:
    request = ConnectionCreate(
        id=a.id,
        system=a.system,
        display_name=a.display_name or "",
        config=a.config,
        credential=a.credential,
    )
    return connections.create_connection(rt, a.tenant, request, actor=_actor()), 0


def _connections_update(rt: Runtime, a: argparse.Namespace) -> Output:
    """Change a connection's name, config or credential."""
    request = ConnectionUpdate(
        display_name=a.display_name, config=a.config, credential=a.credential
    )
    return connections.update_connection(rt, a.tenant, a.id, request, actor=_actor()), 0


def _connections_test(rt: Runtime, a: argparse.Namespace) -> Output:
    outcome = connections.check_connection(rt, a.tenant, a.id)
    return outcome, 0 if outcome["ok"] else 1


def _connections_connect(rt: Runtime, a: argparse.Namespace) -> Output:
    """Start connecting with OAuth: print the provider's authorize URL (and open it)."""
    redirect = a.redirect_url or rt.settings.oauth_redirect_url or LOCAL_REDIRECT_URI
    started = start_connect(rt, a.tenant, a.id, actor=_actor(), redirect_uri=redirect)
    if not a.json:
        print(
            f"Open this URL as the {a.id} account's owner before {started.expires_at:%H:%M} UTC;"
            f" the provider sends the browser back to {started.redirect_uri}",
            file=sys.stderr,
        )
    if a.open:
        webbrowser.open(started.authorize_url)
    return (started if a.json else started.authorize_url), 0


def _connections_delete(rt: Runtime, a: argparse.Namespace) -> Output:
    connections.delete_connection(rt, a.tenant, a.id, actor=_actor())
    return {"deleted": a.id}, 0


def _tasks_create(rt: Runtime, a: argparse.Namespace) -> Output:
    request = TaskCreate.model_validate(a.definition | {"id": a.id})
    return tasks.create_task(rt, a.tenant, request, actor=_actor()), 0


def _tasks_update(rt: Runtime, a: argparse.Namespace) -> Output:
    """Change a sync task (the fields given)."""
    request = TaskUpdate.model_validate(a.changes)
    return tasks.update_task(rt, a.tenant, a.id, request, actor=_actor()), 0


def _tasks_delete(rt: Runtime, a: argparse.Namespace) -> Output:
    tasks.delete_task(rt, a.tenant, a.id, actor=_actor())
    return {"deleted": a.id}, 0


def _run(rt: Runtime, a: argparse.Namespace) -> Output:
    """Enqueue a pull now and work the queues until it and what it caused are done."""
    result_id = tasks.run_task_now(rt, a.tenant, a.id, actor=_actor())
    result = _synced(rt, a.tenant, result_id, f"syncing {a.id}")
    return result, 0 if result["status"] == "success" else 1


def _resync(rt: Runtime, a: argparse.Namespace) -> Output:
    """The dry run's diff, or with --apply the resync itself and its result."""
    if not a.apply:
        diff = resync.dry_run(rt, a.tenant, a.id, max_records=a.max_records)
        return (diff if a.json else _diff_rows(diff)), 0
    result_id = resync.start_resync(rt, a.tenant, a.id, actor=_actor())
    result = _synced(rt, a.tenant, result_id, f"resyncing {a.id}")
    return result, 0 if result["status"] == "success" else 1


def _diff_rows(diff: resync.ResyncDiff) -> list[dict[str, Any]]:
    """One table row per record that would change."""
    return [
        {
            "record": r.external_id,
            "action": r.action,
            "entity": r.entity_id or "",
            "changes": ", ".join(
                f"{name}: {json.dumps(c.before)} -> {json.dumps(c.after)}"
                for name, c in r.changes.items()
            )
            or (r.reason or ""),
        }
        for r in diff.records
        if r.action != "unchanged"
    ]


def _decide_conflict(rt: Runtime, a: argparse.Namespace) -> Output:
    decided = decisions.decide_conflict_as(
        rt, a.tenant, a.id, winner=a.winner, decided_by=_actor(), actor=_actor()
    )
    drain_queues(rt)
    return decided.to_document(), 0


def _decide_duplicate(rt: Runtime, a: argparse.Namespace) -> Output:
    decided = decisions.decide_duplicate_as(
        rt, a.tenant, a.id, same=a.same, decided_by=_actor(), actor=_actor()
    )
    drain_queues(rt)
    return decided.to_document(), 0


def _entity_edit(rt: Runtime, a: argparse.Namespace) -> Output:
    values = dict(item.split("=", 1) for item in a.set)
    edited = entities.edit_entity(rt, a.tenant, a.id, EntityEdit(values=values), actor=_actor())
    drain_queues(rt)
    return entities.entity_view(rt, edited), 0


def _configure_limits(rt: Runtime, a: argparse.Namespace) -> Output:
    """Set a connection's rate-limit budgets."""
    request = ratelimits.RateLimitConfig.model_validate({"rateLimits": a.budgets})
    return ratelimits.configure_limits(rt, a.tenant, a.id, request, actor=_actor()), 0


def _paged(list_page: Callable[..., Any]) -> Command:
    def command(rt: Runtime, a: argparse.Namespace) -> Output:
        return list_page(rt, a.tenant, after=a.after, limit=a.limit), 0

    return command


def _by_id(get: Callable[[Runtime, str, str], Any]) -> Command:
    def command(rt: Runtime, a: argparse.Namespace) -> Output:
        return get(rt, a.tenant, a.id), 0

    return command


def _writes(change: Callable[..., Any], **options: Any) -> Command:
    def command(rt: Runtime, a: argparse.Namespace) -> Output:
        return change(rt, a.tenant, a.id, actor=_actor(), **options), 0

    return command


COLUMNS: Mapping[str, tuple[str, ...]] = {
    "connections": ("id", "system", "displayName", "status", "credentialId"),
    "tasks": (
        "id",
        "connectionId",
        "entityType",
        "mode",
        "targetConnectionIds",
        "enabled",
        "nextDueAt",
    ),
    "keys": ("id", "name", "createdAt", "revokedAt"),
    "conflicts": ("id", "entityId", "connectionId", "field", "status", "policy", "rule", "winner"),
    "duplicates": ("id", "entityId", "candidateEntityId", "score", "rule", "status"),
    "results": (
        "id",
        "status",
        "trigger",
        "recordsRead",
        "created",
        "updated",
        "deleted",
        "failed",
        "conflictsDetected",
        "pushed",
        "durationMs",
    ),
    "resync": ("record", "action", "entity", "changes"),
    "audit": ("at", "actor", "action", "resource", "resourceId"),
    "limits": ("key", "max_requests", "window_seconds", "used", "remaining", "degraded"),
}


def add_admin_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    run: Callable[[Command, str], Callable[[argparse.Namespace], int]],
) -> None:
    """Register the admin commands; `run(command, area)` wraps a command for main()."""

    def group(name: str, text: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        parser = commands.add_parser(name, help=text, description=text)
        return parser.add_subparsers(dest="action", required=True)

    def action(
        sub: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        area: str,
        command: Command,
        example: str,
        *,
        with_id: bool = False,
        paged: bool = False,
    ) -> argparse.ArgumentParser:
        parser = sub.add_parser(
            name,
            help=(command.__doc__ or name).split("\n")[0],
            description=f"Example: {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if with_id:
            parser.add_argument("id")
        if paged:
            parser.add_argument("--after", help="continue after this id (a page's `next`)")
            parser.add_argument("--limit", type=int, default=50)
        parser.set_defaults(run=run(command, area))
        return parser

    keys = group("keys", "API keys of a tenant: issue (shown once), list, revoke")
    issue = action(keys, "issue", "keys", _keys_issue, "lockstep --tenant t1 keys issue --name ci")
    issue.add_argument("--name", required=True)
    action(keys, "list", "keys", _keys_list, "lockstep --tenant t1 keys list", paged=True)
    action(
        keys,
        "revoke",
        "keys",
        _keys_revoke,
        "lockstep --tenant t1 keys revoke 0f3a...",
        with_id=True,
    )

    conns = group("connections", "connections to systems, with their credential")
    action(
        conns,
        "list",
        "connections",
        _paged(connections.list_connections),
        "lockstep --tenant t1 connections list",
        paged=True,
    )
    action(
        conns,
        "get",
        "connections",
        _by_id(connections.get_connection),
        "lockstep --tenant t1 connections get crm",
        with_id=True,
    )
    create = action(
        conns,
        "create",
        "connections",
        _connections_create,
        "lockstep --tenant t1 connections create crm --system sandbox "
        '--config \'{"base_url": "http://127.0.0.1:9000"}\' --credential @cred.json',
        with_id=True,
    )
    create.add_argument("--system", required=True)
    create.add_argument("--display-name")
    create.add_argument("--config", type=_json_argument, default={}, help="JSON or @file")
    create.add_argument("--credential", type=_json_argument, help="JSON, @file or @- (stdin)")
    update = action(
        conns,
        "update",
        "connections",
        _connections_update,
        "lockstep --tenant t1 connections update crm --credential @new-credential.json",
        with_id=True,
    )
    update.add_argument("--display-name")
    update.add_argument("--config", type=_json_argument, help="JSON or @file")
    update.add_argument("--credential", type=_json_argument, help="JSON, @file or @- (stdin)")
    action(
        conns,
        "test",
        "connections",
        _connections_test,
        "lockstep --tenant t1 connections test crm",
        with_id=True,
    )
    connect = action(
        conns,
        "connect",
        "connections",
        _connections_connect,
        "lockstep --tenant t1 connections connect hubspot-main --open",
        with_id=True,
    )
    connect.add_argument("--open", action="store_true", help="open the URL in a browser")
    connect.add_argument(
        "--redirect-url",
        type=_redirect_url,
        help="the callback the provider returns to (default: OAUTH_REDIRECT_URL, else"
        f" {LOCAL_REDIRECT_URI}, where `lockstep serve` listens)",
    )
    action(
        conns,
        "disable",
        "connections",
        _writes(connections.disable_connection),
        "lockstep --tenant t1 connections disable crm",
        with_id=True,
    )
    action(
        conns,
        "delete",
        "connections",
        _connections_delete,
        "lockstep --tenant t1 connections delete crm",
        with_id=True,
    )

    task = group("tasks", "sync tasks: what to pull from where, and where to push it")
    action(
        task,
        "list",
        "tasks",
        _paged(tasks.list_tasks),
        "lockstep --tenant t1 tasks list",
        paged=True,
    )
    action(
        task,
        "get",
        "tasks",
        _by_id(tasks.get_task),
        "lockstep --tenant t1 tasks get crm-c",
        with_id=True,
    )
    created = action(
        task,
        "create",
        "tasks",
        _tasks_create,
        "lockstep --tenant t1 tasks create crm-c --definition "
        '\'{"connectionId": "crm", "entityType": "contact", '
        '"targetConnectionIds": ["mkt"]}\'',
        with_id=True,
    )
    created.add_argument(
        "--definition",
        type=_json_argument,
        required=True,
        help="the task as the API takes it: JSON or @file",
    )
    changed = action(
        task,
        "update",
        "tasks",
        _tasks_update,
        'lockstep --tenant t1 tasks update crm-c --changes \'{"mode": "pull"}\'',
        with_id=True,
    )
    changed.add_argument(
        "--changes", type=_json_argument, required=True, help="the fields to change: JSON or @file"
    )
    resyncs = action(
        task,
        "resync",
        "resync",
        _resync,
        "lockstep --tenant t1 tasks resync crm-c   (the dry run; then: ... --apply)",
        with_id=True,
    )
    resyncs.add_argument(
        "--apply", action="store_true", help="resync (keeping records) instead of the dry run"
    )
    resyncs.add_argument(
        "--max-records", type=int, default=1000, help="the dry run reads at most about this many"
    )
    action(
        task,
        "pause",
        "tasks",
        _writes(tasks.set_task_enabled, enabled=False),
        "lockstep --tenant t1 tasks pause crm-c",
        with_id=True,
    )
    action(
        task,
        "resume",
        "tasks",
        _writes(tasks.set_task_enabled, enabled=True),
        "lockstep --tenant t1 tasks resume crm-c",
        with_id=True,
    )
    action(
        task,
        "delete",
        "tasks",
        _tasks_delete,
        "lockstep --tenant t1 tasks delete crm-c",
        with_id=True,
    )

    run_parser = commands.add_parser(
        "run",
        help="run a sync task now and wait for its result",
        description="Example: lockstep --tenant t1 run crm-c   (exit 1 when the sync had errors)",
    )
    run_parser.add_argument("id")
    run_parser.set_defaults(run=run(_run, "results"))

    results = commands.add_parser(
        "results",
        help="a sync task's results, newest ids last",
        description="Example: lockstep --tenant t1 results crm-c --json",
    )
    results.add_argument("id")
    results.add_argument("--after")
    results.add_argument("--limit", type=int, default=50)

    def list_results(rt: Runtime, a: argparse.Namespace) -> Output:
        page = tasks.list_results(rt, a.tenant, a.id, after=a.after, limit=a.limit)
        return {"items": [tasks.result_view(r) for r in page.items], "next": page.next}, 0

    results.set_defaults(run=run(list_results, "results"))

    one = commands.add_parser(
        "result",
        help="one sync result (a running one with its progress so far)",
        description="Example: lockstep --tenant t1 result 5d41...   (the id `run` printed)",
    )
    one.add_argument("id")
    one.set_defaults(run=run(_by_id(tasks.get_result), "result"))

    conflicts = group("conflicts", "conflicts waiting for a decision, or resolved")

    def list_conflicts(rt: Runtime, a: argparse.Namespace) -> Output:
        """conflicts waiting for a decision (--status resolved: decided by the policy)"""
        page = decisions.list_conflicts(rt, a.tenant, status=a.status, after=a.after, limit=a.limit)
        return page, 0

    listed = action(
        conflicts,
        "list",
        "conflicts",
        list_conflicts,
        "lockstep --tenant t1 conflicts list --status resolved",
        paged=True,
    )
    listed.add_argument(
        "--status",
        choices=get_args(decisions.ListedStatus),
        default="pending",
        help="pending (default), resolved by the task's policy, or decided by an admin",
    )
    action(
        conflicts,
        "get",
        "conflicts",
        _by_id(decisions.get_conflict),
        "lockstep --tenant t1 conflicts get c1",
        with_id=True,
    )
    decide = action(
        conflicts,
        "decide",
        "conflicts",
        _decide_conflict,
        "lockstep --tenant t1 conflicts decide c1 --winner incoming",
        with_id=True,
    )
    decide.add_argument("--winner", choices=["hub", "incoming"], required=True)

    dups = group("duplicates", "duplicate candidates waiting for a decision")
    action(
        dups,
        "list",
        "duplicates",
        _paged(decisions.pending_duplicates),
        "lockstep --tenant t1 duplicates list",
        paged=True,
    )
    action(
        dups,
        "get",
        "duplicates",
        _by_id(decisions.get_duplicate),
        "lockstep --tenant t1 duplicates get 9b2e...",
        with_id=True,
    )
    same = action(
        dups,
        "decide",
        "duplicates",
        _decide_duplicate,
        "lockstep --tenant t1 duplicates decide 9b2e... --same",
        with_id=True,
    )
    verdict = same.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--same", dest="same", action="store_true")
    verdict.add_argument("--different", dest="same", action="store_false")

    ents = group("entities", "hub records with per-field provenance; the admin edit")
    action(
        ents,
        "get",
        "entities",
        lambda rt, a: (entities.entity_view(rt, entities.get_entity(rt, a.tenant, a.id)), 0),
        "lockstep --tenant t1 entities get e1",
        with_id=True,
    )
    edit = action(
        ents,
        "edit",
        "entities",
        _entity_edit,
        "lockstep --tenant t1 entities edit e1 --set city=Oslo",
        with_id=True,
    )
    edit.add_argument("--set", action="append", required=True, metavar="FIELD=VALUE")

    limits = group("limits", "rate limits of a connection")
    action(
        limits,
        "status",
        "limits",
        _by_id(ratelimits.limit_status),
        "lockstep --tenant t1 limits status crm",
        with_id=True,
    )
    configure = action(
        limits,
        "configure",
        "limits",
        _configure_limits,
        "lockstep --tenant t1 limits configure crm "
        '--budgets \'[{"bucket": "api", "maxRequests": 90, "windowSeconds": 10}]\'',
        with_id=True,
    )
    configure.add_argument(
        "--budgets", type=_json_argument, required=True, help="the connection's budgets: JSON"
    )
    action(
        limits,
        "reset",
        "limits",
        _writes(ratelimits.reset_limits),
        "lockstep --tenant t1 limits reset crm",
        with_id=True,
    )

    audit = commands.add_parser(
        "audit",
        help="the audit log of admin writes",
        description="Example: lockstep --tenant t1 audit --limit 20",
    )
    audit.add_argument("--after")
    audit.add_argument("--limit", type=int, default=50)
    audit.set_defaults(
        run=run(
            lambda rt, a: (list_audit(rt.store, a.tenant, after=a.after, limit=a.limit), 0), "audit"
        )
    )
