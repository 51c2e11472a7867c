"""Views of results.csv computed by pandas: every table of the report comes from here.

The input is the tidy frame of results.csv (one row per trainer, loss, device, seed, noise,
epoch). Nothing here formats numbers as text; report.py does that.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import losses
from bench import stats

RUN = ["trainer", "loss", "device", "seed", "noise"]
GROUP = ["trainer", "loss", "device"]
# Accuracy targets on the test set (the fair-comparison issue), for the default suite's losses
# with their default parameters (L2 and Huber on probabilities; both margin kinds).
TARGETS = {
    "ce": 0.845,
    "soft_label": 0.845,
    "margin": 0.84,
    "margin:kind=weston_watkins": 0.84,
    "l2": 0.84,
    "huber": 0.84,
    "l1": 0.83,
}
THRESHOLDS = (0.80, 0.83)


def load(path) -> pd.DataFrame:
    """results.csv as a typed frame ([] columns when the file is absent)."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=["nan", "NaN", ""])
    frame["noise"] = frame["noise"].astype(str)
    return frame


def finished_runs(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The last row of each finished run, and how many runs were left unfinished."""
    last = rows.sort_values("epoch").groupby(RUN, as_index=False).tail(1)
    done = (last["epoch"] == last["epochs"]) | (last["status"] == "diverged")
    return last[done].reset_index(drop=True), int((~done).sum())


def accuracy(final: pd.DataFrame) -> pd.DataFrame:
    """Per (trainer, loss, device), clean runs: test accuracy mean, std, 95% CI, seeds, and the
    other final metrics; diverged runs counted apart (their accuracy is not averaged in)."""
    clean = final[final["noise"] == "none"]
    rows = []
    for key, group in clean.groupby(GROUP, sort=False):
        ok = group[group["status"] == "ok"]
        mean, std, half = stats.mean_ci(ok["test_acc"])
        rows.append(
            {
                **dict(zip(GROUP, key, strict=True)),
                "lr": group["lr"].iloc[0],
                "seeds": len(group),
                "diverged": int((group["status"] == "diverged").sum()),
                "diverged_epoch": group.loc[group["status"] == "diverged", "epoch"].min(),
                "test_acc": mean,
                "test_acc_std": std,
                "test_acc_ci95": half,
                "train_acc": ok["train_acc"].mean(),
                "train_loss": ok["train_loss"].mean(),
            }
        )
    table = pd.DataFrame(rows)
    return table.sort_values("test_acc", ascending=False, na_position="last").reset_index(drop=True)


def speed(rows: pd.DataFrame, final: pd.DataFrame) -> pd.DataFrame:
    """Per (trainer, loss, device), clean finished runs: step times (median over epochs, mean
    over seeds), samples/s, epoch seconds, the GEMM floor and epoch time / floor, peak memory,
    the examples an epoch trains on (samples/s × epoch seconds, which results.csv rounds to six
    digits: exact for any training set under a million), and how the steps ran (``step_mode``:
    eager, or replayed as a CUDA graph)."""
    keys = final.loc[final["noise"] == "none", RUN]
    done = rows.merge(keys, on=RUN)
    done = done.assign(examples=(done["samples_per_s"] * done["epoch_s"]).round())
    per_run = (
        done.groupby(RUN)
        .agg(
            examples=("examples", "median"),
            step_us=("step_ms", lambda s: 1000 * s.median()),
            step_p90_us=("step_ms_p90", lambda s: 1000 * s.median()),
            samples_per_s=("samples_per_s", "median"),
            epoch_s=("epoch_s", "median"),
            floor_s=("floor_s", "median"),
            peak_mem_mb=("peak_mem_mb", "max"),
        )
        .reset_index()
    )
    table = per_run.groupby(GROUP, sort=False).mean(numeric_only=True).reset_index()
    modes = done.groupby(GROUP, sort=False)["step_mode"].agg(lambda s: "/".join(sorted(set(s))))
    table = table.merge(modes.reset_index(), on=GROUP)
    table["x_floor"] = table["epoch_s"] / table["floor_s"]
    return table.drop(columns=["seed"]).sort_values(["device", "step_us"]).reset_index(drop=True)


def learning_speed(rows: pd.DataFrame, final: pd.DataFrame) -> pd.DataFrame:
    """Per (trainer, loss, device), clean runs: epochs, steps and training seconds until the test
    accuracy first reaches each threshold (NaN: never), and the area under the learning curve
    (mean test accuracy over epochs: 1 would be perfect from the first epoch)."""
    keys = final.loc[(final["noise"] == "none") & (final["status"] == "ok"), RUN]
    done = rows.merge(keys, on=RUN).sort_values("epoch")
    per_run = []
    for key, run in done.groupby(RUN):
        steps_per_epoch = np.ceil(run["samples_per_s"] * run["epoch_s"] / run["batch_size"])
        record = dict(zip(RUN, key, strict=True))
        record["auc"] = run["test_acc"].mean()
        seconds = run["epoch_s"].cumsum()
        for threshold in THRESHOLDS:
            reached = run.index[run["test_acc"] >= threshold]
            name = f"{round(threshold * 100)}"
            if len(reached):
                first = reached[0]
                record[f"epochs_to_{name}"] = run.loc[first, "epoch"]
                record[f"steps_to_{name}"] = run.loc[first, "epoch"] * steps_per_epoch.loc[first]
                record[f"seconds_to_{name}"] = seconds.loc[first]
            else:
                record |= {f"{kind}_to_{name}": np.nan for kind in ("epochs", "steps", "seconds")}
        per_run.append(record)
    table = pd.DataFrame(per_run)
    if table.empty:
        return table
    return (
        table.groupby(GROUP, sort=False).mean(numeric_only=True).drop(columns="seed").reset_index()
    )


def noise(final: pd.DataFrame) -> pd.DataFrame:
    """Per (loss, device, noise): clean test accuracy and memorisation, mean over seeds."""
    mine = final[(final["trainer"] == "lossbench") & (final["status"] == "ok")]
    return (
        mine.groupby(["loss", "device", "noise"], sort=False)
        .agg(
            test_acc=("test_acc", "mean"), memorised=("memorised", "mean"), seeds=("seed", "count")
        )
        .reset_index()
    )


def targets(table: pd.DataFrame) -> pd.DataFrame:
    """The accuracy table's lossbench rows against the targets for their loss's name."""
    by_spec = {str(losses.parse(spec)): target for spec, target in TARGETS.items()}
    mine = table[table["trainer"] == "lossbench"].copy()
    mine["target"] = mine["loss"].map(by_spec)
    mine = mine.dropna(subset=["target"])
    mine["met"] = mine["test_acc"] >= mine["target"]
    return mine[["loss", "device", "test_acc", "test_acc_ci95", "target", "met"]]
