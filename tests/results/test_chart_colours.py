"""One colour meaning on the forest and funnel plots, and funnel labels that do not collide.

Red: under a warning, or the 95 % interval wholly below the reference (the target); green:
praised, or the interval wholly above; grey: not distinguishable from it.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest

from survey.results import charts

SVG = "{http://www.w3.org/2000/svg}"
POINTS = [
    charts.Point("甲所", 78.0, 70.0, 85.0, 100),  # interval below 90 → red
    charts.Point("乙所", 95.0, 92.0, 97.0, 100),  # interval above 90 → green
    charts.Point("丙所", 90.5, 85.0, 95.0, 100),  # covers 90 → grey
    charts.Point("丁所", 93.0, 91.0, 95.0, 100, flagged=True),  # warned → red whatever it shows
    charts.Point("戊所", 88.0, 84.0, 92.0, 100, praised=True),  # praised → green
]


def test_tone_by_hand() -> None:
    assert [charts.tone(p, 90.0) for p in POINTS] == ["low", "high", "neutral", "low", "high"]
    # without a reference only the policy's outcome colours a unit
    assert [charts.tone(p, None) for p in POINTS] == [
        "neutral",
        "neutral",
        "neutral",
        "low",
        "high",
    ]


def _point_colours(svg: str) -> list[str]:
    """Fill colours of the units' markers (r = 4.5; the colour key's dots are r = 4)."""
    return sorted(
        c.attrib["fill"] for c in ET.fromstring(svg).iter(f"{SVG}circle") if c.attrib["r"] == "4.5"
    )


def test_forest_and_funnel_colour_each_unit_alike() -> None:
    forest = charts.forest(POINTS, target=90, unit="%", title="森林图")
    funnel = charts.funnel(POINTS, target=90, unit="%", title="漏斗图")
    expected = sorted([charts.RED, charts.GREEN, charts.NEUTRAL, charts.RED, charts.GREEN])
    assert _point_colours(forest) == expected
    assert _point_colours(funnel) == expected
    for svg in (forest, funnel):  # the key says what the colours mean
        texts = {t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")}
        assert "无显著差异" in texts


def test_label_positions_by_hand() -> None:
    # three labels at 100, 101, 102 px with a 13 px gap: pushed down one after another
    assert charts.spread_labels([101, 100, 102], 13, 0, 500) == [113, 100, 126]
    # near the bottom edge (110) they are stacked upwards from it instead
    assert charts.spread_labels([100, 101, 102], 13, 0, 110) == [84, 97, 110]
    # far apart: untouched
    assert charts.spread_labels([40, 200], 13, 0, 500) == [40, 200]


def test_funnel_names_only_units_that_stand_out_without_overlap() -> None:
    crowd = [charts.Point(f"低{i}所", 60.0 + i * 0.2, 55.0, 66.0, 100) for i in range(4)]
    inside = [charts.Point(f"中{i}所", 90.0 + i * 0.1, 85.0, 95.0, 100) for i in range(4)]
    svg = charts.funnel(crowd + inside, target=90, unit="%", title="漏斗图")
    labels = [
        (float(t.attrib["y"]), t.text or "")
        for t in ET.fromstring(svg).iter(f"{SVG}text")
        if (t.text or "").endswith("所")
    ]
    assert sorted(text for _y, text in labels) == [f"低{i}所" for i in range(4)]
    ys = sorted(y for y, _text in labels)
    assert all(b - a >= charts.SMALL + 3 - 1e-9 for a, b in itertools.pairwise(ys))
    assert svg.count(f'stroke="{charts.GREY}" stroke-width="0.6"') >= 3  # leader lines


@pytest.mark.parametrize("target", [None, 90.0])
def test_forest_without_target_colours_against_the_reference(target: float | None) -> None:
    svg = charts.forest(POINTS[:3], target=target, unit="%", title="森林图", reference=90.0)
    assert _point_colours(svg) == sorted([charts.RED, charts.GREEN, charts.NEUTRAL])


def test_funnel_label_goes_left_of_its_point_rather_than_over_another_unit() -> None:
    # 乙's marker sits just right of 甲's (both far below the target, both named): 甲's name
    # goes to the left of its point (text-anchor end) so it does not cover 乙's marker.
    points = [
        charts.Point("甲所", 60.0, 50.0, 70.0, 100),
        charts.Point("乙所", 60.5, 55.0, 66.0, 104),
    ]
    svg = charts.funnel(points, target=90, unit="%", title="漏斗图")
    named = {
        t.text: t.attrib["text-anchor"]
        for t in ET.fromstring(svg).iter(f"{SVG}text")
        if (t.text or "").endswith("所")
    }
    assert named["甲所"] == "end"


def _texts(svg: str) -> list[str]:
    return ["".join(t.itertext()) for t in ET.fromstring(svg).iter(f"{SVG}text")]


def test_funnel_names_its_centre_line_target_or_mean() -> None:
    with_target = _texts(charts.funnel(POINTS, target=90, unit="%", title="漏斗图"))
    assert "目标 90%" in with_target
    mean = sum(p.estimate for p in POINTS) / len(POINTS)  # 88.9: an index without a target
    without = _texts(charts.funnel(POINTS, target=mean, unit="%", title="漏斗图", centre="均值"))
    assert "均值 88.9%" in without and not any(t.startswith("目标") for t in without)
