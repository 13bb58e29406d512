from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from integration_core.sync.echo import is_echo, is_replay, values_hash

pytestmark = pytest.mark.unit

VALUES = {"name": "Zoë", "tags": ["b", "a"], "n": 1, "nested": {"y": None, "x": [1, 2]}}


def test_hash_ignores_key_order_but_not_list_order() -> None:
    reordered = {"nested": {"x": [1, 2], "y": None}, "n": 1, "tags": ["b", "a"], "name": "Zoë"}
    assert values_hash(VALUES) == values_hash(reordered)
    assert values_hash(VALUES) != values_hash({**VALUES, "tags": ["a", "b"]})
    assert values_hash({"a": None}) != values_hash({})
    assert values_hash({"a": True}) != values_hash({"a": 1})
    assert len(values_hash(VALUES)) == 64


def test_hash_of_datetimes_is_utc_and_decimals_are_strings() -> None:
    t = datetime(2024, 1, 1, 12, tzinfo=UTC)
    shifted = t.astimezone(timezone(timedelta(hours=2)))
    assert values_hash({"t": t}) == values_hash({"t": shifted})
    assert values_hash({"d": Decimal("1.10")}) == values_hash({"d": "1.10"})
    assert values_hash({"s": {"b", "a"}}) == values_hash({"s": ["a", "b"]})
    with pytest.raises(TypeError, match="cannot hash"):
        values_hash({"x": object()})


def test_hash_is_stable_across_processes() -> None:
    code = f"from integration_core.sync.echo import values_hash;print(values_hash({VALUES!r}))"
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(out.stdout.strip())
    assert outputs == {values_hash(VALUES)}


def test_is_echo_by_version_or_by_values() -> None:
    written = values_hash(VALUES)
    assert is_echo(VALUES, "7", written_hash=written, written_version="7")
    assert is_echo(VALUES, "8", written_hash=written, written_version="7")
    assert is_echo({"other": 1}, "7", written_hash=written, written_version="7")
    assert not is_echo({**VALUES, "n": 2}, "8", written_hash=written, written_version="7")
    assert not is_echo(VALUES, None, written_hash=None, written_version=None)
    assert not is_echo(VALUES, None, written_hash=None, written_version="7")


def test_is_replay() -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    assert is_replay("3", t, applied_version="3", applied_modified_at=None)
    assert is_replay("2", t - timedelta(seconds=1), applied_version="3", applied_modified_at=t)
    assert not is_replay("4", t, applied_version="3", applied_modified_at=t)
    assert not is_replay("4", t + timedelta(seconds=1), applied_version="3", applied_modified_at=t)
    assert not is_replay("1", t, applied_version=None, applied_modified_at=None)
