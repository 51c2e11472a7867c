"""The literature's claims about losses, checked on this folder's runs: each one holds, does not
hold (with the measured numbers that say why), or is not measured here.

Every claim compares a loss with `ce` on one device, seed by seed where seeds pair: a claim
holds when the paired difference points the claimed way with a two-sided paired t-test p below
``ALPHA`` (with one seed, by the sign alone, and the line says it is untested).
"""

from __future__ import annotations

import math

import pandas as pd

import losses
from bench.analysis import tables
from bench.reporting import calibration, paired
from bench.reporting.workload import Workload

ALPHA = 0.05
STRONG = 0.6  # the literature's claim is about symmetric noise from this rate up (0.6–0.8)
ROBUST = {"GCE": "gce", "SCE": "sce", "NCE+RCE": "nce+rce"}
ONE_SEED_ECE = 0.01  # with one seed, an ECE change at least this large counts as a change


def kind(spec: str) -> str | None:
    """What the claims call ``spec``: ce, gce, sce, nce+rce (a sum of nce and rce terms), mae
    (l1 on probabilities), focal, poly1, soft_label; None for any other loss."""
    try:
        loss = losses.parse(spec)
    except Exception:  # noqa: BLE001 — a loss not registered here is in no claim
        return None
    terms = getattr(loss, "terms", None)
    if terms:
        return "nce+rce" if {term.name for _, term in terms} == {"nce", "rce"} else None
    if loss.name == "l1":
        return "mae" if getattr(loss, "on", None) == "probs" else None
    return loss.name if loss.name in {"ce", "gce", "sce", "focal", "poly1", "soft_label"} else None


def section(w: Workload) -> str:
    """The claims, one line each, for this workload."""
    measured = calibration.measured(w)
    lines = [
        "### The literature's claims, measured",
        "",
        f"For {w.model} on {w.dataset}, each against `ce` on the same seeds (paired t-test; "
        f"with one seed the sign alone, untested):",
        "",
        "- " + robustness(w.final),
        "- " + underfitting(w.final, w.accuracy),
        "- " + calibration_change(measured[0] if measured else None),
        "- " + smoothing(w.final),
    ]
    return "\n".join(lines)


def robustness(final: pd.DataFrame) -> str:
    """GCE, SCE and NCE+RCE against CE: test accuracy (on the clean test labels) at each
    symmetric noise level of at least STRONG that the folder holds (else at its strongest,
    said so)."""
    claim = "**GCE, SCE and NCE+RCE are more robust than CE at symmetric noise 0.6–0.8**"
    mine = final[(final["trainer"] == "lossbench") & (final["status"] == "ok")]
    noisy = mine[mine["noise"].astype(str).str.startswith("sym:")]
    if noisy.empty:
        return f"{claim}: not measured here (no runs with symmetric label noise)."
    rates = {n: float(n.split(":", 1)[1]) for n in noisy["noise"].unique()}
    strong = sorted((n for n, r in rates.items() if r >= STRONG), key=rates.get)
    levels = strong or [max(rates, key=rates.get)]
    where = "" if strong else (f" (the strongest symmetric level here: none at {STRONG:g} or "
                               "above)")  # fmt: skip
    clean = mine[mine["noise"] == "none"]
    held, texts, missing = [], [], set()
    for level in levels:
        at = _one_device(mine[mine["noise"] == level])
        ce = _specs(at, "ce")
        if not ce:
            texts.append(f"at {level} no `ce` run to compare with")
            continue
        parts = []
        for name, wanted in ROBUST.items():
            specs = _specs(at, wanted)
            if not specs:
                missing.add(name)
            for spec in specs:
                r = _paired(at, spec, ce[0], "test_acc")
                ok = r["difference"] > 0 and _clear(r)
                held.append(ok)
                text = (f"{spec} {r['mean']:.4f} ({r['difference']:+.4f}{_p(r)}): "
                        + ("holds" if ok else "does not hold"))  # fmt: skip
                if not ok:
                    text += " — " + _why_not_robust(at, clean, spec, ce[0], level)
                parts.append(text)
        r = _paired(at, ce[0], ce[0], "test_acc")
        texts.append(f"at {level}, test accuracy (clean test labels) of ce {r['mean']:.4f}; "
                     + "; ".join(parts))  # fmt: skip
    if not held:
        return (f"{claim}: not measured here (no GCE, SCE or NCE+RCE run at "
                f"{', '.join(levels)}).")  # fmt: skip
    line = f"{claim}: **{_verdict(held)}**{where}: " + ". At ".join(
        [texts[0][:1].upper() + texts[0][1:], *[t[3:] for t in texts[1:]]]) + "."
    if missing:
        line += f" {', '.join(sorted(missing))}: not measured here."
    return line


