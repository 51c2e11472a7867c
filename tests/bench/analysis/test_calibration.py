"""Calibration metrics and temperature scaling, against hand-computable cases."""

import math

import pandas as pd
import pytest
import torch

from bench.analysis import calibration


def test_metrics_of_a_hand_computed_case():
    # two examples, two classes: p = softmax([log 3, 0]) = [0.75, 0.25] for both
    scores = torch.tensor([[math.log(3), 0.0], [math.log(3), 0.0]])
    labels = torch.tensor([0, 1])
    m = calibration.metrics(scores, labels, bins=15)
    assert m["nll"] == pytest.approx((-math.log(0.75) - math.log(0.25)) / 2)
    assert m["brier"] == pytest.approx(((0.25**2 + 0.25**2) + (0.75**2 + 0.75**2)) / 2)
    # one bin holds both: confidence 0.75, accuracy 0.5
    assert m["ece"] == pytest.approx(0.25) and m["mce"] == pytest.approx(0.25)


def test_perfectly_calibrated_samples_have_small_ece():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(20000, 10, generator=g) * 2
    labels = torch.multinomial(torch.softmax(scores, 1), 1, generator=g).squeeze(1)
    assert calibration.metrics(scores, labels)["ece"] < 0.02


def test_temperature_scaling_recovers_the_true_temperature_and_lowers_nll():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(20000, 10, generator=g) * 2
    labels = torch.multinomial(torch.softmax(logits, 1), 1, generator=g).squeeze(1)
    overconfident = logits * 4
    t = calibration.fit_temperature(overconfident, labels)
    assert t == pytest.approx(4.0, rel=0.05)
    before = calibration.metrics(overconfident, labels)
    after = calibration.metrics(overconfident, labels, temperature=t)
    assert after["nll"] < before["nll"] and after["ece"] < before["ece"]


def test_reliability_bins_cover_every_example():
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(1000, 10, generator=g)
    labels = torch.randint(0, 10, (1000,), generator=g)
    rows = calibration.reliability(scores, labels)
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    assert all(0 <= r["accuracy"] <= 1 and 0 <= r["confidence"] <= 1 for r in rows)


def test_metrics_take_one_temperature_per_example():
    # both rows' scores [2 log 3, 0] at T = 2 give p = [0.75, 0.25]: the hand case above
    scores = torch.tensor([[math.log(3), 0.0], [2 * math.log(3), 0.0]])
    labels = torch.tensor([0, 1])
    m = calibration.metrics(scores, labels, temperature=torch.tensor([1.0, 2.0]))
    assert m["ece"] == pytest.approx(0.25) and m["temperature"] == pytest.approx(math.sqrt(2))
    rows = calibration.reliability(scores, labels, temperature=torch.tensor([1.0, 2.0]))
    assert [r["share"] for r in rows] == [1.0] and rows[0]["confidence"] == pytest.approx(0.75)


def test_folds_halve_each_class_and_are_seeded():
    labels = torch.tensor([0] * 7 + [1] * 4 + [2] * 3)
    fold = calibration.folds(labels, 2, seed=5)
    assert torch.equal(fold, calibration.folds(labels, 2, seed=5))
    assert not torch.equal(fold, calibration.folds(labels, 2, seed=6))
    per_class = [torch.bincount(fold[labels == c], minlength=2).tolist() for c in range(3)]
    assert (
        sorted(per_class[0]) == [3, 4] and per_class[1] == [2, 2] and sorted(per_class[2]) == [1, 2]
    )
    assert sorted(torch.bincount(fold).tolist()) == [7, 7]


def test_folds_need_an_example_per_fold():
    with pytest.raises(ValueError, match="cannot be cut into 2 folds"):
        calibration.folds(torch.tensor([3]), 2)
    with pytest.raises(ValueError, match="integer >= 2"):
        calibration.folds(torch.tensor([0, 1]), 1)


