"""A `lockstep serve` subprocess on the embedded stack, and the CLI run as a subprocess."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    """The process and its base URL; its log (stderr) goes to serve.log in `tmp_path`, a
    file, so that a busy server never blocks on a pipe nobody reads.
    """
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "integration_core",
            "--workdir",
            str(tmp_path / "data"),
            "serve",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"serving (http://\S+/api)", line)
    assert match, (line, (tmp_path / "serve.log").read_text())
    yield process, match.group(1)
    if process.poll() is None:
        process.kill()
        process.wait(30)
    log.close()
