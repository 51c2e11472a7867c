"""Reading the results: the best and worst loss, the spread, the fastest and slowest step, the
losses tied with the best, robustness to label noise and the unstable losses, in a few lines."""

from __future__ import annotations

from bench.analysis import tables
from bench.reporting import claims, paired
from bench.reporting.markdown import accuracy as acc
from bench.reporting.workload import Workload
from bench.training.config import TRAINER

UNSTABLE = 3  # a loss whose seed sd exceeds this many times the median sd is called out


def section(w: Workload) -> str:
    mine = w.accuracy[w.accuracy["trainer"] == TRAINER].dropna(subset=["test_acc"])
    if mine.empty:
        return ""
    best, worst = mine.iloc[0], mine.iloc[-1]
    lines = [
        "## Reading the results",
        "",
        f"- Best: **{best['loss']}** on {best['device']}, test accuracy "
        f"{acc(best['test_acc'], best['test_acc_std'])}; worst: **{worst['loss']}**, "
        f"{acc(worst['test_acc'], worst['test_acc_std'])}.",
    ]
    spread = mine.groupby("device")["test_acc"].agg(["max", "min"])
    for device, row in spread.iterrows():
        lines.append(f"- On {device} the losses span {row['max'] - row['min']:.4f} of accuracy.")
    for device, group in w.speed[w.speed["trainer"] == TRAINER].groupby("device"):
        fast, slow = group.loc[group["step_us"].idxmin()], group.loc[group["step_us"].idxmax()]
        lines.append(
            f"- On {device} the median step is shortest under {fast['loss']} "
            f"({fast['step_us']:,.0f} µs) and longest under {slow['loss']} "
            f"({slow['step_us']:,.0f} µs, {slow['step_us'] / fast['step_us']:.2f}×)."
        )
    for run in w.final[w.final["status"] == "diverged"].itertuples():
        lines.append(
            f"- {run.loss} (seed {run.seed}, noise {run.noise}) diverged at epoch {run.epoch}."
        )
    clean = tables.clean_runs(w.final)
    if clean["seed"].nunique() > 1:
        compared = paired.compare(clean, reference=best["loss"])
        tied = compared.loc[compared["beyond"].eq(False), "loss"].tolist()
        if tied:
            lines.append(
                f"- Within the seed spread of the best (paired t-test, Holm p ≥ "
                f"{paired.ALPHA:g}): {', '.join(tied)}."
            )
    noisy = tables.noise(w.final)
    noisy = noisy[noisy["noise"].str.startswith("sym:")]
    if not noisy.empty:
        level = max(noisy["noise"], key=lambda n: float(n.split(":")[1]))
        at = noisy[noisy["noise"] == level].sort_values("test_acc", ascending=False)
        lines.append(
            f"- Under the strongest symmetric label noise ({level}) the most robust is "
            f"{at.iloc[0]['loss']} ({at.iloc[0]['test_acc']:.4f} clean test accuracy), "
            f"the least {at.iloc[-1]['loss']} ({at.iloc[-1]['test_acc']:.4f})."
        )
    unstable = mine[mine["test_acc_std"] > UNSTABLE * mine["test_acc_std"].median()]
    for run in unstable.itertuples():
        lines.append(
            f"- {run.loss} varies across seeds (sd {run.test_acc_std:.4f}): see the "
            "per-class table for the classes it loses."
        )
    return "\n".join(lines) + "\n\n" + claims.section(w)
