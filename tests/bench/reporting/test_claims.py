"""The literature's claims (holds / does not hold / not shown), the paired comparisons, family
order and the noise figure's data, on small hand-made frames (no training)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bench.analysis import tables
from bench.reporting import claims, families, noise, paired
from bench.reporting.markdown import labelled

SEEDS = (0, 1, 2, 3, 4)


def final_rows(spec: dict, noise_level="none"):
    """Final rows, one per (loss, seed): ``spec`` maps a loss to its per-seed test accuracies
    (or a dict of columns, each a per-seed list or one value)."""
    rows = []
    for loss, values in spec.items():
        columns = values if isinstance(values, dict) else {"test_acc": values}
        for i, seed in enumerate(SEEDS):
            row = {
                "trainer": "lossbench",
                "dataset": "fashion_mnist",
                "model": "linear",
                "loss": loss,
                "device": "cpu",
                "seed": seed,
                "noise": noise_level,
                "status": "ok",
                "epoch": 3,
                "lr": 0.3,
                "train_loss": 0.4,
                "train_acc": 0.9,
                "memorised": np.nan,
                "active_frac": 0.9,
            }
            for name, value in columns.items():
                row[name] = value[i] if isinstance(value, list | tuple) else value
            rows.append(row)
    return pd.DataFrame(rows)


def around(mean, spread=0.001):
    return [mean + spread * d for d in (-2, -1, 0, 1, 2)]


# -- paired comparisons -------------------------------------------------------------------------


def holm_case():
    """ce best; 'l2:on=probs' far below (tiny p); 'focal:gamma=2' a little below with raw
    p < 0.05 that Holm lifts over 0.05; 'gce:q=0.7' at ce's level."""
    ce = [0.80, 0.81, 0.82, 0.83, 0.84]
    return final_rows(
        {
            "ce": ce,
            "l2:on=probs": [a - 0.05 + 0.0001 * i for i, a in enumerate(ce)],
            "focal:gamma=2": np.subtract(ce, (0.002, 0.010, 0.001, 0.006, 0.004)).tolist(),
            "gce:q=0.7": np.add(ce, (0.001, -0.001, 0.0005, -0.0005, 0.0)).tolist(),
        }
    )


def test_paired_comparisons_are_decided_by_the_holm_adjusted_p():
    table = paired.compare(holm_case(), reference="ce").set_index("loss")
    assert {"p", "p_holm", "beyond"} <= set(table.columns)
    focal = table.loc["focal:gamma=2"]
    assert focal["p"] < 0.05 and focal["clear"]  # uncorrected, it would look beyond the spread
    assert focal["p_holm"] >= 0.05 and focal["beyond"] is False
    assert table.loc["l2:on=probs", "beyond"] is True
    assert table.loc["gce:q=0.7", "beyond"] is False
    assert focal["p_holm"] == pytest.approx(min(1, 2 * focal["p"]))  # second smallest of three


def test_paired_section_gives_verdicts_at_the_margin_grouped_by_family():
    final = holm_case()
    w = SimpleNamespace(final=final, accuracy=labelled(tables.accuracy(final)))
    text = paired.section(w)
    assert "test acc − ce" in text and "not declared best" not in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")][1:]
    assert [r[1] for r in rows] == ["textbook", "ce-variant", "noise-robust"]
    verdict = {r[0].lstrip("| "): r[-1].rstrip(" |") for r in rows}
    # l2 is 5 points below on every seed (spread 0.0004): worse; focal −0.46 points, sd 0.0038:
    # its MCB interval reaches past −δ (undecided); gce 0 ± 0.0008: inside (ce declared best)
    assert verdict == {
        "l2:on=probs": "worse",
        "focal:gamma=2": "undecided",
        "gce:q=0.7": "equivalent",
    }


def test_paired_section_without_a_declared_best_compares_with_the_top_mean():
    # gce tops ce by 0.06 points on average with a 1.7-point seed sd: MCB declares no best
    ce = [0.80, 0.81, 0.82, 0.83, 0.84]
    final = final_rows(
        {"ce": ce, "gce:q=0.7": np.add(ce, (0.02, -0.02, 0.015, -0.015, 0.003)).tolist()}
    )
    w = SimpleNamespace(final=final, accuracy=labelled(tables.accuracy(final)))
    text = paired.section(w)
    assert "test acc − gce:q=0.7" in text  # the top mean is the reference column
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")][1:]
    assert [(r[0].lstrip("| "), r[-1].rstrip(" |")) for r in rows] == [("ce", "undecided")]
    assert "not declared best" in text


def test_family_order_then_accuracy_within_a_family():
    table = pd.DataFrame(
        {
            "loss": ["sparsemax", "gce:q=0.7", "l1:on=probs", "ce", "sce", "mine"],
            "test_acc": [0.9, 0.7, 0.5, 0.8, 0.75, 0.99],
        }
    )
    ordered = families.ordered(table)
    assert ordered["loss"].tolist() == [
        "ce",
        "l1:on=probs",
        "sce",
        "gce:q=0.7",
        "sparsemax",
        "mine",
    ]
    assert ordered.columns.tolist() == ["loss", "family", "test_acc"]
    assert ordered["family"].iloc[-1] == "user"  # not registered here


# -- the noise figure's data --------------------------------------------------------------------


def test_noise_figure_data_has_a_numeric_rate_and_pairs_apart():
    final = pd.concat(
        [
            final_rows({"ce": around(0.8), "gce:q=0.7": around(0.79)}, level)
            for level in ("none", "sym:0.2", "sym:0.8", "pairs:0.4")
        ]
    )
    table = tables.noise(final)
    sym = noise.rates(table, "sym")
    assert pd.api.types.is_float_dtype(sym["rate"])
    assert sorted(set(sym["rate"])) == [0.0, 0.2, 0.8]
    assert "pairs:0.4" not in set(sym["noise"])
    pairs = noise.rates(table, "pairs")
    assert sorted(set(pairs["rate"])) == [0.0, 0.4] and set(pairs["noise"]) == {"none", "pairs:0.4"}


