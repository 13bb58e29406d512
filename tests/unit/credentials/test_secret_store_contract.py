"""One contract for every SecretStore backend: the local file and Key Vault (stand-in)."""

from __future__ import annotations

import multiprocessing
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_core.credentials import SecretStore
from integration_core.credentials.keyvault import KeyVaultSecretStore
from integration_core.credentials.local import LocalSecretStore
from integration_core.errors import ConfigurationError, ConflictError, NotFoundError
from tests.harness.keyvault_standin import KeyVaultStandin

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def standin() -> Iterator[KeyVaultStandin]:
    with KeyVaultStandin() as kv:
        yield kv


def _keyvault(standin: KeyVaultStandin, *, purge: bool = True) -> KeyVaultSecretStore:
    return KeyVaultSecretStore(
        standin.url,
        credential=standin.credential(),
        purge_on_delete=purge,
        delete_poll_interval=0.02,
        client_options={"connection_verify": standin.ca_path, "verify_challenge_resource": False},
    )


@pytest.fixture(params=["local", "keyvault"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecretStore]:
    if request.param == "local":
        yield LocalSecretStore(tmp_path / "secrets.json", LocalSecretStore.generate_key())
    else:
        kv = _keyvault(request.getfixturevalue("standin"))
        yield kv
        kv.close()


def _name(request: pytest.FixtureRequest) -> str:
    return "t-" + request.node.name.replace("_", "-").replace("[", "-").replace("]", "")[:80]


def test_ping(store: SecretStore) -> None:
    store.ping()


def test_set_returns_a_version_and_get_reads_latest(
    store: SecretStore, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    v1 = store.set(name, '{"a":"one"}')
    v2 = store.set(name, '{"a":"two"}')
    assert v1 != v2
    assert store.get(name) == '{"a":"two"}'
    assert store.get(name, version=v1) == '{"a":"one"}'
    assert store.get(name, version=v2) == '{"a":"two"}'


def test_list_versions(store: SecretStore, request: pytest.FixtureRequest) -> None:
    name = _name(request)
    versions = {store.set(name, f"value-{n}") for n in range(3)}
    listed = store.list_versions(name)
    assert {v.version for v in listed} == versions
    assert all(v.name == name and v.enabled for v in listed)
    created = [v.created_at for v in listed]
    assert created == sorted(created, reverse=True)


def test_missing_secret_and_version(store: SecretStore, request: pytest.FixtureRequest) -> None:
    name = _name(request)
    with pytest.raises(NotFoundError):
        store.get(name)
    with pytest.raises(NotFoundError):
        store.list_versions(name)
    with pytest.raises(NotFoundError):
        store.delete(name)
    store.set(name, "x")
    with pytest.raises(NotFoundError):
        store.get(name, version="0" * 32)


def test_delete_removes_every_version_and_frees_the_name(
    store: SecretStore, request: pytest.FixtureRequest
) -> None:
    name = _name(request)
    store.set(name, "first")
    store.set(name, "second")
    store.delete(name)
    with pytest.raises(NotFoundError):
        store.get(name)
    store.set(name, "third")
    assert store.get(name) == "third"
    assert len(store.list_versions(name)) == 1


def test_values_are_kept_exactly(store: SecretStore, request: pytest.FixtureRequest) -> None:
    name = _name(request)
    value = '{"pem":"-----BEGIN KEY-----\\nabc\\n-----END KEY-----\\n","u":"ünï ✓"}'
    version = store.set(name, value)
    assert store.get(name, version=version) == value


# ----------------------------------------------------------------- Key Vault specifics


def test_keyvault_runs_the_challenge_flow_once() -> None:
    with KeyVaultStandin() as fresh:  # the SDK caches challenges per vault URL
        credential = fresh.credential()
        kv = KeyVaultSecretStore(
            fresh.url,
            credential=credential,
            client_options={"connection_verify": fresh.ca_path, "verify_challenge_resource": False},
        )
        kv.set("challenge-check", "v")
        assert kv.get("challenge-check") == "v"
        assert fresh.challenges == 1
        assert credential.calls >= 1
        kv.close()


def test_keyvault_soft_deleted_name_conflicts_without_purge(standin: KeyVaultStandin) -> None:
    kv = _keyvault(standin, purge=False)
    kv.set("soft-deleted", "v")
    kv.delete("soft-deleted")
    with pytest.raises(ConflictError):
        kv.set("soft-deleted", "again")
    kv.close()


def test_keyvault_rejects_a_wrong_identity(standin: KeyVaultStandin) -> None:
    from integration_core.errors import AuthError
    from tests.harness.keyvault_standin import StaticTokenCredential

    kv = KeyVaultSecretStore(
        standin.url,
        credential=StaticTokenCredential("not-the-token"),
        client_options={"connection_verify": standin.ca_path, "verify_challenge_resource": False},
    )
    with pytest.raises(AuthError):
        kv.get("anything")
    kv.close()


# ----------------------------------------------------------------- local specifics


def test_local_file_is_0600_and_holds_no_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "s" / "secrets.json"
    store = LocalSecretStore(path, LocalSecretStore.generate_key())
    store.set("api", "plain-text-secret-value")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"plain-text-secret-value" not in path.read_bytes()
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_local_wrong_key_and_tampering_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    LocalSecretStore(path, LocalSecretStore.generate_key()).set("api", "value")
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        LocalSecretStore(path, LocalSecretStore.generate_key()).get("api")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        LocalSecretStore(path, "c2hvcnQ")


def _writer(path: str, key: str, worker: int, count: int) -> None:
    store = LocalSecretStore(path, key)
    for n in range(count):
        store.set(f"w{worker}", f"{worker}-{n}")


def test_local_store_is_safe_for_concurrent_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "secrets.json")
    key = LocalSecretStore.generate_key()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_writer, args=(path, key, w, 15)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    store = LocalSecretStore(path, key)
    for w in range(4):
        assert len(store.list_versions(f"w{w}")) == 15
        assert store.get(f"w{w}") == f"{w}-14"
