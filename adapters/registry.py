"""Which adapter class serves which system name."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.base import BaseIntegrationAdapter
from adapters.sandbox import SandboxAdapter
from integration_core.errors import ConfigurationError

__all__ = ["ADAPTERS", "adapter_class"]

ADAPTERS: Mapping[str, type[BaseIntegrationAdapter]] = {
    SandboxAdapter.system: SandboxAdapter,
}


def adapter_class(system: str) -> type[BaseIntegrationAdapter]:
    try:
        return ADAPTERS[system]
    except KeyError as err:
        raise ConfigurationError(
            f"no adapter for system {system!r}; known: {sorted(ADAPTERS)}"
        ) from err
