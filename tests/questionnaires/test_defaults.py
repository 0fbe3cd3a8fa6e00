"""The shipped instruments load and say what DESIGN.md §3 says they must."""

from __future__ import annotations

import hashlib
import re

import pytest

from questionnaires import (
    Instrument,
    check_files,
    default_instruments,
    load_instrument,
    load_instrument_text,
    shipped_instrument_paths,
    version_conflict,
)

ANQUAN_TEXT = "在目前的社会治安环境下，您感觉安全吗？"
ZHIXIAO_TEXT = "您是否知道本地正在开展平安建设（平安创建）活动？"
SAFETY_LABELS = ["很安全", "安全", "基本安全", "不太安全", "不安全"]
SATISFACTION_LABELS = ["很满意", "满意", "基本满意", "不太满意", "不满意"]
SCORES = [100.0, 80.0, 60.0, 30.0, 0.0]
DEPARTMENTS = ["公安机关", "检察院", "法院", "司法行政机关"]


@pytest.fixture(scope="module")
def instruments() -> dict[str, Instrument]:
    return default_instruments()


def codes_for(instrument: Instrument, item_id: str, labels: list[str]) -> list[int]:
    item = instrument.item(item_id)
    by_label = {opt.label: opt.code for opt in item.options}
    return [by_label[label] for label in labels]


def test_each_default_instrument_loads(instruments: dict[str, Instrument]) -> None:
    # the shipped four first; then tests/fixtures/questionnaires (PINGAN_QUESTIONNAIRES)
    assert list(instruments) == [
        "anquangan",
        "zhixiaolv",
        "manyidu",
        "liangshuaiyidu",
        "liangshuaiyidu_web",
        "anquan10",
    ]
    for path in shipped_instrument_paths():
        instrument = load_instrument(path)
        assert instrument.version == 1
        assert re.fullmatch(r"[0-9a-f]{64}", instrument.content_hash)
        assert instrument.title and instrument.intro and instrument.outro
    assert check_files(shipped_instrument_paths()) == []


@pytest.mark.parametrize(
    "instrument_id", ["anquangan", "zhixiaolv", "manyidu", "liangshuaiyidu", "liangshuaiyidu_web"]
)
def test_common_parts(instruments: dict[str, Instrument], instrument_id: str) -> None:
    instrument = instruments[instrument_id]
    questions = instrument.screening.questions
    assert [q.item.id for q in questions] == ["s_age", "s_resident"]
    assert "18周岁" in questions[0].item.text
    assert "6个月" in questions[1].item.text
    for question in questions:
        assert question.action == "ask_other_adult"
        (yes,) = question.eligible
        assert question.item.option(yes) is not None
        assert question.item.option(yes).label == "是"  # type: ignore[union-attr]
    assert "其他" in instrument.screening.message("ask_other_adult")
    assert instrument.screening.message("end")
    assert [(lv.id, lv.level) for lv in instrument.unit.levels] == [
        ("street", "street"),
        ("community", "community"),
    ]
    variables = {d.variable: instrument.item(d.item) for d in instrument.demographics}
    assert list(variables) == ["sex", "age_group", "education", "occupation"]
    assert [o.label for o in variables["sex"].options] == ["男", "女"]
    assert [o.label for o in variables["age_group"].options] == [
        "18～29岁",
        "30～44岁",
        "45～59岁",
        "60岁及以上",
    ]
    assert variables["sex"].required and variables["age_group"].required
    assert not variables["education"].required and not variables["occupation"].required


def test_anquangan(instruments: dict[str, Instrument]) -> None:
    inst = instruments["anquangan"]
    item = inst.item("q_anquan")
    assert item.text == ANQUAN_TEXT
    substantive = [o for o in item.options if o.substantive]
    assert [o.label for o in substantive] == SAFETY_LABELS
    assert [o.score for o in substantive] == SCORES
    flags = {o.label: (o.dont_know, o.refused) for o in item.options if not o.substantive}
    assert flags == {"说不清": (True, False), "不愿回答": (False, True)}
    share = inst.index("anquangan")
    assert share.kind == "top_box_share" and share.primary
    assert share.positive == tuple(codes_for(inst, "q_anquan", ["很安全", "安全", "基本安全"]))
    assert share.dk_policy == "exclude" and share.unit_level == "station"
    mean = inst.index("anquangan_score")
    assert mean.kind == "mean_score" and mean.items == ("q_anquan",)


