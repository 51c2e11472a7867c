"""Two scores per run: the last epoch's, and the epoch a validation split would have chosen.

The papers score a run at its last epoch: that is where a network that memorises wrong labels
shows it (its test accuracy falls after an early peak). A practitioner holding out a validation
split (``--early-stop``; labels as noisy as training, or ``trusted:N`` true ones) keeps the
weights of the epoch with the best validation accuracy instead. Each finished run therefore
yields one row per ``selection``:

- ``last``: its last row (the run's final epoch, or the epoch it diverged), as
  :func:`bench.analysis.tables.finished_runs` gives it;
- ``early_stopped``: its row at the FIRST epoch with the highest ``val_acc`` (the earliest of
  tied epochs: the checkpoint a "keep the best so far" rule keeps). Only runs that recorded a
  ``val_acc`` get one. A run that diverged stays a failure under this selection too (its row is
  the diverged one): the rate that blew it up is the one the protocol chose, and a failure is
  counted, never scored.

Pure functions of the tidy results frame (one row per run and epoch); nothing is trained here.
"""

from __future__ import annotations

import pandas as pd

from bench.analysis.tables import RUN

SELECTIONS = ("last", "early_stopped")


def _runs(rows: pd.DataFrame) -> list[str]:
    """The columns that name a run: tables.RUN, and the validation protocol where recorded."""
    return list(dict.fromkeys([*RUN, *(c for c in ("validation",) if c in rows)]))


def last(rows: pd.DataFrame) -> pd.DataFrame:
    """The last row of each finished run (last epoch = ``epochs``, or diverged)."""
    keys = _runs(rows)
    tail = rows.sort_values("epoch", kind="stable").groupby(keys, dropna=False).tail(1)
    done = (tail["epoch"] == tail["epochs"]) | (tail["status"] == "diverged")
    return tail[done]


def early_stopped(rows: pd.DataFrame) -> pd.DataFrame:
    """Per finished run that held out a validation split (``early_stop`` True, or some
    ``val_acc`` recorded), its row at the first epoch with the highest ``val_acc``; a diverged
    run's diverged row. Other runs are left out."""
    if "val_acc" not in rows:
        return rows.iloc[0:0]
    keys = _runs(rows)
    held = rows["val_acc"].notna()
    if "early_stop" in rows:
        held |= rows["early_stop"].astype(str).str.lower().eq("true")
    finished = last(rows).merge(rows.loc[held, keys].drop_duplicates(), on=keys, how="inner")
    failed = finished[finished["status"] == "diverged"]
    ok = finished.loc[finished["status"] != "diverged", keys]
    mine = rows.merge(ok, on=keys, how="inner")
    measured = mine[mine["val_acc"].notna()].sort_values([*keys, "epoch"], kind="stable")
    # idxmax gives the first occurrence of the maximum: the earliest of tied epochs
    best = measured.loc[measured.groupby(keys, dropna=False, sort=False)["val_acc"].idxmax()]
    return pd.concat([best, failed[best.columns]], ignore_index=True)


def scores(rows: pd.DataFrame) -> pd.DataFrame:
    """Both selections of every finished run, stacked: the results rows at the scored epochs
    (every column of ``rows``; ``epoch`` is the epoch scored) and ``selection`` in SELECTIONS.
    ``early_stopped`` rows exist only for runs that held out a validation split."""
    parts = [
        last(rows).assign(selection="last"),
        early_stopped(rows).assign(selection=SELECTIONS[1]),
    ]
    return pd.concat(parts, ignore_index=True)


def selected(rows: pd.DataFrame, selection: str) -> pd.DataFrame:
    """The rows of one ``selection`` (a drop-in for the ``final`` frame of last rows)."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    frame = last(rows) if selection == "last" else early_stopped(rows)
    return frame.assign(selection=selection).reset_index(drop=True)


def gaps(scores_frame: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Per run with both selections: ``last`` and ``early_stopped`` values of ``metric``, their
    difference ``gain`` (early-stopped − last: what stopping early recovered), and the epoch
    early stopping chose (``stopped_epoch``) of the run's ``epochs``."""
    keys = [c for c in _runs(scores_frame) if c in scores_frame]
    wide = scores_frame.pivot_table(
        index=keys, columns="selection", values=metric, dropna=False, aggfunc="first"
    )
    if SELECTIONS[1] not in wide:
        return pd.DataFrame(columns=[*keys, "last", "early_stopped", "gain", "stopped_epoch"])
    wide = wide.dropna(subset=list(SELECTIONS)).reset_index()
    epochs = scores_frame[scores_frame["selection"] == SELECTIONS[1]][[*keys, "epoch", "epochs"]]
    wide = wide.merge(epochs.rename(columns={"epoch": "stopped_epoch"}), on=keys, how="left")
    wide.columns.name = None
    return wide.assign(gain=wide["early_stopped"] - wide["last"])
