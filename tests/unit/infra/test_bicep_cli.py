"""Where the Bicep CLI is installed, it builds and lints every template (no warnings)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(
        shutil.which("bicep") is None,
        reason="bicep is not on PATH (its installer downloads from outside)",
    ),
]

INFRA = Path(__file__).resolve().parents[3] / "infra"


@pytest.mark.parametrize("path", sorted(INFRA.rglob("*.bicep")), ids=lambda p: p.name)
def test_bicep_build_and_lint(path: Path, tmp_path: Path) -> None:
    build = subprocess.run(
        ["bicep", "build", str(path), "--outdir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    lint = subprocess.run(["bicep", "lint", str(path)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Warning" not in lint.stdout + lint.stderr
