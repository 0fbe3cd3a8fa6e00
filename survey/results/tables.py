"""Tables of the results app: the computation run of a wave and its index results.

A wave has at most one ``ResultRun`` (unique ``wave``) and its ``IndexResult`` rows are unique
per ``(wave, index_id, level, unit_code)`` (raw migration): recomputing replaces them inside one
write transaction that first locks the wave row, so two analysts computing at once end in one
consistent state. Figures are on the published 0–100 scale (percent for shares, points for
scores); raw answers live only in ``response`` and are never written here.
"""

from __future__ import annotations

from piccolo.columns import Boolean, Float, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from survey.db.tables import Wave


class ResultRun(Table, tablename="result_run"):
    """The latest computation of a wave: who, when, with which methods, and its diagnostics.

    JSON columns: ``instruments`` (list of ``{id, version, hash}``), ``weighting`` (per district
    weighting diagnostics), ``flags`` (integrity flags for analysts), ``method`` (method box).
    """

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, unique=True, on_delete=OnDelete.cascade)
    computed_at = Timestamptz(default=TimestamptzNow())
    computed_by = Varchar(length=60, default="")
    method_version = Varchar(length=40)
    policy_id = Varchar(length=100, default="")
    policy_version = Integer(default=0)
    policy_hash = Varchar(length=64, default="")
    seed = Integer(default=0)
    n_responses = Integer(default=0)
    n_excluded = Integer(default=0)
    instruments = Text(default="[]")
    weighting = Text(default="[]")
    flags = Text(default="[]")
    method = Text(default="{}")


class IndexResult(Table, tablename="index_result"):
    """One index for one unit in one wave, with its evidence and the policy's outcome.

    ``level`` is station / street / district / department; ``unit_code`` is the registry code
    (departments: ``<district code>/<department code>``). ``status``: ``ranked``,
    ``insufficient`` (样本不足) or ``not_ranked`` (a level the policy does not rank).
    ``sanctions`` / ``praises``: JSON lists of ``{level, name, reason, measure}``.
    """

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.cascade)
    index_id = Varchar(length=60)
    index_name = Varchar(length=100, default="")
    level = Varchar(length=12)
    unit_code = Varchar(length=60)
    unit_name = Varchar(length=100, default="")
    district_code = Varchar(length=20, default="")
    scale = Varchar(length=4, default="%")
    estimate = Float(null=True, default=None)
    se = Float(null=True, default=None)
    ci_lower = Float(null=True, default=None)
    ci_upper = Float(null=True, default=None)
    ci_method = Varchar(length=30, default="")
    n = Integer(default=0)
    n_eff = Float(default=0.0)
    # Kish effective size of the valid answers' weights, (Σw)²/Σw²: what the policy's
    # min_n_eff is compared with (null for results stored before it was kept).
    n_kish = Float(null=True, default=None)
    dk_rate = Float(null=True, default=None)
    deff = Float(null=True, default=None)
    status = Varchar(length=12, default="not_ranked")
    rank = Integer(null=True, default=None)
    n_ranked = Integer(default=0)
    p_bottom_k = Float(null=True, default=None)
    rank_lower = Integer(null=True, default=None)
    rank_upper = Integer(null=True, default=None)
    distinguishable = Boolean(null=True, default=None)
    fh_estimate = Float(null=True, default=None)
    fh_se = Float(null=True, default=None)
    target = Float(null=True, default=None)
    sanctions = Text(default="[]")
    praises = Text(default="[]")
    evidence = Text(default="{}")
    instrument_id = Varchar(length=60, default="")
    instrument_version = Integer(default=0)
    method_version = Varchar(length=40, default="")


class ResultRevision(Table, tablename="result_revision"):
    """A version of a wave's published results (``survey.results.revisions``).

    Number 1 is the first publication; 2, 3, … are corrections (更正), each with the ``reason``
    and who made it. A correction is a draft (``published_at`` null) until published; then its
    rows become the wave's ``ResultRun``/``IndexResult`` (what every reader sees). ``run`` and
    ``results`` hold those rows as JSON (column → stored value), so every earlier revision stays
    readable. Unique per ``(wave, number)`` (raw migration)."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.cascade)
    number = Integer()
    reason = Text(default="")
    created_by = Varchar(length=60, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    published_by = Varchar(length=60, default="")
    published_at = Timestamptz(null=True, default=None)
    run = Text(default="{}")
    results = Text(default="[]")


class SanctionDecision(Table, tablename="sanction_decision"):
    """A decision on one sanction of a wave (``survey.results.review``): a reviewer's on a
    sanction the policy held or flagged (``source`` ``review``) or the committee's on an appeal
    (``appeal``). ``outcome`` ``confirmed`` (维持), ``withdrawn`` (撤销), ``changed:<level>``
    (变更) or ``appealed`` (an appeal lodged, undecided: 申诉中); the computation passes
    the decisions to the ladder (a withdrawn sanction does not count toward the next step) and
    shows them beside the sanction. The latest row per (wave, index, unit, rule) applies."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.cascade)
    index_id = Varchar(length=60)
    unit_code = Varchar(length=60)
    rule = Varchar(length=60)
    outcome = Varchar(length=30)  # confirmed / withdrawn / changed:<level>
    reason = Text(default="")
    source = Varchar(length=12, default="review")
    decided_by = Varchar(length=60, default="")
    decided_at = Timestamptz(default=TimestamptzNow())


class Appeal(Table, tablename="appeal"):
    """An appeal (申诉) against a sanction of a published wave (``survey.results.appeals``):
    entered with its ``grounds`` by ``entered_by``; decided by the committee (``outcome``
    维持 / 撤销 / 变更, ``to_level`` for 变更, ``reason``); a decision that changes the sanction is
    applied as a new revision of the wave (``revision``)."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.cascade)
    index_id = Varchar(length=60)
    unit_code = Varchar(length=60)
    unit_name = Varchar(length=100, default="")
    rule = Varchar(length=60, default="")
    level = Varchar(length=20, default="")
    grounds = Text(default="")
    entered_by = Varchar(length=60, default="")
    entered_at = Timestamptz(default=TimestamptzNow())
    outcome = Varchar(length=12, default="")
    to_level = Varchar(length=20, default="")
    reason = Text(default="")
    decided_by = Varchar(length=60, default="")
    decided_at = Timestamptz(null=True, default=None)
    revision = Integer(null=True, default=None)


class ResponseExclusion(Table, tablename="response_exclusion"):
    """A completed interview an analyst left out of a wave's computation (``survey.results.
    exclusions``), e.g. after an integrity flag (访问过短, 答案雷同, an interviewer's results far
    from the others'): the ``reason`` written down, by whom and when. The interview itself stays
    in ``response`` untouched; the wave's computation (and a published wave's next revision)
    reads every completed interview except these, and its method note says so. Unique per
    ``(wave, response)`` (raw migration)."""

    id = Serial(primary_key=True)
    wave = ForeignKey(Wave, null=False, on_delete=OnDelete.cascade)
    response = Integer()
    reason = Text(default="")
    excluded_by = Varchar(length=60, default="")
    excluded_at = Timestamptz(default=TimestamptzNow())
