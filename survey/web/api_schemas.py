"""Response schemas of the read-only results API ``/api/v1`` (msgspec Structs).

Every field carries a description (``msgspec.Meta``), which the OpenAPI schema shows; a test
checks that none is missing. Figures are on the published 0–100 scale (percent for shares,
points for mean scores) and unrounded, except ``estimate_published`` (one decimal, as printed
in the 通报).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta


class ProgrammeOut(msgspec.Struct, kw_only=True):
    """A 测评方案 (programme): the region it measures, its instruments and its ranking policy."""

    code: Annotated[str, Meta(description="测评方案代码，如 nancheng-lsyd")]
    name: Annotated[str, Meta(description="测评方案名称")]
    region_code: Annotated[str, Meta(description="所测区域（区县或市）的区划代码")]
    region_name: Annotated[str, Meta(description="所测区域名称")]
    instruments: Annotated[list[str], Meta(description="所用问卷（测评工具）的 id 列表")]
    policy: Annotated[str, Meta(description="排名与预警规则（policy）的 id")]


class WaveOut(msgspec.Struct, kw_only=True):
    """A 测评期 (wave) of a programme."""

    id: Annotated[int, Meta(description="测评期 id（用于 /api/v1/waves/{id}）")]
    programme: Annotated[str, Meta(description="所属测评方案代码")]
    month: Annotated[str, Meta(description="测评月份 YYYY-MM")]
    status: Annotated[
        str,
        Meta(
            description="状态：design 设计、collecting 采集、closed 结束、published 发布；"
            "委员会成员只能读取 published"
        ),
    ]
    status_name: Annotated[str, Meta(description="状态的中文名称")]
    has_results: Annotated[bool, Meta(description="是否已有计算结果")]


class IndexOut(msgspec.Struct, kw_only=True):
    """An index computed in a wave, with the unit levels it has results for."""

    id: Annotated[str, Meta(description="指标 id，如 anquangan")]
    name: Annotated[str, Meta(description="指标名称，如 公众安全感")]
    levels: Annotated[
        list[str], Meta(description="有结果的单位层级：station、street、district、department")
    ]


class RunOut(msgspec.Struct, kw_only=True):
    """The latest computation of a wave's results."""

    computed_at: Annotated[str, Meta(description="计算时间（UTC，YYYY-MM-DD HH:MM:SS）")]
    method_version: Annotated[str, Meta(description="计算方法版本")]
    policy_id: Annotated[str, Meta(description="所用排名与预警规则的 id")]
    policy_version: Annotated[int, Meta(description="所用规则的版本号")]
    n_responses: Annotated[int, Meta(description="参与计算的有效问卷数")]
    n_excluded: Annotated[int, Meta(description="被排除的问卷数")]


class WaveDetailOut(msgspec.Struct, kw_only=True):
    """One wave: its status, its latest computation and the indices it has results for."""

    wave: Annotated[WaveOut, Meta(description="测评期")]
    run: Annotated[RunOut | None, Meta(description="最近一次计算；尚未计算时为 null")]
    indices: Annotated[list[IndexOut], Meta(description="有结果的指标")]
    results_url: Annotated[str, Meta(description="本期结果的接口地址")]


class MeasureOut(msgspec.Struct, kw_only=True):
    """A sanction (通报批评, 黄牌警告, 一票否决) or a praise (通报表扬) the policy imposes."""

    level: Annotated[
        str,
        Meta(
            description="等级：criticism 通报批评、yellow_card 黄牌警告、veto 一票否决、praise 表扬"
        ),
    ]
    name: Annotated[str, Meta(description="等级的中文名称")]
    reason: Annotated[str, Meta(description="原因（中文），如 连续 2 期处于后 2 位")]
    measure: Annotated[str, Meta(description="措施（中文），如 重点管理（挂牌整治）；可为空")]


