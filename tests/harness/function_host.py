"""A small stand-in for the Azure Functions host, for tests.

Azure Functions Core Tools cannot be installed on our machines, so this host does the
part of its job our tests need, from the same sources `func start` reads:
- the function registrations in `function_app.app.get_functions()` (names, trigger types,
  `%SETTING%` schedules, queue names, `connection=` settings, HTTP routes);
- `host.json` (queue maxDequeueCount, visibilityTimeout, messageEncoding, route prefix);
- app settings from a local.settings-style `Values` mapping, put into the environment
  before `function_app` is imported (it validates them at import, like the real host).

Timers are called with a TimerRequest, HTTP functions with an HttpRequest matched by
route, and queue functions are fed from the real Azurite queues: each message is leased,
decoded as host.json says, handed over with its dequeue count, deleted on success, made
visible again on failure, and moved to `<queue>-poison` once its dequeue count reaches
maxDequeueCount — the Storage queue extension's behaviour.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import sys
import threading
import time
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient

from integration_core.admin import issue_key
from integration_core.runtime import Runtime
from integration_core.settings import QueueBackend

REPO = Path(__file__).resolve().parents[2]
_ANNOTATIONS = {
    "timerTrigger": func.TimerRequest,
    "queueTrigger": func.QueueMessage,
    "serviceBusTrigger": func.ServiceBusMessage,
    "httpTrigger": func.HttpRequest,
}


@dataclass(frozen=True)
class Registration:
    name: str
    trigger_type: str
    binding: Mapping[str, Any]
    handler: Callable[..., Any]


@dataclass(frozen=True)
class QueueRun:
    """What one drain of a queue did."""

    succeeded: int
    failed: int
    poisoned: int


class FunctionHost:
    """Loads function_app with the given settings and invokes its functions."""

    def __init__(
        self,
        settings: Mapping[str, str],
        *,
        visibility_timeout: int | None = None,
        inline_queue: bool = False,
        tenant: str | None = None,
    ):
        """`inline_queue`: the app refuses QUEUE_BACKEND=inline (no host trigger would read
        it), so for the embedded stack the app is loaded as the settings say and its runtime
        then runs on the in-process queue, which the tests drain themselves.
        `tenant`: requests to /api/admin/ carry an API key of that tenant unless they name
        a tenant or send their own Authorization header.
        """
        self.tenant = tenant
        # Its drains wait for empty queues: each push's stand-in (pipelines/pushes.py) is
        # due at once here, not five minutes after its batch.
        self.settings = dict(settings) | {"PUSH_SAFETY_NET_SECONDS": "0"}
        self._environment_lock = threading.Lock()
        self._environment_users = 0
        self._saved_environment: dict[str, str | None] = {}
        self.host_json = json.loads((REPO / "host.json").read_text())
        queues = self.host_json.get("extensions", {}).get("queues", {})
        self.max_dequeue_count = int(queues.get("maxDequeueCount", 5))
        self.encoding = queues.get("messageEncoding", "base64")
        self.visibility_timeout = (
            visibility_timeout
            if visibility_timeout is not None
            else _seconds(queues.get("visibilityTimeout", "00:00:00"))
        )
        with self._environment():
            sys.modules.pop("function_app", None)
            self.module = importlib.import_module("function_app")
            if inline_queue:
                self.module.SETTINGS = self.module.SETTINGS.model_copy(
                    update={"queue_backend": QueueBackend.INLINE}
                )
        self.functions = {r.name: r for r in self._registrations()}
        self._api_keys: dict[str, str] = {}
        if tenant is not None:  # now, so that tests counting store writes do not see it
            self.api_key(tenant)

    @contextmanager
    def _environment(self) -> Iterator[None]:
        """The app settings in the environment while a function runs. Calls may overlap
        (tests post from several threads): the first in sets them, the last out restores.
        """
        with self._environment_lock:
            if self._environment_users == 0:
                self._saved_environment = {key: os.environ.get(key) for key in self.settings}
                os.environ.update(self.settings)
            self._environment_users += 1
        try:
            yield
        finally:
            with self._environment_lock:
                self._environment_users -= 1
                if self._environment_users == 0:
                    for key, value in self._saved_environment.items():
                        if value is None:
                            os.environ.pop(key, None)
                        else:
                            os.environ[key] = value

    def _registrations(self) -> Iterator[Registration]:
        for function in self.module.app.get_functions():
            trigger = function.get_trigger()
            binding = trigger.get_dict_repr()
            handler = function.get_user_function()
            expected = _ANNOTATIONS[binding["type"]]
            hints = typing.get_type_hints(handler)
            if hints.get(binding["name"]) is not expected:
                raise TypeError(
                    f"{function.get_function_name()}: parameter {binding['name']!r} must be "
                    f"annotated {expected.__name__} for a {binding['type']}"
                )
            yield Registration(function.get_function_name(), binding["type"], binding, handler)

    def runtime(self) -> Runtime:
        """The app's Runtime, built on first use as the functions build it."""
        rt: Runtime = self.module.runtime()
        return rt

    def api_key(self, tenant: str) -> str:
        """An API key of `tenant`, issued once per host."""
        if tenant not in self._api_keys:
            with self._environment():
                issued = issue_key(
                    self.runtime().store, tenant, name="test host", actor="test-host"
                )
            self._api_keys[tenant] = issued.secret
        return self._api_keys[tenant]

    def setting(self, value: str) -> str:
        """Resolve `%NAME%` references the way the host does."""

        def lookup(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.settings:
                raise KeyError(f"app setting {name} is not defined")
            return self.settings[name]

        return re.sub(r"%([^%]+)%", lookup, value)

    def _call(self, registration: Registration, argument: Any) -> Any:
        with self._environment():
            return registration.handler(**{registration.binding["name"]: argument})

    # -- timers --

    def fire_timer(self, name: str, *, past_due: bool = False) -> None:
        registration = self.functions[name]
        assert registration.trigger_type == "timerTrigger", f"{name} is not a timer"
        self._call(registration, TimerRequest(past_due=past_due))

    # -- HTTP --

    def http(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        tenant: str | None = None,
    ) -> func.HttpResponse:
        """`tenant`: send an API key of that tenant (issued on first use)."""
        if tenant is None and path.startswith("/api/admin/"):
            tenant = None if "Authorization" in (headers or {}) else self.tenant
        if tenant is not None:
            headers = {"Authorization": f"Bearer {self.api_key(tenant)}"} | dict(headers or {})
        prefix = "/" + self.host_json.get("extensions", {}).get("http", {}).get(
            "routePrefix", "api"
        )
        path, _, query = path.partition("?")
        route = path.removeprefix(prefix).strip("/")
        for registration in self.functions.values():
            if registration.trigger_type != "httpTrigger":
                continue
            methods = [str(getattr(m, "value", m)).upper() for m in registration.binding["methods"]]
            params = _match_route(registration.binding["route"], route)
            if params is not None and method.upper() in methods:
                request = func.HttpRequest(
                    method.upper(),
                    f"http://localhost{prefix}/{route}",
                    headers=dict(headers or {}),
                    route_params=params,
                    params=dict(parse_qsl(query)),
                    body=body,
                )
                response: func.HttpResponse = self._call(registration, request)
                return response
        return func.HttpResponse("no route", status_code=404)

    # -- queues --

    def queue_client(self, name: str) -> QueueClient:
        registration = self.functions[name]
        binding = registration.binding
        assert registration.trigger_type == "queueTrigger", f"{name} is not a storage queue trigger"
        connection_string = self.settings[binding["connection"]]
        return QueueClient.from_connection_string(connection_string, binding["queueName"])

    def poison_client(self, name: str) -> QueueClient:
        binding = self.functions[name].binding
        return QueueClient.from_connection_string(
            self.settings[binding["connection"]], binding["queueName"] + "-poison"
        )

    def run_queue_once(self, name: str, *, batch: int = 32) -> QueueRun:
        """Lease what is visible on the function's queue now and process each message once."""
        registration = self.functions[name]
        client = self.queue_client(name)
        succeeded = failed = poisoned = 0
        for message in client.receive_messages(
            messages_per_page=batch, max_messages=batch, visibility_timeout=60
        ):
            raw = message.content
            body = base64.b64decode(raw) if self.encoding == "base64" else raw.encode()
            argument = QueueMessage(
                id=message.id,
                body=body,
                dequeue_count=message.dequeue_count,
                pop_receipt=message.pop_receipt,
            )
            try:
                self._call(registration, argument)
            except Exception:  # noqa: BLE001 (the host catches whatever a function raises)
                failed += 1
                if (message.dequeue_count or 0) >= self.max_dequeue_count:
                    self.poison_client(name).send_message(raw)
                    client.delete_message(message)
                    poisoned += 1
                else:
                    client.update_message(message, visibility_timeout=self.visibility_timeout)
            else:
                succeeded += 1
                client.delete_message(message)
        return QueueRun(succeeded, failed, poisoned)

    def drain(self, names: tuple[str, ...], *, max_rounds: int = 50) -> list[QueueRun]:
        """Run the queue functions until every one of their queues is empty.

        A round that finds nothing while a queue still holds messages waits a tenth of a
        second first, as a host's polling does: those are postponed copies not yet due
        (a backoff's jittered delay can outlast fifty back-to-back empty rounds)."""
        runs: list[QueueRun] = []
        for _ in range(max_rounds):
            round_runs = [self.run_queue_once(name) for name in names]
            runs.extend(round_runs)
            if all(r.succeeded + r.failed == 0 for r in round_runs):
                if all(_approximate_count(self.queue_client(n)) == 0 for n in names):
                    return runs
                time.sleep(0.1)
        raise AssertionError(f"queues of {names} did not drain in {max_rounds} rounds")


def _approximate_count(client: QueueClient) -> int:
    return int(client.get_queue_properties().approximate_message_count or 0)


def _match_route(template: str, path: str) -> dict[str, str] | None:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template.strip("/")))
    match = re.fullmatch(pattern, path)
    return match.groupdict() if match else None


def _seconds(timespan: str) -> int:
    hours, minutes, seconds = (int(part) for part in timespan.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def sample_settings() -> dict[str, str]:
    """The `Values` of local.settings.sample.json: every setting the app reads."""
    values: dict[str, str] = json.loads((REPO / "local.settings.sample.json").read_text())["Values"]
    return values


def embedded_app_settings(directory: Path) -> dict[str, str]:
    """The sample's settings on the embedded stack: a SQLite file in `directory`, local
    secrets and no Redis. With `FunctionHost(..., inline_queue=True)` it needs no service.
    """
    from integration_core.credentials.local import LocalSecretStore

    return sample_settings() | {
        "STORE_BACKEND": "sqlite",
        "SQLITE_PATH": str(directory / "lockstep.sqlite3"),
        "QUEUE_BACKEND": "storage",
        "LOCAL_SECRETS_PATH": str(directory / "secrets.enc"),
        "LOCAL_SECRETS_KEY": LocalSecretStore.generate_key(),
        "REDIS_URL": "",
    }


__all__ = ["FunctionHost", "QueueRun", "Registration", "embedded_app_settings", "sample_settings"]
