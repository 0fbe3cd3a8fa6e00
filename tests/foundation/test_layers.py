"""The layers of the code (docs/architecture.md), checked on the import graph read from the
source with ``ast`` — every ``import`` and ``from … import``, also those inside functions.

* The pure cores (``survey.estimation``, ``survey.ranking``, ``sampling``, ``questionnaires``)
  import no database, web or template library and nothing of the platform's services.
* The web layer (``survey.web``) imports no table module, engine or driver: it calls services
  (``survey.db`` itself offers ``ping``, the pool and the error vocabulary).
* Only ``survey.db`` (and the SQLite backup, which copies the file) imports a database driver.
* No module imports another module's ``_private`` names (nor a package's ``_private`` module
  from outside that package).
* No cycles between packages (``survey.design``, ``survey.collection``, … and the modules
  directly in ``survey/``): the dependencies point one way. The adapters at the edge — each
  area's ``cli`` and ``demo`` modules and the composition roots that wire them — may import
  any area, and no other module imports them.

The checker is tested on small synthetic trees first (``test_checker_…``), so it can fail.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("survey", "sampling", "questionnaires")

PURE_CORES = ("survey.estimation", "survey.ranking", "sampling", "questionnaires")
# Platform modules a pure core may import: leaves that import nothing of the platform
# (asserted below) — the CLI's error type and the spreadsheet-safe cell.
PURE_MAY_IMPORT = ("survey.cli_errors", "survey.cells")
DRIVERS = ("asyncpg", "aiosqlite", "sqlite3", "psycopg", "psycopg2")
DATABASE = ("piccolo", *DRIVERS, "survey.db")
WEB = ("litestar", "uvicorn", "granian", "httpx", "survey.web")
TEMPLATES = ("jinja2",)
WEB_LAYER = "survey.web"
# What the web layer may not import: the ORM, the drivers, the engine and any table module.
WEB_MAY_NOT = ("piccolo", *DRIVERS, "survey.db.engine", "survey.db.migrate", "survey.db.testing")
DRIVER_USERS = ("survey.db", "survey.lifecycle.backup")
# Entry points that wire the areas together (argparse, the demo city, Piccolo's configuration).
COMPOSITION_ROOTS = ("survey.cli", "survey.commands", "survey.demo", "survey.piccolo_conf")


@dataclass(frozen=True, slots=True)
class Edge:
    """``module`` imports ``name`` (None: the module itself) of ``target`` on ``line``."""

    module: str
    target: str
    name: str | None
    line: int

    def __str__(self) -> str:
        what = f"{self.target}.{self.name}" if self.name else self.target
        return f"{self.module}:{self.line} imports {what}"


def module_files(base: Path, roots: Iterable[str]) -> dict[str, Path]:
    """Module name → file, for every ``.py`` under ``roots`` (migrations left out)."""
    out: dict[str, Path] = {}
    for root in roots:
        for path in sorted((base / root).rglob("*.py")):
            if "piccolo_migrations" in path.parts:
                continue
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def import_edges(modules: dict[str, Path]) -> list[Edge]:
    """Every import of every module; ``module._name`` attribute uses of a platform module bound
    by an import count as imports of ``_name`` (so ``responses._Unchanged`` is seen)."""
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        bound: dict[str, str] = {}  # local name → platform module it refers to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    edges.append(Edge(module, alias.name, None, node.lineno))
                    if alias.asname:
                        bound[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                if target == "__future__":
                    continue
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in modules:  # ``from pkg import module``
                        edges.append(Edge(module, submodule, None, node.lineno))
                        bound[alias.asname or alias.name] = submodule
                    else:
                        edges.append(Edge(module, target, alias.name, node.lineno))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in bound
                and _is_private(node.attr)
            ):
                edges.append(Edge(module, bound[node.value.id], node.attr, node.lineno))
    return edges


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def package_of(module: str) -> str:
    """The node of the package graph: ``survey.<x>`` inside the platform, else the top level."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "survey" and len(parts) > 1 else parts[0]


def is_adapter(module: str) -> bool:
    """An area's command-line or demo module, or a composition root."""
    last = module.rpartition(".")[2]
    return (
        _within(module, COMPOSITION_ROOTS)
        or last in ("cli", "demo")
        or last.endswith(("_cli", "_demo"))
    )


def _platform(target: str, roots: Iterable[str]) -> bool:
    return target.split(".")[0] in roots


