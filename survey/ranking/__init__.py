"""Ranking rules (pure: numpy/scipy and the standard library only; no web, ORM or templates).

Everything is on the published 0–100 scale: percent for shares (安全感 92.5 means 92.5 %), points
for mean scores (满意度 85 分). Waves are named by month, ``"YYYY-MM"``.

Policy as data (``survey/policies/*.toml``, format in docs/policy-format.md)::

    policy = default_policy()                 # the seed district's rules
    policy = load_policy("my_district.toml")  # raises PolicyError(problems) listing every problem
    problems = check_policy_files(paths)      # [Problem(file, line, item, message)], [] if fine

Applying it to a wave (the ladder state is derived from the earlier waves in ``history``)::

    history = [UnitResult(wave="2026-09", index="anquangan", unit_code="PS01", estimate=91.2,
                          se=2.1, n=180, n_eff=150.0, status="ranked", unit_name="城关派出所"), …]
    result = evaluate_wave(policy, history, "2026-09", rng=np.random.default_rng(seed))
    for o in result.for_index("anquangan"):
        o.rank, o.published, o.status, o.sanctions, o.praises, o.points, o.targets
        o.evidence.p_bottom_k, o.evidence.rank_lower, o.evidence.rank_upper,
        o.evidence.ci_lower, o.evidence.ci_upper, o.evidence.distinguishable, o.evidence.note

Evidence: ``p_bottom_k`` (with ``k``) for indices with a bottom-k rule (stations, streets);
``p_below`` (with ``threshold``) for indices with a ``below`` rule (departments under the pass
score); ``distinguishable``/``note`` compare a bottom-k unit with the first unit outside, or a
department with its pass score. 样本不足 units get an empty ``Evidence()`` and ``rank=None``.

Building blocks: ``simulate_ranks`` (P(bottom k), rank intervals), ``display_interval`` /
``clopper_pearson`` (non-degenerate intervals at 0 %/100 %), ``p_below``, ``difference_test``,
``fay_herriot`` (EB small-area estimates, labelled 模型估计) and the integrity flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lazy_exports import lazy_exports
from questionnaires.model import Problem
from survey.ranking.policy import (
    Condition,
    IndexSpec,
    LadderStep,
    PointBand,
    PointsRule,
    Policy,
    PolicyError,
    PraiseRule,
    SanctionRule,
    Target,
    UncertaintySettings,
    check_policy_files,
    default_policy,
    default_policy_path,
    load_policy,
    load_policy_text,
    policies_dir,
)
from survey.ranking.records import (
    INSUFFICIENT,
    LEVEL_NAMES,
    RANKED,
    SANCTION_LEVELS,
    STATUS_NAMES,
    ConditionState,
    Evidence,
    PointEntry,
    Praise,
    Sanction,
    TargetCheck,
    UnitOutcome,
    UnitResult,
    WaveEvaluation,
)

if TYPE_CHECKING:
    from survey.ranking.integrity import (
        IntegrityFlag,
        flag_dk_collapse,
        flag_group_outliers,
        flag_identical_answers,
        flag_identical_columns,
        flag_jumps,
        flag_short_interviews,
    )
    from survey.ranking.ladder import (
        competition_ranks,
        evaluate_wave,
        in_extreme_k,
        published_value,
    )
    from survey.ranking.small_area import (
        MODEL_LABEL,
        FayHerriot,
        fay_herriot,
        variances_usable,
    )
    from survey.ranking.uncertainty import (
        DifferenceTest,
        Interval,
        RankSimulation,
        clopper_pearson,
        difference_test,
        display_interval,
        effective_se,
        p_below,
        simulate_ranks,
    )

# scipy behind these names: imported on first use (the command line stays light).
__getattr__ = lazy_exports(
    __name__,
    {
        "survey.ranking.integrity": (
            "IntegrityFlag",
            "flag_dk_collapse",
            "flag_group_outliers",
            "flag_identical_answers",
            "flag_identical_columns",
            "flag_jumps",
            "flag_short_interviews",
        ),
        "survey.ranking.ladder": (
            "competition_ranks",
            "evaluate_wave",
            "in_extreme_k",
            "published_value",
        ),
        "survey.ranking.small_area": (
            "MODEL_LABEL",
            "FayHerriot",
            "fay_herriot",
            "variances_usable",
        ),
        "survey.ranking.uncertainty": (
            "DifferenceTest",
            "Interval",
            "RankSimulation",
            "clopper_pearson",
            "difference_test",
            "display_interval",
            "effective_se",
            "p_below",
            "simulate_ranks",
        ),
    },
)


__all__ = [
    "INSUFFICIENT",
    "LEVEL_NAMES",
    "MODEL_LABEL",
    "RANKED",
    "SANCTION_LEVELS",
    "STATUS_NAMES",
    "Condition",
    "ConditionState",
    "DifferenceTest",
    "Evidence",
    "FayHerriot",
    "IndexSpec",
    "IntegrityFlag",
    "Interval",
    "LadderStep",
    "PointBand",
    "PointEntry",
    "PointsRule",
    "Policy",
    "PolicyError",
    "Praise",
    "PraiseRule",
    "Problem",
    "RankSimulation",
    "Sanction",
    "SanctionRule",
    "Target",
    "TargetCheck",
    "UncertaintySettings",
    "UnitOutcome",
    "UnitResult",
    "WaveEvaluation",
    "check_policy_files",
    "clopper_pearson",
    "competition_ranks",
    "default_policy",
    "default_policy_path",
    "difference_test",
    "display_interval",
    "effective_se",
    "evaluate_wave",
    "fay_herriot",
    "flag_dk_collapse",
    "flag_group_outliers",
    "flag_identical_answers",
    "flag_identical_columns",
    "flag_jumps",
    "flag_short_interviews",
    "in_extreme_k",
    "load_policy",
    "load_policy_text",
    "p_below",
    "policies_dir",
    "published_value",
    "simulate_ranks",
    "variances_usable",
]