def underfitting(final: pd.DataFrame, accuracy: pd.DataFrame) -> str:
    """MAE (l1 on probabilities) against CE: clean training and test accuracy."""
    claim = "**MAE underfits**"
    clean, ce, mae = _clean_against_ce(final, "mae")
    if not ce or not mae:
        return f"{claim}: not measured here (no clean {'`ce`' if not ce else 'MAE'} run)."
    train = _paired(clean, mae[0], ce[0], "train_acc")
    test = _paired(clean, mae[0], ce[0], "test_acc")
    ok = train["difference"] < 0 and _clear(train)
    line = (f"{claim} (MAE = `{mae[0]}`): **{'holds' if ok else 'does not hold'}**. Clean "
            f"training accuracy {train['mean']:.4f} against ce's {train['reference']:.4f} "
            f"({train['difference']:+.4f}{_p(train)}); test accuracy {test['mean']:.4f} against "
            f"{test['reference']:.4f} ({test['difference']:+.4f}{_p(test)}).")  # fmt: skip
    reasons = []
    active = _paired(clean, mae[0], ce[0], "active_frac")
    if not math.isnan(active["mean"]):
        reasons.append(f"at the end {active['mean']:.0%} of training examples still send a "
                       f"gradient (ce: {active['reference']:.0%})")  # fmt: skip
    mine = accuracy[accuracy["trainer"] == "lossbench"].drop_duplicates("loss")  # one per loss
    worst = mine.set_index("loss")["worst_class_acc"] if "worst_class_acc" in mine else {}
    if mae[0] in worst and ce[0] in worst and not math.isnan(worst[mae[0]]):
        reasons.append(f"its worst class's test recall is {worst[mae[0]]:.2f} (ce: "
                       f"{worst[ce[0]]:.2f})")  # fmt: skip
    if not ok and train["difference"] < 0:
        reasons.insert(0, "the training accuracy is lower but within the seed spread")
    if reasons:
        line += " Measured: " + "; ".join(reasons) + "."
    return line


def calibration_change(metrics: pd.DataFrame | None) -> str:
    """Focal and Poly-1 against CE: ECE before temperature scaling, from the calibration
    section's per-run metrics (loss, device, seed, scaling, ece, temperature)."""
    claim = "**Focal and Poly-1 change calibration**"
    if metrics is None or metrics.empty:
        return (f"{claim}: not measured here (the calibration section did not run: it needs "
                "the data and the saved weights).")  # fmt: skip
    before = _one_device(metrics[metrics["scaling"] == "before"])
    after = metrics[metrics["scaling"] == "after"]
    ce = _specs(before, "ce")
    if not ce:
        return f"{claim}: not measured here (no `ce` run was calibrated)."
    parts, held = [], []
    for wanted in ("focal", "poly1"):
        for spec in _specs(before, wanted):
            r = _paired(before, spec, ce[0], "ece")
            if r["seeds"] < 2:
                ok = abs(r["difference"]) >= ONE_SEED_ECE
            else:
                ok = _clear(r)
            held.append(ok)
            way = "lower" if r["difference"] < 0 else "higher"
            text = (f"{spec} ECE {r['mean']:.4f} against ce's {r['reference']:.4f} "
                    f"({r['difference']:+.4f}{_p(r)}): "
                    + (f"holds ({way})" if ok else "does not hold"))  # fmt: skip
            if not ok and r["seeds"] >= 2 and r["difference"] != 0:
                text += " — the difference is within the seed spread"
            if not ok:
                t = after.groupby("loss")["temperature"].mean()
                text += (f"; its fitted temperature is {t.get(spec, math.nan):.2f}, ce's "
                         f"{t.get(ce[0], math.nan):.2f}: the probabilities come out on the same "
                         "scale")  # fmt: skip
            parts.append(text)
    if not held:
        return f"{claim}: not measured here (no focal or Poly-1 run was calibrated)."
    return (f"{claim} (ECE before temperature scaling): **{_verdict(held)}**. "
            + "; ".join(parts) + ".")