def test_zhixiaolv(instruments: dict[str, Instrument]) -> None:
    inst = instruments["zhixiaolv"]
    assert inst.item("q_zhixiao").text == ZHIXIAO_TEXT
    index = inst.index("zhixiaolv")
    assert index.kind == "top_box_share" and index.unit_level == "street"
    assert index.positive == tuple(codes_for(inst, "q_zhixiao", ["知道"]))


def test_manyidu_one_item_per_department(instruments: dict[str, Instrument]) -> None:
    inst = instruments["manyidu"]
    items = [it for it in inst.items if it.template == "q_manyi"]
    assert [it.text for it in items] == [f"您对{name}的执法工作满意吗？" for name in DEPARTMENTS]
    for item in items:
        substantive = [o for o in item.options if o.substantive]
        assert [o.label for o in substantive] == SATISFACTION_LABELS
        assert [o.score for o in substantive] == SCORES
        assert [o.label for o in item.options if o.dont_know] == ["不了解"]
    dept = inst.index("manyidu_bumen")
    assert dept.kind == "mean_score" and dept.pass_score == 85 and dept.dk_policy == "exclude"
    assert dept.unit_level == "department"
    assert dept.departments == tuple(it.department for it in items)
    composite = inst.index("manyidu")
    assert composite.kind == "composite" and composite.component == "manyidu_bumen"
    assert composite.primary and composite.unit_level == "district"


def test_liangshuaiyidu_combines_all_three(instruments: dict[str, Instrument]) -> None:
    inst = instruments["liangshuaiyidu"]
    assert inst.modes == ("phone",)
    assert inst.item("q_anquan").text == ANQUAN_TEXT
    assert inst.item("q_zhixiao").text == ZHIXIAO_TEXT
    assert {i.id for i in inst.primary_indices} == {"anquangan", "zhixiaolv", "manyidu"}
    alone = instruments["manyidu"]
    assert inst.index("manyidu_bumen").departments == alone.index("manyidu_bumen").departments


def test_with_departments_adds_traffic_police(instruments: dict[str, Instrument]) -> None:
    inst = instruments["manyidu"]
    registry = [("gongan", "公安机关"), ("jiaojing", "交警"), ("fayuan", "法院")]
    wave = inst.with_departments(registry)
    assert wave.item("q_manyi_jiaojing").text == "您对交警的执法工作满意吗？"
    assert wave.index("manyidu_bumen").departments == ("gongan", "jiaojing", "fayuan")
    assert wave.content_hash != inst.content_hash
    assert inst.index("manyidu_bumen").departments == ("gongan", "jianchayuan", "fayuan", "sifa")
    again = inst.with_departments(registry)
    assert again.content_hash == wave.content_hash


def test_content_hash_ignores_layout_but_not_content() -> None:
    path = shipped_instrument_paths()[0]
    text = path.read_text(encoding="utf-8")
    original = load_instrument_text(text, "a.toml")
    relaid = load_instrument_text("# 注释\n\n" + text.replace(" = ", "   =   "), "b.toml")
    assert relaid.content_hash == original.content_hash
    reworded = load_instrument_text(text.replace('label = "基本安全"', 'label = "比较安全"'), "c")
    assert reworded.content_hash != original.content_hash
    rescored = load_instrument_text(text.replace("score = 30", "score = 40"), "d")
    assert rescored.content_hash != original.content_hash
    bumped = load_instrument_text(text.replace("version = 1", "version = 2"), "e")
    assert bumped.content_hash != original.content_hash
    # The hash is a SHA-256 hex digest, not of the raw file bytes (layout must not matter).
    assert original.content_hash != hashlib.sha256(text.encode()).hexdigest()


def test_version_conflict() -> None:
    path = shipped_instrument_paths()[0]
    text = path.read_text(encoding="utf-8")
    old = load_instrument_text(text, "old")
    changed = load_instrument_text(text.replace("大约需要2分钟", "大约需要3分钟"), "new")
    message = version_conflict(old, changed)
    assert message is not None and "请提高 version" in message
    bumped = load_instrument_text(
        text.replace("大约需要2分钟", "大约需要3分钟").replace("version = 1", "version = 2"), "v2"
    )
    assert version_conflict(old, bumped) is None
    assert version_conflict(old, load_instrument_text(text, "same")) is None


def test_instruments_are_immutable(instruments: dict[str, Instrument]) -> None:
    inst = instruments["anquangan"]
    with pytest.raises(AttributeError):
        inst.version = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        inst.item("q_anquan").text = "改"  # type: ignore[misc]