def test_cross_fitted_temperature_of_each_half_comes_from_the_other():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4000, 5, generator=g)
    labels = torch.multinomial(torch.softmax(logits, 1), 1, generator=g).squeeze(1)
    scores = logits * 3
    fold = calibration.folds(labels)
    t = calibration.cross_fit(scores, labels)
    for f in (0, 1):
        other = calibration.fit_temperature(scores[fold != f], labels[fold != f])
        assert torch.all(t[fold == f] == other)
    assert t[fold == 0][0] != t[fold == 1][0] and t.unique().tolist() == pytest.approx(
        [3, 3], rel=0.1
    )


def test_bootstrap_interval_of_a_mean_ece_stays_inside_the_values():
    # the case: one seed far above the others; a t interval reaches below zero
    values = [0.001, 0.002, 0.58]
    mean, lower, upper = calibration.bootstrap_mean(values)
    assert mean == pytest.approx(0.583 / 3)
    assert 0.001 <= lower < mean < upper <= 0.58
    assert calibration.bootstrap_mean(values) == (mean, lower, upper)  # seeded
    one = calibration.bootstrap_mean([0.3])
    assert one[0] == 0.3 and math.isnan(one[1]) and math.isnan(one[2])


def ece_runs(eces: dict[str, list[float]], failed=()):
    rows = [
        {
            "dataset": "digits",
            "model": "linear",
            "noise": "none",
            "loss": loss,
            "seed": s,
            "ece": e,
            "failed": (loss, s) in failed,
        }
        for loss, values in eces.items()
        for s, e in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_ece_verdicts_use_a_margin_of_one_ece_point():
    wobble = [0.0002 * (s % 3 - 1) for s in range(10)]  # the same per seed: paired exactly
    noise = [0.0003 * ((s * 7) % 5 - 2) for s in range(10)]  # a loss's own seed-to-seed part
    runs = ece_runs(
        {
            "a": [0.010 + w for w in wobble],
            "b": [0.012 + w + n for w, n in zip(wobble, noise, strict=True)],
            # 1.5 points above a: worse at one ECE point, "equivalent" at digits' accuracy δ
            "c": [0.025 + w + n for w, n in zip(wobble, noise, strict=True)],
        }
    )
    table = calibration.ece_verdicts(runs).set_index("loss")
    assert calibration.ECE_MARGIN == 0.01 and (table["margin"] == 0.01).all()
    assert table.loc["a", "verdict"] == "best"
    assert table.loc["b", "verdict"] == "equivalent"
    assert table.loc["c", "verdict"] == "worse"
    assert table.loc["c", "diff"] == pytest.approx(-0.015)  # ECE(best) − ECE(c): less calibrated
    assert table.loc["a", "ece"] == pytest.approx(0.010 - 0.0002 / 10)  # wobble sums to −1 step
    assert table["score"].tolist() == pytest.approx((-table["ece"]).tolist())
    assert (table["ece_lower"] <= table["ece"]).all() and (table["ece"] <= table["ece_upper"]).all()
    assert (table["ece_lower"] >= 0).all() and (table["ece_upper"] <= 1).all()


def test_a_failed_run_is_counted_not_averaged_into_the_ece():
    runs = ece_runs(
        {"a": [0.02, 0.021, 0.019, 0.02], "b": [0.03, 0.031, float("nan"), 0.029]},
        failed={("b", 2)},
    )
    table = calibration.ece_verdicts(runs).set_index("loss")
    assert table.loc["b", "diverged"] == 1 and table.loc["b", "ece"] == pytest.approx(0.03)
    assert table.loc["b", "verdict"] not in ("best", "equivalent")


def test_ece_verdicts_refuse_percentages_and_missing_columns():
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        calibration.ece_verdicts(ece_runs({"a": [2.0, 3.0]}))
    with pytest.raises(ValueError, match="lack column"):
        calibration.ece_verdicts(ece_runs({"a": [0.1, 0.2]}).drop(columns="ece"))
