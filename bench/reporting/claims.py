"""The literature's claims about losses, checked on one workload's runs, with three outcomes:
**holds**, **does not hold** (the opposite is shown), or **not shown at N seeds**; a claim whose
losses were not run here is **not measured here**, and one whose condition this workload does not
meet (strong symmetric noise, a long-tailed prior, a linear model) **does not apply**. A
non-significant difference never reads as "does not hold".

Every comparison pairs two losses seed by seed (same seed: same initial weights and batches):
the mean difference gets a two-sided Student-t interval at 1 − α/k, k the comparisons the
claim makes (Bonferroni). The claimed direction shown: the interval excludes 0 on that side; the
opposite shown: it excludes 0 on the other side. One seed, or no spread, shows nothing.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from bench.analysis import stats
from bench.reporting import calibration, prose
from bench.reporting.workload import Workload

ALPHA = 0.05
STRONG = 0.6  # the robustness claims are about symmetric noise from this rate up (0.6–0.8)
LONG_TAIL = 10.0  # a training prior max/min at least this (as the answer's rule)
HOLDS, OPPOSITE, NOT_SHOWN = "holds", "does not hold", "not shown"
NOT_MEASURED, NOT_APPLICABLE = "not measured here", "does not apply"


def kind(spec: str) -> str | None:
    """What the claims call ``spec``, read from its spec string (so a loss this process has not
    registered is still recognised): ce, gce, sce, mae (l1 on probabilities), focal, poly1,
    soft_label, nce+rce and nce+mae (the APL sums), anl (nce+nnce), agce, aul, ael, ldam, vs,
    logit_adjusted, logitnorm, mbls; None for any other loss."""
    terms = [t.split("*", 1)[-1] for t in str(spec).split("+")]
    names = [t.split(":", 1)[0] for t in terms]
    if len(terms) > 1:
        mae = [
            "mae" if n == "mae" or (n == "l1" and "on=probs" in t) else n
            for n, t in zip(names, terms, strict=True)
        ]
        return {("mae", "nce"): "nce+mae", ("nce", "rce"): "nce+rce", ("nce", "nnce"): "anl"}.get(
            tuple(sorted(mae))
        )
    name = names[0]
    if name == "l1":
        return "mae" if "on=probs" in terms[0] else None
    known = {
        "ce",
        "gce",
        "sce",
        "mae",
        "focal",
        "poly1",
        "soft_label",
        "agce",
        "aul",
        "ael",
        "ldam",
        "vs",
        "logit_adjusted",
        "logitnorm",
        "mbls",
    }
    return name if name in known else None


def compare(
    frame: pd.DataFrame, spec: str, reference: str, value: str, claimed: int, comparisons: int
) -> dict:
    """``spec`` against ``reference`` on ``value``, paired by seed, as the module says.

    ``claimed`` is +1 (the claim: spec's value is higher), −1 (lower) or 0 (different either
    way). Returns both means, the mean paired ``difference``, its ``lower``/``upper`` bounds,
    ``seeds`` paired and the ``outcome`` (HOLDS, OPPOSITE or NOT_SHOWN)."""
    wide = frame.pivot_table(index="seed", columns="loss", values=value)
    diff = (wide[spec] - wide[reference]).dropna()
    result = {
        "spec": spec,
        "reference": reference,
        "mean": wide[spec].mean(),
        "reference_mean": wide[reference].mean(),
        "difference": diff.mean(),
        "lower": math.nan,
        "upper": math.nan,
        "seeds": len(diff),
        "outcome": NOT_SHOWN,
    }
    if len(diff) < 2 or np.ptp(diff.to_numpy()) < stats.NO_SPREAD:
        return result
    interval = scipy_stats.ttest_1samp(diff, 0.0).confidence_interval(1 - ALPHA / comparisons)
    lower, upper = float(interval.low), float(interval.high)
    result.update(lower=lower, upper=upper)
    up, down = lower > 0, upper < 0
    if claimed == 0:
        result["outcome"] = HOLDS if up or down else NOT_SHOWN
    elif (claimed > 0 and up) or (claimed < 0 and down):
        result["outcome"] = HOLDS
    elif (claimed > 0 and down) or (claimed < 0 and up):
        result["outcome"] = OPPOSITE
    return result


def outcome(results: list[dict]) -> str:
    """A claim's outcome from its comparisons': every one holds → holds; every one the
    opposite → does not hold; none decided → not shown; else "holds in part"."""
    said = {r["outcome"] for r in results}
    if said == {HOLDS}:
        return HOLDS
    if said == {OPPOSITE}:
        return OPPOSITE
    if said == {NOT_SHOWN}:
        return NOT_SHOWN
    return "holds in part"


def claim(
    title: str,
    frame: pd.DataFrame | None,
    ours: tuple,
    theirs: tuple,
    value: str,
    claimed: int,
    where: str = "",
    needs: str = "",
) -> dict:
    """One claim's facts: every run spec of a kind in ``ours`` against every one in ``theirs``
    on ``frame`` (the runs of one device and noise level). ``frame`` None: the workload does
    not meet the claim's condition, which ``needs`` names (NOT_APPLICABLE); empty, or without
    the losses: NOT_MEASURED."""
    facts = {
        "title": title,
        "where": where,
        "value": value,
        "comparisons": [],
        "outcome": NOT_APPLICABLE if frame is None else NOT_MEASURED,
        "needs": needs,
        "missing": [],
    }
    if frame is None or frame.empty or value not in frame:
        return facts
    specs = list(dict.fromkeys(frame["loss"]))
    mine = [s for s in specs if kind(s) in ours]
    others = [s for s in specs if kind(s) in theirs]
    facts["missing"] = sorted({k for k in (*ours, *theirs)} - {kind(s) for s in specs})
    pairs = [(s, r) for s in mine for r in others if s != r]
    if not pairs:
        return facts
    facts["comparisons"] = [compare(frame, s, r, value, claimed, len(pairs)) for s, r in pairs]
    facts["outcome"] = outcome(facts["comparisons"])
    facts["seeds"] = max(r["seeds"] for r in facts["comparisons"])
    return facts


def section(w: Workload) -> str:
    """The claims of this workload, one line each."""
    return prose.render("claims", claims=facts(w), model=w.model, dataset=w.dataset, alpha=ALPHA)


def facts(w: Workload) -> list[dict]:
    """Every claim's facts for ``w`` (see :func:`claim`)."""
    mine = w.final[(w.final["trainer"] == "lossbench") & (w.final["status"] == "ok")]
    mine = _one_device(mine)
    clean = mine[mine["noise"] == "none"]
    strong = _strongest(mine)
    level = strong["noise"].iloc[0] if len(strong) else ""
    strong = strong if len(strong) else None  # no symmetric noise of STRONG or more: n/a
    measured = calibration.measured(w)
    ece = pd.DataFrame()  # no saved weights: not measured
    if measured is not None:
        metrics = measured[0]
        ece = _one_device(metrics[metrics["scaling"] == "before"])
    tail = _prior_ratio(w) >= LONG_TAIL
    tailed = clean if tail else None
    return [
        claim(
            "GCE, SCE and NCE+RCE are more robust than CE at symmetric noise 0.6–0.8",
            strong,
            ("gce", "sce", "nce+rce"),
            ("ce",),
            "test_acc",
            +1,
            level,
            f"symmetric noise of {STRONG:g} or more",
        ),
        claim(
            "ANL and the asymmetric losses beat the APL sums at high symmetric noise",
            strong,
            ("anl", "agce", "aul", "ael"),
            ("nce+rce", "nce+mae"),
            "test_acc",
            +1,
            level,
            f"symmetric noise of {STRONG:g} or more",
        ),
        claim(
            "MAE underfits (lower clean training accuracy than CE)",
            clean,
            ("mae",),
            ("ce",),
            "train_acc",
            -1,
            "clean",
        ),
        claim(
            "Label smoothing hurts a linear model",
            clean if w.model == "linear" else None,
            ("soft_label",),
            ("ce",),
            "test_acc",
            -1,
            "clean",
            "a linear model",
        ),
        claim(
            "Focal and Poly-1 change calibration (ECE before temperature scaling)",
            ece,
            ("focal", "poly1"),
            ("ce",),
            "ece",
            0,
            "clean",
        ),
        claim(
            "LogitNorm and MbLS lower ECE against CE (before temperature scaling)",
            ece,
            ("logitnorm", "mbls"),
            ("ce",),
            "ece",
            -1,
            "clean",
        ),
        claim(
            "LDAM and VS beat logit adjustment on the long tail (balanced accuracy)",
            tailed,
            ("ldam", "vs"),
            ("logit_adjusted",),
            "balanced_acc",
            +1,
            "clean",
            f"a long-tailed training prior, its largest class ≥ {LONG_TAIL:g}× the smallest",
        ),
    ]


def _strongest(mine: pd.DataFrame) -> pd.DataFrame:
    """The runs at the strongest symmetric noise of at least STRONG; empty without one."""
    noisy = mine[mine["noise"].astype(str).str.startswith("sym:")]
    rates = {n: float(n.split(":", 1)[1]) for n in noisy["noise"].unique()}
    strong = [n for n, r in rates.items() if r >= STRONG]
    return noisy[noisy["noise"] == max(strong, key=rates.get)] if strong else noisy.iloc[:0]


def _prior_ratio(w) -> float:
    if w.data is None:
        return math.nan
    prior = w.data.prior
    return float(prior.max() / prior.min())


def _one_device(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of one device: the CPU when it has runs, else the first named."""
    devices = sorted(set(frame["device"]))
    if len(devices) < 2:
        return frame
    return frame[frame["device"] == ("cpu" if "cpu" in devices else devices[0])]
