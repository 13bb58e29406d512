"""Which adapter serves a connection's `system`: a lazy registry.

Built-in adapters are named by import path and imported on first use, so integration_core
never imports the adapters package itself and a process loads only the providers it syncs.
Third parties add theirs with `register_adapter()`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from typing import cast

from pydantic import BaseModel

from integration_core.errors import ConfigurationError
from integration_core.models import Connection
from integration_core.ports.adapter import AdapterFactory, ChangeNotice

__all__ = ["adapter_factory", "parse_webhook", "register_adapter", "validate_connection"]

# system -> "module:attribute" (imported lazily) or the factory itself once loaded.
_REGISTRY: dict[str, str | AdapterFactory] = {
    "sandbox": "adapters.sandbox:SandboxAdapter",
    "hubspot": "adapters.hubspot:HubSpotAdapter",
    "salesforce": "adapters.salesforce:SalesforceAdapter",
    "notion": "adapters.notion:NotionAdapter",
    "google": "adapters.google:GooglePeopleAdapter",
    "github": "adapters.github:GitHubAdapter",
    "slack": "adapters.slack:SlackAdapter",
}
_LOCK = threading.Lock()


def register_adapter(system: str, factory: str | AdapterFactory, *, replace: bool = False) -> None:
    """Serve connections of `system` with `factory` (a class, or "module:Class").

    Raises:
        ConfigurationError: `system` is taken and `replace` is False.
    """
    if not system:
        raise ConfigurationError("an adapter needs a non-empty system name")
    with _LOCK:
        if system in _REGISTRY and not replace:
            raise ConfigurationError(f"an adapter for system {system!r} is already registered")
        _REGISTRY[system] = factory


def adapter_factory(system: str) -> AdapterFactory:
    with _LOCK:
        entry = _REGISTRY.get(system)
        known = sorted(_REGISTRY)
    if entry is None:
        raise ConfigurationError(f"no adapter for system {system!r}; known: {known}")
    if not isinstance(entry, str):
        return entry
    module_name, _, attribute = entry.partition(":")
    try:
        factory = cast(AdapterFactory, getattr(importlib.import_module(module_name), attribute))
    except (ImportError, AttributeError) as err:
        raise ConfigurationError(f"adapter {entry!r} for system {system!r} cannot load") from err
    with _LOCK:
        _REGISTRY[system] = factory
    return factory


def validate_connection(connection: Connection) -> BaseModel:
    """The connection's config, validated by its adapter; call it when a connection is made.

    Raises:
        ConfigurationError: unknown system, or a config the adapter refuses (naming the field).
    """
    return adapter_factory(connection.system).validate_config(connection.config)


def parse_webhook(system: str, *, headers: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
    """The change notices in a verified delivery from `system`, by that system's adapter.

    Raises:
        ConfigurationError: unknown system.
        PermanentError: the body is not the provider's webhook format.
    """
    return adapter_factory(system).parse_webhook(headers=headers, body=body)
