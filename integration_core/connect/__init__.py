"""Connecting a connection with OAuth 2.0 (authorization code + PKCE).

clients.py: the deployment's OAuth apps (`OAUTH_CLIENTS`); states.py: the single-use
state of a flow; flow.py: start and finish (imported from its module: it needs the
runtime, which reads these settings); pages.py: what the callback shows a person.
"""

from __future__ import annotations

from integration_core.connect.clients import (
    OAuthClient,
    OAuthEndpoints,
    endpoints_for,
    parse_clients,
)
from integration_core.connect.states import (
    STATE_TTL,
    ConnectState,
    StateProblem,
    StateRefusedError,
    consume_state,
    issue_state,
)

__all__ = [
    "STATE_TTL",
    "ConnectState",
    "OAuthClient",
    "OAuthEndpoints",
    "StateProblem",
    "StateRefusedError",
    "consume_state",
    "endpoints_for",
    "issue_state",
    "parse_clients",
]