# -- the claims ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("ce", "ce"),
        ("l1:on=probs", "mae"),
        ("l1:on=scores", None),
        ("1*nce+100*rce:a=-4", "nce+rce"),
        ("1*nce+50*l1:on=probs", "nce+mae"),
        ("1*nce+1*nnce", "anl"),
        ("agce", "agce"),
        ("aul:a=1.5", "aul"),
        ("ael", "ael"),
        ("ldam", "ldam"),
        ("vs:gamma=0.2", "vs"),
        ("logit_adjusted:tau=1", "logit_adjusted"),
        ("logitnorm", "logitnorm"),
        ("mbls", "mbls"),
        ("dual_focal", None),
        ("sparsemax", None),
    ],
)
def test_kind_reads_the_spec_string_even_for_unregistered_losses(spec, kind):
    assert claims.kind(spec) == kind


def paired_frame(differences, value="test_acc"):
    """ce at 0.80 + 0.01·seed; "x" at ce + the given per-seed differences."""
    ce = [0.80 + 0.01 * s for s in range(len(differences))]
    rows = [
        {"loss": loss, "seed": s, value: v}
        for loss, values in (("ce", ce), ("x", np.add(ce, differences)))
        for s, v in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_claim_outcomes_holds_does_not_hold_and_not_shown():
    # +2 points ± 0.1 over 5 seeds: shown above 0 (claimed higher: holds)
    up = paired_frame([0.019, 0.021, 0.020, 0.019, 0.021])
    assert claims.compare(up, "x", "ce", "test_acc", +1, 1)["outcome"] == claims.HOLDS
    # the same claimed lower: the opposite is shown
    assert claims.compare(up, "x", "ce", "test_acc", -1, 1)["outcome"] == claims.OPPOSITE
    # two seeds of differences 0.01 and 0.03: interval t(0.975, 1)·0.01 = ±0.127 around 0.02
    wide = claims.compare(paired_frame([0.01, 0.03]), "x", "ce", "test_acc", +1, 1)
    assert wide["outcome"] == claims.NOT_SHOWN and wide["seeds"] == 2
    assert wide["lower"] == pytest.approx(0.02 - 12.7062047 * 0.01 / 1, rel=1e-6)
    # no spread (the same difference on each seed): nothing is shown, never p = 0
    flat = claims.compare(paired_frame([0.02, 0.02, 0.02]), "x", "ce", "test_acc", +1, 1)
    assert flat["outcome"] == claims.NOT_SHOWN and np.isnan(flat["lower"])


def test_a_claim_outcome_from_its_comparisons():
    def said(*outcomes):
        return claims.outcome([{"outcome": o} for o in outcomes])

    assert said(claims.HOLDS, claims.HOLDS) == "holds"
    assert said(claims.OPPOSITE) == "does not hold"
    assert said(claims.NOT_SHOWN, claims.NOT_SHOWN) == "not shown"
    assert said(claims.HOLDS, claims.NOT_SHOWN) == "holds in part"


JITTER = (0.0, 0.001, 0.0, 0.002, 0.001)  # so the paired differences have a spread


def noisy_study(robust_acc, spread=0.001):
    """sym:0.8 runs of ce (0.5) and gce, sce, nce+rce (``robust_acc`` + JITTER), five seeds."""
    return final_rows(
        {
            "ce": around(0.5, spread),
            **{
                spec: np.add(around(robust_acc, spread), JITTER).tolist()
                for spec in ("gce:q=0.7", "sce:alpha=0.1:beta=1:a=-4", "1*nce+100*rce:a=-4")
            },
        },
        "sym:0.8",
    )


def test_robustness_claim_each_outcome():
    args = (("gce", "sce", "nce+rce"), ("ce",), "test_acc", +1)
    held = claims.claim("robust", noisy_study(0.7), *args)
    assert held["outcome"] == "holds" and len(held["comparisons"]) == 3
    assert held["comparisons"][0]["difference"] == pytest.approx(0.2 + np.mean(JITTER))
    # the robust losses 10 points below ce on every seed (with spread): the opposite shown
    assert claims.claim("robust", noisy_study(0.4), *args)["outcome"] == "does not hold"
    # two seeds, differences 0.003 and 0.004: the interval at 1 − 0.05/3 spans 0, not shown
    two = noisy_study(0.503)
    assert claims.claim("robust", two[two["seed"] < 2], *args)["outcome"] == "not shown"


def test_claims_of_losses_not_run_are_not_measured_here():
    zoo = claims.claim(
        "anl",
        noisy_study(0.7),
        ("anl", "agce", "aul", "ael"),
        ("nce+rce", "nce+mae"),
        "test_acc",
        +1,
    )
    assert zoo["outcome"] == "not measured here" and zoo["comparisons"] == []
    empty = claims.claim("tail", pd.DataFrame(), ("ldam", "vs"), ("logit_adjusted",), "x", +1)
    assert empty["outcome"] == "not measured here"


def test_a_claim_whose_condition_the_workload_does_not_meet_does_not_apply():
    tail = claims.claim(
        "tail", None, ("ldam", "vs"), ("logit_adjusted",), "balanced_acc", +1, needs="a long tail"
    )
    assert tail["outcome"] == "does not apply" and tail["needs"] == "a long tail"
    assert tail["comparisons"] == []
