"""Views of a results folder computed by pandas: every table of the report comes from here.

The input is the tidy frame of results.csv (one row per trainer, dataset, model, loss, device,
seed, noise, epoch) and the side caches beside it. Nothing here formats numbers as text; the
report's section modules (bench.reporting) do that.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import losses
from bench import schema
from bench.analysis import stats

RUN = ["trainer", "dataset", "model", "loss", "device", "seed", "noise"]
GROUP = ["trainer", "dataset", "model", "loss", "device"]
WORKLOAD = ["dataset", "model"]
# Accuracy targets on the test set (the fair-comparison issue), for the default suite's losses
# with their default parameters (L2 and Huber on probabilities; both margin kinds). They were set
# for Fashion-MNIST on softmax regression and apply to that workload alone.
TARGETS = {
    "ce": 0.845,
    "soft_label": 0.845,
    "margin": 0.84,
    "margin:kind=weston_watkins": 0.84,
    "l2": 0.84,
    "huber": 0.84,
    "l1": 0.83,
}
TARGETS_WORKLOAD = ("fashion_mnist", "linear")
THRESHOLDS = (0.80, 0.83)


def load(path) -> pd.DataFrame:
    """results.csv as a typed frame. A file from before datasets and models were parts (no
    dataset, model or grad column) is read with those columns filled from ``schema.UPGRADE``."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=["nan", "NaN", ""])
    frame = _upgrade(frame, schema.RESULTS)
    frame["noise"] = frame["noise"].astype(str)
    if "concurrent" in frame:
        frame["concurrent"] = frame["concurrent"].astype(str).str.lower() == "true"
    return frame


