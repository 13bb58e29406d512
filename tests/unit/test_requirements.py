"""requirements.txt is what the Azure Functions Python build installs (issue 11, §9).

Without it a deployed app has no packages. It must list exactly pyproject.toml's runtime
dependencies, each as a range with an upper bound, so that a new major version of a
dependency cannot reach production untested.
"""

from __future__ import annotations

import tomllib

import pytest
from packaging.requirements import Requirement

from tests.harness.function_host import REPO

pytestmark = pytest.mark.unit


def _pyproject() -> list[Requirement]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(line) for line in data["project"]["dependencies"]]


def _requirements_txt() -> list[Requirement]:
    lines = (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in (raw.split("#")[0].strip() for raw in lines) if line]


def test_requirements_txt_equals_the_runtime_dependencies() -> None:
    assert sorted(map(str, _requirements_txt())) == sorted(map(str, _pyproject()))


def test_every_runtime_dependency_is_a_bounded_range() -> None:
    for requirement in _pyproject():
        operators = {spec.operator for spec in requirement.specifier}
        assert ">=" in operators, f"{requirement.name}: no lower bound"
        assert "<" in operators, f"{requirement.name}: no upper bound"