def pure_core_violations(edges: Iterable[Edge], roots: Iterable[str] = ROOTS) -> list[Edge]:
    roots = tuple(roots)
    out = []
    for e in edges:
        if not _within(e.module, PURE_CORES):
            continue
        if _within(e.target, (*DATABASE, *WEB, *TEMPLATES)) or (
            _platform(e.target, roots)
            and not _within(e.target, PURE_CORES)
            and not _within(e.target, PURE_MAY_IMPORT)
        ):
            out.append(e)
    return out


def web_violations(edges: Iterable[Edge]) -> list[Edge]:
    return [
        e
        for e in edges
        if _within(e.module, (WEB_LAYER,))
        and (_within(e.target, WEB_MAY_NOT) or e.target.rpartition(".")[2] == "tables")
    ]


def driver_violations(edges: Iterable[Edge]) -> list[Edge]:
    return [e for e in edges if _within(e.target, DRIVERS) and not _within(e.module, DRIVER_USERS)]


def private_violations(edges: Iterable[Edge], roots: Iterable[str] = ROOTS) -> list[Edge]:
    """Imports of another module's ``_name``, and of a ``_module`` from outside its package."""
    roots = tuple(roots)
    out = []
    for e in edges:
        if not _platform(e.target, roots) or e.target == e.module:
            continue
        if e.name is not None and _is_private(e.name):
            out.append(e)
            continue
        parts = e.target.split(".")
        for i, part in enumerate(parts):
            owner = ".".join(parts[:i])
            if _is_private(part) and not _within(e.module, (owner,)):
                out.append(e)
                break
    return out


def adapter_violations(edges: Iterable[Edge], roots: Iterable[str] = ROOTS) -> list[Edge]:
    """Library modules importing an adapter (which would let the areas' cycles back in)."""
    roots = tuple(roots)
    return [
        e
        for e in edges
        if _platform(e.target, roots) and is_adapter(e.target) and not is_adapter(e.module)
    ]


def package_cycles(edges: Iterable[Edge], roots: Iterable[str] = ROOTS) -> list[list[str]]:
    """The cycles of the package graph of library modules (adapters left out), each as its
    strongly connected set of packages, sorted."""
    roots = tuple(roots)
    graph: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        if not _platform(e.target, roots) or is_adapter(e.module) or is_adapter(e.target):
            continue
        a, b = package_of(e.module), package_of(e.target)
        if a != b:
            graph[a].add(b)
    return [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]