def read_cache(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A side cache (tuning, speed, anatomy, reference, peers .csv: ``columns`` from
    bench.schema) as a frame; empty when absent. Older caches get dataset and model filled."""
    path = Path(path)
    if not path.exists() or not path.stat().st_size:
        return pd.DataFrame()
    return _upgrade(pd.read_csv(path), columns)


def _upgrade(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    missing = {c: _typed(v) for c, v in schema.UPGRADE.items() if c in columns and c not in frame}
    if missing:
        frame = frame.assign(**missing)
    for column in WORKLOAD:
        if column in frame:
            frame[column] = frame[column].astype(str)
    return frame


def _typed(value):
    """A filled-in cell as pandas would have read it: "nan" is a number, "False" a truth
    value, "linear" a string."""
    if value in ("True", "False"):
        return value == "True"
    try:
        return float(value)
    except ValueError:
        return value


def workloads(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """The (dataset, model) pairs of ``rows``, in the order they first appear."""
    return list(rows[WORKLOAD].drop_duplicates().itertuples(index=False, name=None))


def of_workload(frame: pd.DataFrame, dataset: str, model: str) -> pd.DataFrame:
    """The rows of one workload; a frame keyed by dataset alone (peers) is matched on it."""
    if frame.empty:
        return frame
    keep = pd.Series(True, index=frame.index)
    for column, value in (("dataset", dataset), ("model", model)):
        if column in frame:
            keep &= frame[column] == value
    return frame[keep].reset_index(drop=True)


def serial(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows whose times were taken with the machine to themselves: without the ones marked
    ``concurrent`` (other runs shared the host), which no speed is read from."""
    if "concurrent" not in rows:
        return rows
    return rows[~rows["concurrent"].astype(bool)]


def alone_times(rows: pd.DataFrame, timing: pd.DataFrame) -> pd.DataFrame:
    """``rows`` where the runs trained in a stack of losses (``step_mode`` "stacked": their epoch
    seconds are a share of the stack's) take the times of their loss trained alone, from the
    serial timing phase's ``timing`` rows (median per dataset, model, loss, device and batch
    size), so that time to a target compares the losses' own speeds. Stacked rows whose loss was
    not timed keep their share."""
    if (
        rows.empty
        or "step_mode" not in rows
        or not rows["step_mode"].eq("stacked").any()
        or timing.empty
    ):
        return rows
    keys = ["dataset", "model", "loss", "device", "batch_size"]
    times = ["epoch_s", "step_ms", "samples_per_s"]
    alone = timing[timing["status"] == "ok"].groupby(keys)[times].median()
    stacked = rows["step_mode"].eq("stacked")
    found = rows.loc[stacked, keys].merge(alone.reset_index(), on=keys, how="left")
    found.index = rows.index[stacked]
    rows = rows.copy()
    for column in times:
        rows.loc[stacked, column] = found[column].fillna(rows.loc[stacked, column])
    return rows


def finished_runs(rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The last row of each finished run, and how many runs were left unfinished. Runs of one
    seed under two validation protocols (noisy, trusted:N) are two runs."""
    keys = RUN + [c for c in ("validation",) if c in rows]
    last = rows.sort_values("epoch").groupby(keys, as_index=False, dropna=False).tail(1)
    done = (last["epoch"] == last["epochs"]) | (last["status"] == "diverged")
    return last[done].reset_index(drop=True), int((~done).sum())


def run_keys(frame: pd.DataFrame) -> list[str]:
    """What identifies a run in ``frame``: RUN, plus ``validation`` where the frame has it."""
    return RUN + [c for c in ("validation",) if c in frame]


def default_protocol(final: pd.DataFrame) -> pd.DataFrame:
    """``final`` with, where a (dataset, model, noise) ran under several validation protocols,
    only its ``noisy`` runs (a trusted:N run trains on N fewer examples, and the answer judges
    each protocol apart); a frame without ``validation`` is returned as it is."""
    if "validation" not in final or final.empty:
        return final
    protocol = final["validation"].astype(object).fillna("noisy")
    level = [final[c] for c in (*WORKLOAD, "noise") if c in final]
    has_noisy = (protocol == "noisy").groupby(level).transform("any")
    return final[(protocol == "noisy") | ~has_noisy]


def clean_runs(final: pd.DataFrame) -> pd.DataFrame:
    """lossbench's finished runs without label noise that did not diverge (of the noisy
    validation protocol where there are several: :func:`default_protocol`)."""
    return default_protocol(
        final[
            (final["trainer"] == "lossbench")
            & (final["noise"] == "none")
            & (final["status"] == "ok")
        ]
    )


def best_runs(final: pd.DataFrame) -> pd.DataFrame:
    """One clean run per (dataset, model, loss, device): its best seed."""
    mine = clean_runs(final)
    keys = [*WORKLOAD, "loss", "device"]
    extra = [c for c in ("validation",) if c in mine]  # which weights are the run's
    return mine.loc[mine.groupby(keys)["test_acc"].idxmax(), [*keys, "seed", "test_acc", *extra]]


# The test metrics of imbalance each run records (bench.training.loop.class_metrics).
IMBALANCE = ("balanced_acc", "worst_class_acc", "macro_f1")


def accuracy(final: pd.DataFrame) -> pd.DataFrame:
    """Per (trainer, dataset, model, loss, device), clean runs: test accuracy mean, std, 95% CI,
    seeds, and the other final metrics; diverged runs counted apart (their accuracy is not
    averaged in)."""
    clean = default_protocol(final[final["noise"] == "none"])
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
                **{name: ok[name].mean() if name in ok else float("nan") for name in IMBALANCE},
            }
        )
    table = pd.DataFrame(
        rows,
        columns=[
            *GROUP,
            "lr",
            "seeds",
            "diverged",
            "diverged_epoch",
            "test_acc",
            "test_acc_std",
            "test_acc_ci95",
            "train_acc",
            "train_loss",
            *IMBALANCE,
        ],
    )
    return table.sort_values("test_acc", ascending=False, na_position="last").reset_index(drop=True)


def converged(accuracy: pd.DataFrame, reference: pd.DataFrame) -> pd.Series:
    """Per loss with a reference: did L-BFGS reach a training loss at or below SGD's?"""
    sgd = accuracy[accuracy["trainer"] == "lossbench"].set_index("loss")["train_loss"]
    lbfgs = reference.set_index("loss")["train_loss"]
    both = lbfgs.index.intersection(sgd.index)
    return lbfgs[both] <= sgd[both] * (1 + 1e-3)


def speed(rows: pd.DataFrame, final: pd.DataFrame) -> pd.DataFrame:
    """Per (trainer, dataset, model, loss, device), clean finished runs: step times (median over
    epochs, mean over seeds), samples/s, epoch seconds, the GEMM floor and epoch time / floor,
    peak memory, the examples an epoch trains on (samples/s × epoch seconds, which results.csv
    rounds to six digits: exact for any training set under a million), and how the steps ran
    (``step_mode``: eager, or replayed as a CUDA graph). Rows marked ``concurrent`` (timed
    while other runs shared the machine) are left out."""
    keys = final.loc[final["noise"] == "none", RUN]
    done = serial(rows).merge(keys, on=RUN)
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
    if "grad" in done:  # the loss's gradient: analytic, or autograd for a value-only loss
        grads = done.groupby(GROUP, sort=False)["grad"].agg(lambda s: "/".join(sorted(set(s))))
        modes = pd.concat([modes, grads], axis=1)
    table = table.merge(modes.reset_index(), on=GROUP)
    table["x_floor"] = table["epoch_s"] / table["floor_s"]
    return table.drop(columns=["seed"]).sort_values(["device", "step_us"]).reset_index(drop=True)


def step_drift(rows: pd.DataFrame, final: pd.DataFrame) -> tuple[float, tuple] | None:
    """How far the same loss's median step moved between its clean runs (max / min over seeds),
    at worst, and the (dataset, model, loss, device) where; None without two runs of a loss."""
    keys = final.loc[(final["noise"] == "none") & (final["trainer"] == "lossbench"), RUN]
    per_run = serial(rows).merge(keys, on=RUN).groupby(RUN)["step_ms"].median()
    by = [*WORKLOAD, "loss", "device"]
    if per_run.empty or per_run.groupby(by).size().max() < 2:
        return None
    spread = per_run.groupby(by).agg(lambda s: s.max() / s.min())
    return float(spread.max()), spread.idxmax()


def learning_speed(rows: pd.DataFrame, final: pd.DataFrame) -> pd.DataFrame:
    """Per (trainer, dataset, model, loss, device), clean runs: epochs, steps and training
    seconds until the test accuracy first reaches each threshold (NaN: never), and the area
    under the learning curve (mean test accuracy over epochs: 1 would be perfect from the
    first epoch)."""
    on = run_keys(final)  # one protocol's runs (default_protocol): a run per RUN below
    keys = default_protocol(final[(final["noise"] == "none") & (final["status"] == "ok")])[on]
    done = rows.merge(keys, on=on).sort_values("epoch")
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
    """Per (dataset, model, loss, device, noise): clean test accuracy and memorisation, mean
    over seeds. A tuned run counts under its suite entry (``entry``: ``gce``, not the
    ``gce:q=0.9`` that won at one level), so one loss is followed across the noise levels.
    Where a level ran under several validation protocols, only its ``noisy`` runs count (a
    trusted split trains on fewer examples; bench.reporting.memorisation shows both)."""
    from bench.analysis.across import entries

    mine = default_protocol(final[(final["trainer"] == "lossbench") & (final["status"] == "ok")])
    mine = mine.assign(loss=entries(mine))
    return (
        mine.groupby([*WORKLOAD, "loss", "device", "noise"], sort=False)
        .agg(
            test_acc=("test_acc", "mean"), memorised=("memorised", "mean"), seeds=("seed", "count")
        )
        .reset_index()
    )


def noise_wide(table: pd.DataFrame) -> pd.DataFrame:
    """One workload's :func:`noise` table as one row per loss: test accuracy at each noise
    level, then memorisation at each noisy level; sorted by accuracy at the last level."""
    accuracy = table.pivot_table(index="loss", columns="noise", values="test_acc")
    memorised = table.pivot_table(index="loss", columns="noise", values="memorised")
    levels = [c for c in accuracy.columns if c != "none"]
    wide = accuracy.reset_index()
    for level in levels:
        wide[f"memorised {level}"] = (
            wide["loss"].map(memorised[level]) if level in memorised else np.nan
        )
    return wide.sort_values(levels[-1] if levels else "none", ascending=False)


def targets(table: pd.DataFrame) -> pd.DataFrame:
    """The accuracy table's lossbench rows of the targets' workload against the targets for
    their loss's name (rows without dataset and model columns count as that workload)."""
    by_spec = {str(losses.parse(spec)): target for spec, target in TARGETS.items()}
    mine = table[table["trainer"] == "lossbench"].copy()
    for column, value in zip(WORKLOAD, TARGETS_WORKLOAD, strict=True):
        if column in mine:
            mine = mine[mine[column] == value]
    mine["target"] = mine["loss"].map(by_spec)
    mine = mine.dropna(subset=["target"])
    mine["met"] = mine["test_acc"] >= mine["target"]
    return mine[["loss", "device", "test_acc", "test_acc_ci95", "target", "met"]]


# The keys of one tuning search: a loss (its suite entry) at one noise level of one workload, on
# one device (bench.study.tune chooses per device), under one validation protocol (noisy or
# trusted:N labels, bench.datasets.validation), with its trials scored at one epoch (the last,
# or the best where the final runs early-stop: bench.study.tune).
TUNING_KEYS = ["dataset", "model", "noise", "entry", "device", "validation", "selection"]


def tuning_trials(cache: pd.DataFrame) -> pd.DataFrame:
    """tuning.csv's trials, typed and completed: ``entry`` the trial's own spec where the cache
    has none (before per-noise tuning), ``noise`` "none", ``metric`` "accuracy", ``val_score``
    ``val_acc`` where missing and NaN for a diverged trial, ``order`` the row's position.

    Shape: cache (T, 5+) -> (T, 13+)."""
    missing = [c for c in ("loss", "lr", "status", "val_acc", "epochs") if c not in cache]
    if missing:
        raise ValueError(f"tuning cache lacks column(s) {missing}: pass the rows of tuning.csv")
    defaults = {
        "dataset": "",
        "model": "",
        "noise": "none",
        "entry": "",
        "device": "",
        "validation": "noisy",
        "selection": "last",
    }
    cache = cache.assign(
        **{k: v for k, v in {**defaults, "metric": "accuracy"}.items() if k not in cache}
    ).reset_index(drop=True)
    val_acc = pd.to_numeric(cache["val_acc"], errors="coerce")
    score = pd.to_numeric(cache.get("val_score", val_acc), errors="coerce")
    entry = cache["entry"].astype(object)
    return cache.assign(
        entry=entry.where(entry.notna() & (entry.astype(str) != ""), cache["loss"]),
        noise=cache["noise"].astype(str),
        device=cache["device"].astype(str),
        validation=cache["validation"].fillna("noisy").astype(str),
        selection=cache["selection"].fillna("last").astype(str),
        lr=pd.to_numeric(cache["lr"]),
        epochs=pd.to_numeric(cache["epochs"]).astype(int),
        val_score=score.fillna(val_acc).where(cache["status"] == "ok"),
        order=range(len(cache)),
    )


def tuning(cache: pd.DataFrame) -> pd.DataFrame:
    """The setting and rate that won each search of tuning.csv, as bench.study.tune chose them.

    A search is one (dataset, model, noise, entry, device): its trials are the entry's settings
    (``loss``, a spec string) at several rates. The winner is the trial of highest ``val_score``
    among those at the workload's full epochs (a two-stage search also has shorter screening
    trials), the smaller rate, then the earlier trial, on a tie; diverged trials never win.
    A cache from before per-noise tuning (no noise, entry, metric or val_score, or those filled
    by ``schema.UPGRADE``) reads as one clean search per loss scored by ``val_acc``.

    Returns one row per search, in the order first seen: the keys, ``loss`` (the winning spec),
    ``lr``, ``val_score``, ``metric``, ``epochs`` (the full epochs), ``trials`` (trials spent,
    every rung) and ``diverged`` (of them); a search with no usable full-epoch trial is left out.

    Shape: cache (T, 10+) -> (S, 13), S the searches.
    """
    cache = tuning_trials(cache)
    full = cache.groupby(["dataset", "model"])["epochs"].transform("max")
    ranked = cache[(cache["epochs"] == full) & cache["val_score"].notna()].sort_values(
        ["val_score", "lr", "order"], ascending=[False, True, True]
    )
    best = ranked.drop_duplicates(TUNING_KEYS).set_index(TUNING_KEYS)
    spent = cache.groupby(TUNING_KEYS, sort=False).agg(
        trials=("loss", "size"),
        diverged=("status", lambda s: int((s == "diverged").sum())),
        first=("order", "min"),
    )
    table = spent.join(best[["loss", "lr", "val_score", "metric", "epochs"]], how="inner")
    table = table.sort_values("first").reset_index()
    return table[
        [*TUNING_KEYS, "loss", "lr", "val_score", "metric", "epochs", "trials", "diverged"]
    ]


def batch_sweep(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per (device, step mode, batch size) of one workload's speed.csv: median step,
    throughput, epoch seconds and the GEMM floor."""
    return (
        sweep.groupby(["device", "step_mode", "batch_size"])
        .agg(
            step_ms=("step_ms", "median"),
            samples_per_s=("samples_per_s", "median"),
            epoch_s=("epoch_s", "median"),
            floor_s=("floor_s", "median"),
        )
        .reset_index()
    )


def calibration(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per loss, mean over seeds: NLL, Brier, ECE, MCE before temperature scaling, the fitted
    T, and NLL, ECE, MCE after it; best calibrated (lowest ECE) first."""
    mean = metrics.groupby(["loss", "scaling"]).mean(numeric_only=True)
    before, after = mean.xs("before", level="scaling"), mean.xs("after", level="scaling")
    table = before[["nll", "brier", "ece", "mce"]].join(
        after[["temperature", "nll", "ece", "mce"]].add_suffix("_after")
    )
    return (
        table.rename(columns={"temperature_after": "temperature"}).sort_values("ece").reset_index()
    )


def per_class(recall: pd.DataFrame, classes) -> pd.DataFrame:
    """Per loss, each class's test accuracy (mean over seeds of ``recall``, one row per loss,
    seed and class) in label order, and the worst class."""
    wide = recall.pivot_table(index="loss", columns="class", values="accuracy")
    wide = wide[[c for c in classes if c in wide]]
    wide["worst class"] = wide.idxmin(axis=1)
    return wide.reset_index()
