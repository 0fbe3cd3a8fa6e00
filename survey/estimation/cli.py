"""``survey estimate``: design-based estimates from any CSV, as an analyst would run R ``survey``.

    survey estimate DATA.csv --weight COL [--strata COL] [--cluster COL] [--fpc COL]
        (--mean COL | --total COL | --proportion COL=CODE,CODE,...)
        [--recode COL:CODE=VALUE,...] [--missing COL:CODE,...] [--by COL[,COL]]
        [--rake MARGIN.csv]... [--ci logit|t|normal|beta] [--level 0.95] [--format json|csv]

Semantics (so every implementation reads them alike): an empty field is missing; codes are
compared as numbers when both sides are numeric (``3`` equals ``3.0``); ``--missing`` codes and
empty answers are out of the domain (R ``na.rm=TRUE``) but stay in the design; ``--recode`` maps
every code of the column (a code present in the data but absent from the recode is an error,
missing codes excepted); ``--proportion`` codes are compared with the (recoded) values; rows with
an empty by-value belong to no domain; raking uses every respondent; an ``--fpc`` ≤ 1 is a
sampling fraction. ``--ci`` defaults to ``normal`` for means and totals and ``logit`` for
proportions; ``t`` uses the full design's df; ``logit``/``beta`` use each domain's df.
Output: one JSON array (or CSV rows), one object per domain with ``domain`` (by-values joined
with ``|``; null without ``--by``), ``estimate``, ``se``, ``ci_lower``, ``ci_upper``, ``df``
(null = normal), ``n``, ``n_missing``, ``deff``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from survey.cells import safe_cell

OUTPUT_KEYS: tuple[str, ...] = (
    "domain",
    "estimate",
    "se",
    "ci_lower",
    "ci_upper",
    "df",
    "n",
    "n_missing",
    "deff",
)


def cmd_estimate(args: argparse.Namespace) -> int:
    from survey.cli_errors import CommandError
    from survey.estimation.csvinput import CliInputError, run

    try:
        rows = run(args)
    except CliInputError as exc:
        raise CommandError(str(exc).replace("\n", " ")) from exc
    if args.format == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(OUTPUT_KEYS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: "" if v is None else (repr(v) if isinstance(v, float) else safe_cell(v))
                    for k, v in row.items()
                }
            )
    else:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
    return 0


def register(subparsers: Any) -> None:
    """Add ``survey estimate`` to the ``survey`` command line."""
    p = subparsers.add_parser(
        "estimate",
        help="design-based estimates (mean, total, proportion) with SEs and CIs from a CSV",
        description=(__doc__ or "").split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(__doc__ or "").split("\n\n", 2)[2] if __doc__ else None,
    )
    p.add_argument("data", metavar="DATA.csv", help="one row per respondent, header row, UTF-8")
    p.add_argument("--weight", required=True, metavar="COL", help="sampling weight column (> 0)")
    p.add_argument("--strata", metavar="COL", help="stratum column (e.g. district)")
    p.add_argument("--cluster", metavar="COL", help="PSU column; default: each row is its own PSU")
    p.add_argument(
        "--fpc", metavar="COL", help="population count of the stratum (or PSUs), or a fraction ≤ 1"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--mean", metavar="COL", help="weighted mean of COL")
    what.add_argument("--total", metavar="COL", help="weighted total of COL")
    what.add_argument(
        "--proportion", metavar="COL=CODE,...", help="share of valid answers with these codes"
    )
    p.add_argument(
        "--recode", action="append", metavar="COL:CODE=VALUE,...", help="map codes to scores"
    )
    p.add_argument(
        "--missing", action="append", metavar="COL:CODE,...", help="codes treated as missing"
    )
    p.add_argument("--by", metavar="COL[,COL]", help="domains: one estimate per combination")
    p.add_argument(
        "--rake", action="append", metavar="MARGIN.csv", help="raking margin (variables + Freq)"
    )
    p.add_argument("--ci", choices=("logit", "t", "normal", "beta"), help="interval method")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--format", choices=("json", "csv"), default="json", help="output format")
    p.set_defaults(func=cmd_estimate)
