"""Stoplight Prism (npm `@stoplight/prism-cli`, pinned in package.json) around a provider's
own OpenAPI file: `mock` answers from the spec, `proxy` forwards to a fake and refuses (with
`--errors`) any request or answer the spec does not allow — so a fake cannot drift from it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import services_skipped

__all__ = ["SPECS_DIR", "Prism", "SwitchableApp", "provider_spec"]

_ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = "PROVIDER_SPECS_DIR"  # the folder holding hubspot/, slack/, github-webhooks/


def provider_spec(relative: str) -> Path:
    """A file of the providers' API descriptions: under `PROVIDER_SPECS_DIR` when it is
    set, else under a `shared/provider-specs/` folder beside the checkout (or above it).

    Found nowhere, the test skips in the fast lane (`LOCKSTEP_SKIP_SERVICES=1`) and fails
    otherwise, naming every place it looked.
    """
    configured = os.environ.get(SPECS_DIR)
    roots = (
        [Path(configured)]
        if configured
        else [parent / "shared" / "provider-specs" for parent in _ROOT.parents]
    )
    for root in roots:
        if (root / relative).is_file():
            return root / relative
    looked = ", ".join(str(root / relative) for root in roots)
    reason = f"provider spec {relative} not found (looked at {looked}); set {SPECS_DIR}"
    if services_skipped():
        pytest.skip(reason)
    pytest.fail(reason, pytrace=False)


def _prism_bin() -> str:
    configured = os.environ.get("PRISM_BIN")
    candidate = Path(configured) if configured else _ROOT / "node_modules" / ".bin" / "prism"
    if not candidate.exists():
        raise FileNotFoundError(
            f"prism not found at {candidate}: run `npm ci` (package.json pins "
            "@stoplight/prism-cli) or set PRISM_BIN"
        )
    return str(candidate)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Prism:
    """`prism mock --dynamic --seed … SPEC`, or `prism proxy --errors SPEC UPSTREAM`, on
    loopback."""

    def __init__(self, spec: Path, *, upstream: str | None = None, timeout: float = 90.0) -> None:
        self.port = _free_port()
        mode = (
            ["proxy", "--errors", str(spec), upstream]
            if upstream
            # Seeded, so every run gets the same answers (Prism re-seeds for each request, so
            # a path always answers alike); "2" generates non-empty lists for HubSpot's files.
            else ["mock", "--dynamic", "--seed", "2", str(spec)]
        )
        self._argv = [_prism_bin(), *mode, "--host", "127.0.0.1", "--port", str(self.port)]
        self._timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Prism:
        self._process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
            self._argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"prism exited: {error[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise TimeoutError(f"prism did not listen on {self.port} in {self._timeout:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


class SwitchableApp:
    """A WSGI app that forwards to `app`, so one long-lived server (and one Prism in front of
    it) serves a fresh fake in every test."""

    def __init__(self) -> None:
        self.app: Callable[[dict[str, Any], Any], Iterable[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        assert self.app is not None, "no fake switched in"
        return self.app(environ, start_response)