def _strongly_connected(graph: dict[str, set[str]]) -> Iterator[set[str]]:
    """Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            found.append(component)

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    yield from found


# --- the checker on synthetic trees -----------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> list[Edge]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for directory in {p.parent for p in tmp_path.rglob("*.py")}:
        init = directory / "__init__.py"
        if directory != tmp_path and not init.exists():
            init.write_text("", encoding="utf-8")
    return import_edges(module_files(tmp_path, ROOTS))


def test_checker_finds_a_pure_core_importing_the_database_a_service_or_templates(
    tmp_path: Path,
) -> None:
    edges = _tree(
        tmp_path,
        {
            "survey/estimation/core.py": "import numpy\nfrom survey.cells import safe_cell\n",
            "survey/estimation/bad.py": (
                "def f():\n    from piccolo.table import Table\n"
                "import jinja2\nfrom survey.design.service import draw_sample\n"
            ),
            "sampling/ok.py": "from survey.estimation import core\n",
            "survey/cells.py": "",
            "survey/design/service.py": "",
        },
    )
    found = {(e.module, e.target) for e in pure_core_violations(edges)}
    assert found == {
        ("survey.estimation.bad", "piccolo.table"),
        ("survey.estimation.bad", "jinja2"),
        ("survey.estimation.bad", "survey.design.service"),
    }


def test_checker_finds_the_web_layer_querying_tables_or_the_driver(tmp_path: Path) -> None:
    edges = _tree(
        tmp_path,
        {
            "survey/web/a.py": "from survey.db.tables import Unit\nimport asyncpg\n",
            "survey/web/b.py": "from survey.design import tables\nfrom survey.db import ping\n",
            "survey/design/tables.py": "",
            "survey/db/__init__.py": "import asyncpg\n",
        },
    )
    assert {(e.module, e.target) for e in web_violations(edges)} == {
        ("survey.web.a", "survey.db.tables"),
        ("survey.web.a", "asyncpg"),
        ("survey.web.b", "survey.design.tables"),
    }
    assert {(e.module, e.target) for e in driver_violations(edges)} == {("survey.web.a", "asyncpg")}


def test_checker_finds_private_names_by_import_and_by_attribute(tmp_path: Path) -> None:
    edges = _tree(
        tmp_path,
        {
            "survey/a.py": "def _helper(): ...\n_x = 1\nprint(_x)\n",
            "survey/b.py": "from survey.a import _helper\n",
            "survey/c.py": "from survey import a\nimport survey.a as aa\na._x\naa._helper()\n",
            "sampling/_random.py": "",
            "sampling/numbers.py": "from sampling._random import keys\n",
            "survey/d.py": "from sampling._random import keys\n",
        },
    )
    assert {(e.module, e.target, e.name) for e in private_violations(edges)} == {
        ("survey.b", "survey.a", "_helper"),
        ("survey.c", "survey.a", "_x"),
        ("survey.c", "survey.a", "_helper"),
        ("survey.d", "sampling._random", "keys"),
    }


def test_checker_finds_package_cycles_also_through_lazy_imports(tmp_path: Path) -> None:
    edges = _tree(
        tmp_path,
        {
            "survey/design/service.py": "def f():\n    from survey.collection.tables import T\n",
            "survey/collection/tables.py": "from survey.design.service import f\n",
            "survey/collection/cli.py": "from survey.results import x\n",
            "survey/results/__init__.py": "from survey.collection import tables\nx = 1\n",
            "survey/waves.py": "from survey.results import x\n",
            "survey/results/waves.py": "def g():\n    from survey import waves\n",
        },
    )
    assert package_cycles(edges) == [
        ["survey.collection", "survey.design"],
        ["survey.results", "survey.waves"],
    ]


def test_checker_finds_a_library_module_importing_an_adapter(tmp_path: Path) -> None:
    edges = _tree(
        tmp_path,
        {
            "survey/design/service.py": "from survey.cli import CommandError\n",
            "survey/design/cli.py": "from survey.cli import CommandError\n",
            "survey/cli.py": "import survey.design.cli\n",
        },
    )
    assert [(e.module, e.target) for e in adapter_violations(edges)] == [
        ("survey.design.service", "survey.cli")
    ]


# --- the platform ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return import_edges(module_files(REPO, ROOTS))


def _unexpected(found: Iterable[Edge]) -> list[str]:
    """Every violation: there are no exceptions (the last one, the design's link into
    collection's table, was turned around in issue 13)."""
    return [str(e) for e in found]


def test_pure_cores_import_no_database_web_templates_or_services(edges: list[Edge]) -> None:
    assert _unexpected(pure_core_violations(edges)) == []


def test_what_pure_cores_may_import_of_the_platform_are_leaves(edges: list[Edge]) -> None:
    leaves = [e for e in edges if _within(e.module, PURE_MAY_IMPORT)]
    assert leaves, "the allowed modules exist"
    assert [str(e) for e in leaves if _platform(e.target, ROOTS)] == []


def test_the_web_layer_imports_no_table_engine_or_driver(edges: list[Edge]) -> None:
    assert _unexpected(web_violations(edges)) == []


def test_only_the_database_layer_imports_a_driver(edges: list[Edge]) -> None:
    assert _unexpected(driver_violations(edges)) == []


def test_no_module_imports_another_modules_private_names(edges: list[Edge]) -> None:
    assert _unexpected(private_violations(edges)) == []


def test_no_library_module_imports_an_adapter(edges: list[Edge]) -> None:
    assert _unexpected(adapter_violations(edges)) == []


def test_no_cycles_between_packages(edges: list[Edge]) -> None:
    kept = edges
    cycles = package_cycles(kept)
    inside = [
        str(e)
        for e in kept
        if not is_adapter(e.module)
        and not is_adapter(e.target)
        and any(
            package_of(e.module) in c
            and package_of(e.target) in c
            and package_of(e.module) != package_of(e.target)
            for c in cycles
        )
    ]
    assert cycles == [], "\n".join(inside)


# --- explicit wiring ------------------------------------------------------------------------


def _defining(name: str) -> set[str]:
    """Modules that define ``name`` at their top level."""
    out = set()
    for module, path in module_files(REPO, ROOTS).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            defined = {t.id for t in targets if isinstance(t, ast.Name)}
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defined.add(node.name)
            if name in defined:
                out.add(module)
    return out


def test_every_area_is_wired_in_by_an_explicit_import() -> None:
    """Each module offering routes, a demo step or sub-commands is listed where they are wired
    (a module left out would silently drop its routes, demo data or commands)."""
    import survey.cli
    import survey.demo
    import survey.web.app

    assert {m.__name__ for m in survey.web.app.ROUTE_MODULES} == _defining("ROUTES")
    assert {m.__name__ for m in survey.demo.DEMO_STEPS} == _defining("extend_demo")
    assert {m.__name__ for m in survey.cli.COMMAND_MODULES} == _defining("register")
