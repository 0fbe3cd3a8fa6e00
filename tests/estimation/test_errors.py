"""Bad input to the core raises EstimationError with a message naming what is wrong."""

from __future__ import annotations

import re

import numpy as np
import pytest

from survey import estimation as est


def simple(n: int = 8) -> est.Design:
    return est.Design.from_arrays(np.full(n, 10.0), strata=np.repeat([0, 1], n // 2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": [1.0, 0.0, 2.0]}, "权重必须为正数（第 2 行"),
        ({"weights": [1.0, np.nan, 2.0]}, "权重含缺失"),
        ({"weights": []}, "没有任何样本行"),
        ({"weights": [1.0, 1.0], "strata": [0]}, "strata 长度 1"),
        (
            {"weights": [1.0] * 4, "strata": ["a", "a", "b", "b"], "fpc": [10, 12, 10, 10]},
            "层「a」内的 fpc 取值不一致",
        ),
        (
            {"weights": [1.0] * 4, "strata": ["a", "a", "b", "b"], "fpc": [10, 10, 1.5, 1.5]},
            "层「b」的总体数 fpc=1.5 小于样本 PSU 数 2",
        ),
        ({"weights": [1.0] * 3, "strata": ["a", "a", "b"]}, "层「b」只有 1 个 PSU"),
        ({"weights": [1.0] * 4, "psu": [1, 1, 2, 2], "strata": [0, 0, 1, 1]}, "只有 1 个 PSU"),
        ({"weights": [1.0] * 4, "lonely_psu": "remove"}, "lonely_psu 必须是"),
        ({"weights": [1.0] * 4, "strata": [0.0, np.nan, 1.0, 1.0]}, "strata 第 2 行缺失"),
        ({"weights": [1.0] * 4, "psu": [0.0, 1.0, 2.0, np.nan]}, "psu 第 4 行缺失"),
    ],
)
def test_design_errors(kwargs: dict, message: str) -> None:
    weights = kwargs.pop("weights")
    with pytest.raises(est.EstimationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        est.Design.from_arrays(weights, **kwargs)


def test_fraction_fpc_and_lonely_options() -> None:
    d = est.Design.from_arrays([1.0] * 4, strata=[0, 0, 1, 1], fpc=[0.5, 0.5, 0.1, 0.1])
    assert list(d.sampling_fraction) == [0.5, 0.1]
    lonely = est.Design.from_arrays([1.0] * 3, strata=["a", "a", "b"], lonely_psu="certainty")
    assert lonely.stratum_scale[1] == 0.0


def test_estimator_errors() -> None:
    d = simple()
    with pytest.raises(est.EstimationError, match="y 长度 3"):
        est.mean(d, [1.0, 2.0, 3.0])
    with pytest.raises(est.EstimationError, match="groups 必须是整数"):
        est.mean_by(d, np.ones(8), np.ones(8))
    with pytest.raises(est.EstimationError, match="比例的变量必须是 0/1（第 1 行为 2"):
        est.proportion(d, np.full(8, 2.0))
    with pytest.raises(est.EstimationError, match="均值的置信区间方法只能是 normal/t"):
        est.mean(d, np.ones(8), ci="logit")  # type: ignore[arg-type]
    with pytest.raises(est.EstimationError, match="置信水平"):
        est.mean(d, np.ones(8), level=1.5)
    with pytest.raises(est.EstimationError, match="domain 必须是"):
        est.mean(d, np.ones(8), domain=np.ones(8))
    empty = est.mean_by(d, np.ones(8), np.array([0] * 8), n_groups=2)
    assert empty.n[1] == 0 and np.isnan(empty.estimate[1]) and empty[1].df is None


def sample_for_raking() -> tuple[est.Design, np.ndarray, np.ndarray]:
    sex = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    age = np.array([0, 1, 2, 0, 1, 2, 1, 0])
    return est.Design.from_arrays(np.full(8, 10.0)), sex, age


def test_raking_errors_name_the_margin() -> None:
    d, sex, age = sample_for_raking()
    good_sex = est.Margin(sex, [50.0, 50.0], "性别")
    with pytest.raises(
        est.EstimationError, match="边际「年龄」: 第 3 格在总体中有 5 人但样本中没有人"
    ):
        est.rake(d, [good_sex, est.Margin(age, [40.0, 30.0, 25.0, 5.0], "年龄")])
    with pytest.raises(
        est.EstimationError, match="边际「年龄」: 第 2 格在样本中有 2 人但总体数为 0"
    ):
        est.rake(d, [good_sex, est.Margin(age, [50.0, 50.0, 0.0], "年龄")])
    with pytest.raises(
        est.EstimationError, match="边际「年龄」: 第 1 行的格代码 5 不在总体边际表中（共 3 格）"
    ):
        est.rake(d, [good_sex, est.Margin(age + 5, [40.0, 30.0, 30.0], "年龄")])
    with pytest.raises(
        est.EstimationError, match="边际「年龄」: 总体合计 120 与边际「性别」的合计 100 不一致"
    ):
        est.rake(d, [good_sex, est.Margin(age, [40.0, 40.0, 40.0], "年龄")])
    with pytest.raises(est.EstimationError, match="格代码必须是整数"):
        est.rake(d, [est.Margin(sex.astype(float), [50.0, 50.0], "性别")])
    with pytest.raises(est.EstimationError, match="至少需要一个边际"):
        est.rake(d, [])


def test_raking_that_cannot_converge_says_which_margin() -> None:
    # every sampled man is young and every woman old: sex and age are one variable in the
    # sample, so margins giving them different splits cannot both hold
    d = est.Design.from_arrays(np.full(6, 10.0))
    sex = np.array([0, 0, 0, 1, 1, 1])
    age = sex.copy()
    with pytest.raises(est.EstimationError, match="未收敛：边际「性别」的最大相对误差"):
        est.rake(
            d,
            [est.Margin(sex, [60.0, 40.0], "性别"), est.Margin(age, [40.0, 60.0], "年龄")],
            max_iter=50,
        )


def test_cross_cells() -> None:
    assert list(est.cross_cells([0, 1, 2], [1, 0, 1], sizes=(3, 2))) == [1, 2, 5]
    with pytest.raises(est.EstimationError, match=re.escape("第 2 个分类的代码超出 0..1")):
        est.cross_cells([0], [2], sizes=(3, 2))


def test_designs_and_results_are_immutable() -> None:
    import dataclasses

    d = simple()
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.weights = np.ones(8)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        d.weights[0] = 1.0
    r = est.mean_by(d, np.arange(8.0), np.array([0, 1] * 4))
    with pytest.raises(ValueError, match="read-only"):
        r.se[0] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        r[0].estimate = 1.0  # type: ignore[misc]
    raked = est.rake(d, [est.Margin(np.array([0, 1] * 4), [60.0, 40.0])])
    assert raked.design is not d and np.all(d.weights == 10.0)  # calibration returns a new design
    assert len(raked.design.calibrations) == 1 and d.calibrations == ()
