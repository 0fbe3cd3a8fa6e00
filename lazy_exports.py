"""Names a package exports but imports only on first use (PEP 562), so importing it stays light.

The pure cores (``questionnaires``, ``survey.estimation``, ``survey.ranking``) export names whose
modules import numpy or scipy; the command line imports those packages to build its parser and
must not pay for scipy.stats there. ``survey.db`` exports its error vocabulary (asyncpg's
exceptions) this way, so that a process on SQLite imports no asyncpg. Each package's ``__init__`` declares, once, which module
holds which lazy names::

    if TYPE_CHECKING:                          # what type checkers and readers see
        from survey.ranking.ladder import evaluate_wave

    __getattr__ = lazy_exports(__name__, {"survey.ranking.ladder": ("evaluate_wave",)})

Standard library only, outside every package, so that all of them may import it (a pure core
imports no other area for it, and ``questionnaires`` imports nothing of ``survey``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package`` for ``exports`` (module name → the names it
    gives): the first access imports the module and keeps the value in the package, so later
    accesses are plain attribute reads. Any other name raises ``AttributeError`` as usual."""
    source = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = source.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
