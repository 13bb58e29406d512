"""Credential fixtures (`redis_server_url` and `own_redis` come from tests/conftest.py)."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def lock_prefix() -> str:
    return f"lockstep:test:{uuid.uuid4().hex[:8]}:"
