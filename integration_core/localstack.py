"""App settings for running Lockstep on one machine (`lockstep serve` and the CLI).

The environment wins; what it leaves unset comes from local.settings.sample.json. On the
embedded stack (the default) the store is a SQLite file and secrets a local encrypted file
under `workdir`, the queue is in-process, without Redis; the `local` stack keeps the
sample's emulators.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from integration_core.errors import ConfigurationError

__all__ = ["REPO", "Stack", "apply_local_settings"]

REPO = Path(__file__).resolve().parents[1]
Stack = Literal["embedded", "local"]


def apply_local_settings(stack: Stack, workdir: Path) -> None:
    sample_file = REPO / "local.settings.sample.json"
    if not sample_file.is_file():
        raise ConfigurationError(f"local settings need a checkout; no {sample_file}")
    sample: dict[str, str] = json.loads(sample_file.read_text())["Values"]
    if stack == "embedded":
        workdir.mkdir(parents=True, exist_ok=True)
        sample |= {
            "STORE_BACKEND": "sqlite",
            "SQLITE_PATH": str(workdir / "lockstep.sqlite3"),
            "LOCAL_SECRETS_PATH": str(workdir / "secrets.enc"),
            "REDIS_URL": "",
            "QUEUE_BACKEND": "inline",
        }
    for key, value in sample.items():
        os.environ.setdefault(key, value)
