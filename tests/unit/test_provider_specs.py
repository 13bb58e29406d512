"""Where the tests find the providers' API descriptions: `PROVIDER_SPECS_DIR`, else the
shared `provider-specs/` beside the checkout; missing, they skip in the fast lane only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.prism import provider_spec

pytestmark = pytest.mark.unit


def test_provider_specs_dir_names_where_the_specs_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hubspot").mkdir()
    (tmp_path / "hubspot" / "contacts.json").write_text("{}")
    monkeypatch.setenv("PROVIDER_SPECS_DIR", str(tmp_path))
    assert provider_spec("hubspot/contacts.json") == tmp_path / "hubspot" / "contacts.json"


def test_specs_found_nowhere_skip_in_the_fast_lane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVIDER_SPECS_DIR", str(tmp_path))
    monkeypatch.setenv("LOCKSTEP_SKIP_SERVICES", "1")
    with pytest.raises(pytest.skip.Exception, match="PROVIDER_SPECS_DIR") as skipped:
        provider_spec("hubspot/contacts.json")
    assert str(tmp_path) in str(skipped.value)


def test_specs_found_nowhere_fail_saying_where_they_were_looked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVIDER_SPECS_DIR", str(tmp_path))
    monkeypatch.delenv("LOCKSTEP_SKIP_SERVICES", raising=False)
    with pytest.raises(pytest.fail.Exception, match="PROVIDER_SPECS_DIR") as failed:
        provider_spec("hubspot/contacts.json")
    assert str(tmp_path / "hubspot" / "contacts.json") in str(failed.value)
