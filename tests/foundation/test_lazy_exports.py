"""The lazy package attributes (``lazy_exports``): every exported name resolves, the module behind
a lazy name is imported only on first use, and unknown names still raise ``AttributeError``."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import pytest

from lazy_exports import lazy_exports

PACKAGES = ("questionnaires", "survey.estimation", "survey.ranking")


@pytest.fixture
def fake_package(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    package = types.ModuleType("fakepkg")
    heavy = types.ModuleType("fakepkg.heavy")
    heavy.answer = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fakepkg", package)
    monkeypatch.setitem(sys.modules, "fakepkg.heavy", heavy)
    package.__getattr__ = lazy_exports("fakepkg", {"fakepkg.heavy": ("answer",)})  # type: ignore[attr-defined]
    return package


def test_first_use_imports_and_keeps_the_value(fake_package: types.ModuleType) -> None:
    assert "answer" not in vars(fake_package)
    assert fake_package.answer == 42
    assert vars(fake_package)["answer"] == 42  # later reads do not go through __getattr__


def test_unknown_name_raises_attribute_error(fake_package: types.ModuleType) -> None:
    with pytest.raises(AttributeError, match="module 'fakepkg' has no attribute 'other'"):
        _ = fake_package.other
    assert not hasattr(fake_package, "other")


PROBE = """
import importlib, json, sys
out = {}
for name in %r:
    package = importlib.import_module(name)
    before = set(sys.modules)
    missing = [n for n in package.__all__ if not hasattr(package, n)]
    out[name] = {"missing": missing, "loaded": sorted(set(sys.modules) - before)}
print(json.dumps(out))
"""


def test_every_exported_name_of_the_pure_cores_resolves_and_loads_on_use() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE % (PACKAGES,)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for name in PACKAGES:
        assert out[name]["missing"] == [], name
    # The modules behind the lazy names were not imported with their package.
    assert "questionnaires.scoring" in out["questionnaires"]["loaded"]
    assert "survey.estimation.weighting" in out["survey.estimation"]["loaded"]
    assert "survey.ranking.ladder" in out["survey.ranking"]["loaded"]
