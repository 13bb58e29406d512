"""A `lockstep serve` subprocess on the embedded stack, and the CLI run as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.serve import serving

__all__ = ["lockstep"]


def lockstep(
    *args: str, workdir: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "integration_core", "--workdir", str(workdir), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        cwd=workdir,
        check=False,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The process and its base URL; its log is serve.log in `tmp_path`."""
    with serving(tmp_path) as found:
        yield found
