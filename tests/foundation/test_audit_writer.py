"""One writer of the audit log: every area records its actions through ``survey.audit.record``
(which also cuts the user name and action to their column lengths), none inserts ``AuditLog``
rows itself. Checked on the import graph of ``test_layers``: only ``survey.audit`` imports the
``AuditLog`` table, beside the backup, which names its table to leave it out of a backup."""

from __future__ import annotations

from pathlib import Path

from tests.foundation.test_layers import ROOTS, Edge, import_edges, module_files

# module → why it may import the table
READERS = {
    "survey.audit": "the writer and reader of the audit log",
    "survey.lifecycle.backup": "names the table to leave it out of a backup",
}


def audit_table_importers(edges: list[Edge]) -> list[str]:
    """Modules that import ``AuditLog`` (from the table module or through ``survey.audit``)
    without being listed in :data:`READERS`."""
    return sorted(
        str(e)
        for e in edges
        if e.name == "AuditLog" and e.module not in READERS and e.module.split(".")[0] in ROOTS
    )


def test_checker_finds_a_module_inserting_audit_rows_itself(tmp_path: Path) -> None:
    (tmp_path / "survey" / "area").mkdir(parents=True)
    (tmp_path / "survey" / "__init__.py").write_text("")
    (tmp_path / "survey" / "area" / "__init__.py").write_text("")
    (tmp_path / "survey" / "area" / "service.py").write_text(
        "async def act():\n"
        "    from survey.db.tables import AuditLog\n"
        "    await AuditLog.insert(AuditLog(username='u', action='a'))\n"
    )
    (tmp_path / "survey" / "area" / "good.py").write_text(
        "from survey import audit\n\nasync def act():\n    await audit.record('u', 'a')\n"
    )
    found = audit_table_importers(import_edges(module_files(tmp_path, ["survey"])))
    assert found == ["survey.area.service:2 imports survey.db.tables.AuditLog"]


def test_only_the_audit_module_writes_the_audit_log() -> None:
    base = Path(__file__).resolve().parents[2]
    assert audit_table_importers(import_edges(module_files(base, ROOTS))) == []