def smoothing(final: pd.DataFrame) -> str:
    """Label smoothing (soft_label) against CE: clean test accuracy, paired, not Holm-corrected."""
    claim = "**Label smoothing hurts a linear model**"
    clean, ce, soft = _clean_against_ce(final, "soft_label")
    if not ce or not soft:
        return f"{claim}: not measured here (no clean {'`ce`' if not ce else 'soft_label'} run)."
    r = _paired(clean, soft[0], ce[0], "test_acc")
    ok = r["difference"] < 0 and _clear(r)
    ci = "" if math.isnan(r["ci95"]) else f", paired 95% CI ±{r['ci95']:.4f}"
    line = (f"{claim} (`{soft[0]}`): **{'holds' if ok else 'does not hold'}**. Clean test "
            f"accuracy {r['mean']:.4f} against ce's {r['reference']:.4f}: "
            f"{r['difference']:+.4f}{ci}{_p(r)}.")  # fmt: skip
    if not ok:
        train = _paired(clean, soft[0], ce[0], "train_acc")
        line += (f" Measured: its training accuracy is {train['mean']:.4f} against ce's "
                 f"{train['reference']:.4f}" + ("; the difference is within the seed spread"
                                                 if r["difference"] < 0 else "") + ".")
    return line


def _verdict(held: list[bool]) -> str:
    """The verdict of a claim made of several comparisons, from each one's."""
    return "holds" if all(held) else "does not hold" if not any(held) else "holds only in part"


def _clean_against_ce(final: pd.DataFrame, wanted: str):
    """(the clean finished runs on one device, the `ce` specs there, the ``wanted`` specs)."""
    clean = _one_device(tables.clean_runs(final))
    return clean, _specs(clean, "ce"), _specs(clean, wanted)


def _specs(frame: pd.DataFrame, wanted: str) -> list[str]:
    """The loss specs of ``frame`` that the claims call ``wanted``, in order of appearance."""
    return [spec for spec in dict.fromkeys(frame["loss"]) if kind(spec) == wanted]


def _one_device(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of one device: the CPU when it has runs, else the first named."""
    devices = sorted(set(frame["device"]))
    if len(devices) < 2:
        return frame
    return frame[frame["device"] == ("cpu" if "cpu" in devices else devices[0])]


def _paired(frame: pd.DataFrame, spec: str, reference: str, value: str) -> dict:
    """``spec`` against ``reference`` on ``value``: both means, the paired mean difference, its
    95% CI half-width, the paired t-test p and the number of seeds paired."""
    means = frame.groupby("loss")[value].mean() if value in frame else pd.Series(dtype=float)
    result = {"mean": means.get(spec, math.nan), "reference": means.get(reference, math.nan),
              "difference": means.get(spec, math.nan) - means.get(reference, math.nan),
              "ci95": math.nan, "p": math.nan, "seeds": 1}  # fmt: skip
    if spec == reference or value not in frame:
        return result
    table = paired.compare(frame[frame["loss"].isin([spec, reference])], reference, value=value)
    if not table.empty and table["seeds"].iloc[0] >= 2:
        row = table.iloc[0]
        result.update(difference=row["difference"], ci95=row["ci95"], p=row["p"],
                      seeds=int(row["seeds"]))  # fmt: skip
    return result


def _clear(r: dict) -> bool:
    """Whether a paired result is beyond the seed spread (one seed: taken at its sign)."""
    return r["seeds"] < 2 or (not math.isnan(r["p"]) and r["p"] < ALPHA)


def _p(r: dict) -> str:
    if r["seeds"] < 2:
        return ", one seed"
    p = "p < 0.001" if r["p"] < 0.001 else f"p = {r['p']:.2g}"
    return f", {p} over {r['seeds']} seeds"


def _why_not_robust(at: pd.DataFrame, clean: pd.DataFrame, spec: str, ce: str, level: str) -> str:
    """The measured numbers beside a robust loss that is not more robust than ce at ``level``."""
    clean = _one_device(clean)
    without = clean.groupby("loss")["test_acc"].mean()
    memorised = at.groupby("loss")["memorised"].mean()
    active = at.groupby("loss")["active_frac"].mean() if "active_frac" in at else pd.Series()
    reasons = []
    if spec in without and ce in without:
        trails = "already trails" if without[spec] < without[ce] else "matches or beats"
        reasons.append(f"without noise it {trails} ce ({without[spec]:.4f} against "
                       f"{without[ce]:.4f})")  # fmt: skip
    if not math.isnan(memorised.get(spec, math.nan)):
        reasons.append(f"at {level} it fits {memorised[spec]:.0%} of the flipped labels (ce: "
                       f"{memorised.get(ce, math.nan):.0%})")  # fmt: skip
    if not math.isnan(active.get(spec, math.nan)):
        reasons.append(f"{active[spec]:.0%} of training examples still send a gradient at the "
                       f"end (ce: {active.get(ce, math.nan):.0%})")  # fmt: skip
    return "; ".join(reasons) or "no other measurement of it at this level"