class ResultOut(msgspec.Struct, kw_only=True):
    """One index for one unit in one wave, with its evidence and the policy's outcome."""

    index: Annotated[str, Meta(description="指标 id")]
    index_name: Annotated[str, Meta(description="指标名称")]
    level: Annotated[
        str,
        Meta(
            description="单位层级：station 派出所、street 街道、district 区县、department 政法部门"
        ),
    ]
    unit_code: Annotated[str, Meta(description="单位代码（区划代码；部门为「区县代码/部门代码」）")]
    unit_name: Annotated[str, Meta(description="单位名称")]
    district_code: Annotated[str, Meta(description="单位所在区县的代码")]
    scale: Annotated[str, Meta(description="量纲：% 为比例（百分数），分 为均分（0–100）")]
    estimate: Annotated[float | None, Meta(description="加权估计值（未舍入）；无有效回答时为 null")]
    estimate_published: Annotated[
        float | None, Meta(description="公布值：估计值保留一位小数，与通报一致")
    ]
    se: Annotated[float | None, Meta(description="标准误（设计基础的线性化方差，同一量纲）")]
    ci_lower: Annotated[float | None, Meta(description="95% 置信区间下限")]
    ci_upper: Annotated[float | None, Meta(description="95% 置信区间上限")]
    ci_method: Annotated[str, Meta(description="置信区间方法，如 logit、t")]
    n: Annotated[int, Meta(description="有效回答数（名义样本量）")]
    n_eff: Annotated[float, Meta(description="有效样本量 n_eff = n / 设计效应")]
    deff: Annotated[float | None, Meta(description="设计效应（综合指标为 Kish 加权效应）")]
    dk_rate: Annotated[float | None, Meta(description="「说不清/不了解」和拒答的比例（%）")]
    status: Annotated[
        str,
        Meta(description="排名状态：ranked 已排名、insufficient 样本不足、not_ranked 该层级不排名"),
    ]
    rank: Annotated[int | None, Meta(description="名次（1 为最好）；未排名时为 null")]
    n_ranked: Annotated[int, Meta(description="参与排名的单位数")]
    rank_lower: Annotated[int | None, Meta(description="名次的 95% 区间：最好名次")]
    rank_upper: Annotated[int | None, Meta(description="名次的 95% 区间：最差名次")]
    p_bottom_k: Annotated[
        float | None,
        Meta(description="该单位真实处于后 k 位的概率（0–1，由抽样分布模拟），k 为规则中的后 k 位"),
    ]
    distinguishable: Annotated[
        bool | None,
        Meta(description="与相邻名次之外的单位在统计上是否可区分；false 时排名差异不显著"),
    ]
    target: Annotated[float | None, Meta(description="目标值或达标分值（同一量纲）；无则为 null")]
    fh_estimate: Annotated[
        float | None, Meta(description="小区域估计（Fay–Herriot 收缩）值；未计算时为 null")
    ]
    fh_se: Annotated[float | None, Meta(description="小区域估计的标准误")]
    sanctions: Annotated[
        list[MeasureOut], Meta(description="本期的预警（通报批评、黄牌警告、一票否决）")
    ]
    praise: Annotated[list[MeasureOut], Meta(description="本期的通报表扬")]
    instrument: Annotated[str, Meta(description="所用问卷 id")]
    instrument_version: Annotated[int, Meta(description="所用问卷版本")]


class ProgrammePage(msgspec.Struct, kw_only=True):
    """One page of programmes."""

    items: Annotated[list[ProgrammeOut], Meta(description="本页的测评方案")]
    total: Annotated[int, Meta(description="符合条件的总条数")]
    limit: Annotated[int, Meta(description="每页条数")]
    offset: Annotated[int, Meta(description="本页第一条的位置（从 0 起）")]
    next: Annotated[str | None, Meta(description="下一页的地址；最后一页为 null")]


class WavePage(msgspec.Struct, kw_only=True):
    """One page of waves, newest first."""

    items: Annotated[list[WaveOut], Meta(description="本页的测评期（新的在前）")]
    total: Annotated[int, Meta(description="符合条件的总条数")]
    limit: Annotated[int, Meta(description="每页条数")]
    offset: Annotated[int, Meta(description="本页第一条的位置（从 0 起）")]
    next: Annotated[str | None, Meta(description="下一页的地址；最后一页为 null")]


class ResultPage(msgspec.Struct, kw_only=True):
    """One page of a wave's results, by index, level, then rank (unranked last)."""

    wave: Annotated[WaveOut, Meta(description="这些结果所属的测评期")]
    items: Annotated[list[ResultOut], Meta(description="本页的结果")]
    total: Annotated[int, Meta(description="符合条件的总条数")]
    limit: Annotated[int, Meta(description="每页条数")]
    offset: Annotated[int, Meta(description="本页第一条的位置（从 0 起）")]
    next: Annotated[str | None, Meta(description="下一页的地址；最后一页为 null")]
