"""The combined 两率一度 questionnaire in two wordings: telephone (``liangshuaiyidu``) and web
self-completion (``liangshuaiyidu_web``). Same items, codes, scores and index definitions, so
the answers pool into one index; none of the telephone script on the web."""

from __future__ import annotations

import dataclasses

from questionnaires import default_instruments
from questionnaires.model import Option
from questionnaires.scoring import index_signature, pooling_conflicts


def _texts(instrument: object) -> str:
    return repr(instrument)  # every text of the frozen model, wording included


def test_the_two_wordings_define_every_index_identically() -> None:
    instruments = default_instruments()
    phone, web = instruments["liangshuaiyidu"], instruments["liangshuaiyidu_web"]
    assert phone.modes == ("phone",) and web.modes == ("web",)
    assert [i.id for i in web.indices] == [i.id for i in phone.indices]
    for index in phone.indices:
        assert index_signature(web, index.id) == index_signature(phone, index.id), index.id
    assert pooling_conflicts(web, phone) == []
    assert [i.id for i in web.items] == [i.id for i in phone.items]
    assert web.content_hash != phone.content_hash  # the wording differs


def test_the_web_wording_has_no_telephone_script() -> None:
    web = default_instruments()["liangshuaiyidu_web"]
    phone = default_instruments()["liangshuaiyidu"]
    for fragment in ("我是区委政法委委托的调查员", "请他（她）来接电话", "读出前五项"):
        assert fragment in _texts(phone)
        assert fragment not in _texts(web), fragment
    assert "访员" not in _texts(web)


def test_a_changed_score_is_a_pooling_conflict() -> None:
    instruments = default_instruments()
    phone = instruments["liangshuaiyidu"]
    item = phone.item("q_anquan")
    rescored = tuple(dataclasses.replace(o, score=90.0) if o.code == 2 else o for o in item.options)
    assert all(isinstance(o, Option) for o in rescored)
    changed_item = dataclasses.replace(item, options=rescored)
    pages = tuple(
        dataclasses.replace(
            p, items=tuple(changed_item if i.id == "q_anquan" else i for i in p.items)
        )
        for p in phone.pages
    )
    changed = dataclasses.replace(phone, pages=pages)
    # 安全感 share (positive codes) is unchanged; its mean score is not
    assert pooling_conflicts(changed, phone) == ["anquangan_score"]
