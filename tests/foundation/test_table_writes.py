"""Each area writes only its own tables (docs/architecture.md, "Which package owns which table"),
checked on the source with ``ast``.

A write is ``T.insert(…)``, ``T.update(…)``, ``T.delete(…)`` or ``T.alter(…)`` on a table class
``T`` imported from a table module, a call of a function named ``…insert…`` with ``T`` as first
argument (``bulk_insert(T, rows)``), or a string in the code (not a docstring) holding
``INSERT INTO t``, ``UPDATE t`` or ``DELETE FROM t`` for a table name ``t``. Another area's
table is changed by calling its owner's function (``reweigh_invitations``, ``purge_phones`` …).
Left out: the adapters (each area's ``cli`` and ``demo`` modules and the composition roots, which
build demo data in every area) and ``survey.db`` itself (it empties every table for the tests).
SQL assembled from pieces at run time (``f"UPDATE {name}"``) is not seen: such code is rare here
and reviewed by eye.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from tests.foundation.test_layers import REPO, ROOTS, is_adapter, module_files, package_of

# Owners of the tables defined in survey/db/tables.py (the others: the package of their
# tables.py). Every service appends its audit rows through ``survey.audit.record``.
SHARED_OWNERS: dict[str, tuple[str, ...]] = {
    "Unit": ("survey.registry",),
    "PopulationCount": ("survey.registry",),
    "Station": ("survey.registry",),
    "StationCommunity": ("survey.registry",),
    "Department": ("survey.registry",),
    "Programme": ("survey.programmes",),
    "PolicyVersion": ("survey.programmes",),
    "Wave": ("survey.waves", "survey.results"),  # created by waves, stepped by publishing
    "AppUser": ("survey.accounts",),
    "WebSession": ("survey.accounts",),
    "RateCounter": ("survey.limits",),
    "AuditLog": ("survey.audit",),
}
_METHODS = ("insert", "update", "delete", "alter")
_SQL_WRITE = re.compile(r'\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Write:
    module: str
    line: int
    table: str  # class name, or the SQL table name
    owners: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.module}:{self.line} writes {self.table} (owner {', '.join(self.owners)})"


def table_owners(
    modules: dict[str, Path], shared: dict[str, tuple[str, ...]]
) -> tuple[dict[tuple[str, str], tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(table module, class) → owners and SQL table name → owners, for every Piccolo table."""
    by_class: dict[tuple[str, str], tuple[str, ...]] = {}
    by_name: dict[str, tuple[str, ...]] = {}
    for module, path in modules.items():
        if not module.endswith(".tables"):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(isinstance(b, ast.Name) and b.id == "Table" for b in node.bases):
                continue
            owners = shared.get(node.name, (package_of(module),))
            if module == "survey.db.tables" and node.name not in shared:
                raise AssertionError(f"no owner listed for survey.db.tables.{node.name}")
            by_class[(module, node.name)] = owners
            for keyword in node.keywords:
                if keyword.arg == "tablename" and isinstance(keyword.value, ast.Constant):
                    by_name[str(keyword.value.value)] = owners
    return by_class, by_name


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def writes(modules: dict[str, Path], shared: dict[str, tuple[str, ...]]) -> list[Write]:
    """Every write to a table found in ``modules`` (see the module docstring)."""
    by_class, by_name = table_owners(modules, shared)
    found: list[Write] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names: dict[str, tuple[str, str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    if (node.module, alias.name) in by_class:
                        names[alias.asname or alias.name] = (node.module, alias.name)
            elif isinstance(node, ast.ClassDef) and (module, node.name) in by_class:
                names[node.name] = (module, node.name)
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            target: ast.expr | None = None
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in _METHODS:
                    target = func.value
                elif isinstance(func, (ast.Name, ast.Attribute)) and node.args:
                    called = func.id if isinstance(func, ast.Name) else func.attr
                    if "insert" in called:
                        target = node.args[0]
            if isinstance(target, ast.Name) and target.id in names:
                key = names[target.id]
                found.append(Write(module, node.lineno, key[1], by_class[key]))
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                for table in _SQL_WRITE.findall(node.value):
                    if table in by_name:
                        found.append(Write(module, node.lineno, table, by_name[table]))
    return found


def foreign_writes(found: list[Write]) -> list[str]:
    """The writes of a library module to a table its package does not own."""
    return [
        str(w)
        for w in found
        if not is_adapter(w.module)
        and package_of(w.module) != "survey.db"
        and package_of(w.module) not in w.owners
    ]


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return module_files(tmp_path, ["survey"])


def test_checker_finds_orm_bulk_and_sql_writes_to_another_areas_table(tmp_path: Path) -> None:
    tables = "from piccolo.table import Table\nclass Thing(Table, tablename='thing'):\n    pass\n"
    modules = _tree(
        tmp_path,
        {
            "survey/__init__.py": "",
            "survey/a/__init__.py": "",
            "survey/a/tables.py": tables,
            "survey/a/service.py": (
                "from survey.a.tables import Thing\n"
                "async def f():\n    await Thing.update({}).where(Thing.id == 1)\n"
            ),
            "survey/b/__init__.py": "",
            "survey/b/orm.py": (
                "from survey.a.tables import Thing as T\n"
                "async def f():\n    await T.delete().where(T.id == 1)\n"
            ),
            "survey/b/bulk.py": (
                "from survey.a.tables import Thing\n"
                "async def f():\n    await bulk_insert(Thing, [])\n"
            ),
            "survey/b/raw.py": (
                '"""UPDATE thing in a docstring is no write."""\n'
                "async def f(db):\n    await db.raw('UPDATE thing SET x = 1')\n"
                "    await db.raw('SELECT 1 FROM thing FOR UPDATE')\n"
            ),
            "survey/b/demo.py": (
                "from survey.a.tables import Thing\n"
                "async def f():\n    await Thing.insert(Thing())\n"
            ),
        },
    )
    found = writes(modules, {})
    assert sorted((w.module, w.line) for w in found) == [
        ("survey.a.service", 3),
        ("survey.b.bulk", 3),
        ("survey.b.demo", 3),
        ("survey.b.orm", 3),
        ("survey.b.raw", 3),
    ]
    assert sorted(foreign_writes(found)) == [
        "survey.b.bulk:3 writes Thing (owner survey.a)",
        "survey.b.orm:3 writes Thing (owner survey.a)",
        "survey.b.raw:3 writes thing (owner survey.a)",
    ]


def test_each_area_writes_only_its_own_tables() -> None:
    modules = module_files(REPO, ROOTS)
    found = writes(modules, SHARED_OWNERS)
    assert len(found) > 50, "the checker sees the platform's writes"
    assert foreign_writes(found) == []
