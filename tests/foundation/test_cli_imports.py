"""The command line imports only what a command runs (issue 17): building the parser must not
pull in scipy.stats, matplotlib, WeasyPrint, Litestar or Piccolo — checked on ``sys.modules`` in a
fresh interpreter, not by timing — and every command module is wired in by an explicit import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("scipy.stats", "matplotlib", "weasyprint", "litestar", "piccolo", "pyarrow")

PROBE = """
import json, sys
import survey.cli
parser = survey.cli.build_parser()
{extra}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after(extra: str = "", env: dict[str, str] | None = None) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(extra=extra)],
        env=None if env is None else {**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_building_the_parser_imports_nothing_heavy() -> None:
    modules = loaded_after("parser.format_help()")
    assert heavy_in(modules) == []
    assert "survey.estimation.cli" in modules  # the probe really built the whole parser


def test_building_the_parser_loads_no_questionnaire_module() -> None:
    # questionnaires exports every name on first use: `survey report` (and every other command)
    # does not load the instrument model, loader and answer rules to build its parser
    modules = loaded_after("parser.format_help()")
    assert sorted(m for m in modules if m.startswith("questionnaires")) == [
        "questionnaires",
        "questionnaires.cli",
    ]


def test_the_tables_load_no_questionnaire_model() -> None:
    # the tables take the demographic codes (questionnaires.demographics) without the instrument
    # model: a report read from disk reads tables and never loads an instrument
    modules = loaded_after("import survey.db.tables, survey.results.tables")
    assert "questionnaires.demographics" in modules
    assert "questionnaires.model" not in modules


@pytest.mark.parametrize(
    "argv",
    [
        ["questionnaire", "list"],
        [
            "questionnaire",
            "check",
            str(Path(__file__).parents[2] / "questionnaires/anquangan.toml"),
        ],
    ],
)
def test_questionnaire_commands_still_load_their_modules(argv: list[str]) -> None:
    modules = loaded_after(
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert survey.cli.main({argv!r}) == 0"
    )
    assert {"questionnaires.loader", "questionnaires.model"} <= modules


@pytest.mark.parametrize(
    "argv",
    [
        ["policy", "list"],
        ["cati", "outcomes"],
        ["questionnaire", "list"],
    ],
)
def test_light_commands_stay_light(argv: list[str]) -> None:
    modules = loaded_after(
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert survey.cli.main({argv!r}) == 0"
    )
    assert heavy_in(modules) == []


def test_the_probe_sees_a_heavy_import() -> None:
    # the checks above can fail: the ranking ladder (used by `results compute`) needs scipy.stats
    assert "scipy.stats" in heavy_in(loaded_after("import survey.ranking.ladder"))


def test_every_command_module_is_wired_explicitly() -> None:
    import survey.cli

    parser = survey.cli.build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    for expected in ("migrate", "estimate", "questionnaire", "policy", "invitations", "sample"):
        assert expected in commands
    for expected in ("cati", "results", "report", "backup", "wave", "serve"):
        assert expected in commands
    assert all(hasattr(m, "register") for m in survey.cli.COMMAND_MODULES)


def test_estimate_with_normal_intervals_needs_no_scipy(tmp_path: Path) -> None:
    # `survey estimate --ci normal` takes the normal quantile from the standard library and
    # factorises with pyarrow's kernels directly: neither scipy nor pyarrow.compute is imported
    # (together ≈ 0.2–0.4 s of every run); t intervals do import scipy.special.
    data = tmp_path / "d.csv"
    data.write_text("w,y,g\n1,2,a\n2,3,a\n1,5,b\n3,4,b\n", encoding="utf-8")
    run = "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n"
    argv = ["estimate", str(data), "--weight", "w", "--mean", "y", "--by", "g"]
    normal = loaded_after(run + f"    assert survey.cli.main({[*argv, '--ci', 'normal']!r}) == 0")
    assert "pyarrow.csv" in normal  # the probe really read the file
    assert sorted(m for m in normal if m == "scipy" or m.startswith("scipy.")) == []
    assert "pyarrow.compute" not in normal
    t = loaded_after(run + f"    assert survey.cli.main({[*argv, '--ci', 't']!r}) == 0")
    assert "scipy.special" in t


def test_reading_results_needs_no_scipy_stats() -> None:
    # the report and the change from the previous wave read stored results: a unit at 0 % takes
    # its Clopper–Pearson bound from scipy.special (imported then), never from scipy.stats
    modules = loaded_after(
        "import survey.results.report\n"
        "from survey.ranking.uncertainty import difference_test\n"
        "assert difference_test(0.0, 0.0, 30.0, 20.0, 2.0, 200.0).distinguishable"
    )
    assert "survey.results.report" in modules and "scipy.special" in modules
    assert [m for m in heavy_in(modules) if not m.startswith("piccolo")] == []
    assert "survey.results.compute" not in modules


def test_a_change_between_waves_needs_no_scipy() -> None:
    # Φ is survey.ranking.normal's (scipy.special.ndtr to the bit, tests/ranking/test_normal.py)
    # and a unit at 100 % has its bound in closed form: the demo's report imports no scipy
    modules = loaded_after(
        "from types import SimpleNamespace as row\n"
        "from survey.results.changes import change_between\n"
        "from survey.ranking.uncertainty import difference_test\n"
        "now = row(month='2026-10', estimate=91.0, se=1.5, n_eff=300.0, scale='%')\n"
        "then = row(month='2026-09', estimate=86.0, se=1.8, n_eff=280.0, scale='%')\n"
        "change = change_between(now, then)\n"
        "assert change is not None and change.significant and 0 < change.p_value < 0.05\n"
        "assert difference_test(94.5, 4.2, 30.7, 100.0, 0.0, 30.6).p_value > 0.05"
    )
    assert "survey.results.changes" in modules and "survey.ranking.uncertainty" in modules
    assert sorted(m for m in modules if m == "scipy" or m.startswith("scipy.")) == []


def test_migrations_do_not_load_black_until_used() -> None:
    # piccolo.conf.apps imports black at its top, only to format the migration files it writes
    # (survey.db defers it); once a name of it is used, it is the real module
    probe = (
        "import survey.db.migrate, piccolo.conf.apps\n"
        "assert type(sys.modules['black']).__name__ == '_Deferred'\n"
        "assert 'black.mode' not in sys.modules\n"
        "assert piccolo.conf.apps.black.format_str('x=1', mode=piccolo.conf.apps.black.Mode())"
        " == 'x = 1\\n'\n"
        "assert type(sys.modules['black']).__name__ == 'module'\n"
    )
    modules = loaded_after(probe)
    assert "black.mode" in modules


@pytest.mark.anyio
async def test_a_report_on_disk_imports_nothing_heavy(
    demo_city: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `survey report` of a revision already on disk (issue 17): finding the revision is two
    # small queries, and the dashboard, its charts, the templates and WeasyPrint stay unloaded
    from survey.db.tables import Wave
    from survey.results.report import report_file
    from survey.results.tables import ResultRun

    monkeypatch.setenv("PINGAN_CACHE_DIR", str(tmp_path))
    wave = await Wave.select(Wave.id, Wave.month).first()
    assert wave is not None
    await ResultRun.insert(ResultRun(wave=wave["id"], method_version="test"))
    path = await report_file(wave["id"], "pdf")
    assert path is not None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"%PDF-1.7 kept on disk")
    argv = ["report", wave["month"], "--format", "pdf", "-o", str(tmp_path / "out.pdf")]
    modules = loaded_after(
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert survey.cli.main({argv!r}) == 0"
    )
    assert (tmp_path / "out.pdf").read_bytes() == b"%PDF-1.7 kept on disk"
    heavy = ("weasyprint", "numpy", "scipy", "jinja2", "survey.results.dashboard")
    assert sorted(m for m in modules if m.split(".")[0] in heavy or m in heavy) == []
    assert "survey.results.report" in modules  # the probe really ran the report


def test_sqlite_processes_do_not_load_asyncpg_until_used(tmp_path: Path) -> None:
    # piccolo.querystring imports asyncpg.pgproto.pgproto whenever asyncpg is installed, and that
    # loaded all of asyncpg (≈ 0.05 s) in every process; on SQLite survey.db defers it as it
    # defers black, and exports its error vocabulary (asyncpg's exceptions) on first use
    probe = (
        "import asyncio\n"
        "from survey.db.migrate import migrate_forwards\n"
        "asyncio.run(migrate_forwards())\n"
        "assert type(sys.modules['asyncpg']).__name__ == '_Deferred'\n"
        "assert 'asyncpg.pgproto.pgproto' in sys.modules\n"
        "assert 'asyncpg.connection' not in sys.modules\n"
        "from survey.db import DATABASE_UNAVAILABLE\n"
        "import asyncpg\n"
        "assert asyncpg.exceptions.CannotConnectNowError in DATABASE_UNAVAILABLE\n"
        "assert type(sys.modules['asyncpg']).__name__ == 'module'\n"
        "assert asyncpg.pgproto.pgproto.UUID is not None\n"
    )
    modules = loaded_after(probe, env={"PINGAN_DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite'}"})
    assert "asyncpg.connection" in modules and "survey.piccolo_conf" in modules
    # on PostgreSQL asyncpg is needed at once: imported as before
    on_postgres = "import survey.db\nassert type(sys.modules['asyncpg']).__name__ == 'module'\n"
    url = "postgresql://nobody@127.0.0.1:1/none"  # never connected to
    assert "asyncpg.connection" in loaded_after(on_postgres, env={"PINGAN_DATABASE_URL": url})
