"""Calibration metrics and temperature scaling, against hand-computable cases."""

import math

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
