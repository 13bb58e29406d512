"""`lockstep serve` as a user runs it: a subprocess on the embedded stack, on a free port.

Its log (stderr) goes to serve.log in `directory`, a file, so that a busy server never
blocks on a pipe nobody reads; its data lives in `directory`/data. It runs the code of
this checkout: tests/conftest.py puts it first on PYTHONPATH for every subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["serving"]


@contextmanager
def serving(
    directory: Path, *, env: Mapping[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """The process and its base URL (…/api); killed on exit if still running. `env` adds
    app settings (the environment wins over local.settings.sample.json).
    """
    with (directory / "serve.log").open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "integration_core",
                "--workdir",
                str(directory / "data"),
                "serve",
                "--port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=directory,
            env=os.environ | dict(env or {}),
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"serving (http://\S+/api)", line)
            assert match, (line, (directory / "serve.log").read_text())
            yield process, match.group(1)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
