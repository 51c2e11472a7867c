"""Every CSV lossbench writes, its columns in one place, and how rows are read, appended, written.

A results folder (``--out``) holds these tables; each row names its dataset and model, so runs
and caches of different workloads never meet. A table from an older version whose columns are a
subset of today's is read with the missing columns filled (``UPGRADE``) and rewritten whole with
today's header before anything is appended to it; any other header is refused.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from pathlib import Path

from bench.training.floors import ANATOMY_EPOCHS, ANATOMY_PARTS

RESULTS = (
    "trainer",
    "dataset",
    "model",
    "loss",
    "device",
    "seed",
    "noise",
    "epoch",
    "epochs",
    "lr",
    "batch_size",
    "schedule",
    "optimizer",
    "status",
    "step_mode",
    "grad",
    "train_loss",
    "train_acc",
    "test_acc",
    "balanced_acc",
    "worst_class_acc",
    "macro_f1",
    "epoch_s",
    "step_ms",
    "step_ms_p90",
    "samples_per_s",
    "floor_s",
    "peak_mem_mb",
    "grad_norm",
    "active_frac",
    "memorised",
    "corrected",
    "val_acc",
    "early_stop",
    "concurrent",
    "entry",
    "validation",
)
# The batch-size sweep (OUT/speed.csv) and the serial timing phase of a parallel study
# (OUT/timing.csv) have results.csv's rows.
SPEED = TIMING = RESULTS
# Runs that raised on a worker, with the one-line reason (:func:`one_line`); redone by the next
# command.
FAILURES = ("trainer", "dataset", "model", "loss", "device", "seed", "noise", "reason")
# A tuning trial: ``entry`` the suite spec it tunes, ``loss`` the setting tried (its spec names
# its hyperparameters), at ``noise`` (train and validation labels alike); ``val_score`` is its
# validation score by ``metric`` (accuracy, or balanced_acc on long-tailed data), the one that
# chooses; ``val_acc`` is plain accuracy either way; ``selection`` the epoch both are read at:
# ``last``, or ``early_stopped`` (the epoch of the best score, where final runs early-stop).
TUNING = (
    "dataset",
    "model",
    "noise",
    "entry",
    "loss",
    "device",
    "epochs",
    "batch_size",
    "schedule",
    "optimizer",
    "lr",
    "status",
    "val_acc",
    "metric",
    "val_score",
    "validation",
    "selection",
)
# What tuning could see (OUT/resolving.csv, bench.analysis.resolving): per search (workload,
# validation protocol, noise level, suite entry) the winner and its validation score on
# ``n_val`` held-out examples; ``se`` its standard error; ``slope`` d score / d clean accuracy
# under the noise in force (``slope_source`` exact or empirical); ``se_clean`` = se / slope; the
# spreads of the final rung's candidates and of the screen's five best, in score, in standard
# errors and in clean points; ``resolvable`` the clean-accuracy difference the split tells
# apart; ``blind`` where the screen's five best lie within BLIND_SE standard errors. Fractions.
RESOLVING = tuple(
    "dataset model validation noise entry loss lr metric val_score n_val se slope slope_source "
    "se_clean final_count final_spread final_spread_se final_spread_clean top5_spread "
    "top5_spread_se resolvable blind".split()
)
# The screening horizon (OUT/screening.csv): per level, Spearman's correlation of screen and
# final scores over the candidates that ran in full, pooled and within each loss, and the share
# of losses whose screen-best candidate won in full.
SCREENING = tuple(
    "dataset model validation noise screen_epochs full_epochs losses candidates rho_pooled "
    "rho_within screen_best_won".split()
)
ANATOMY = (
    "dataset",
    "model",
    "loss",
    "batch_size",
    *(f"{part}_us" for part in ANATOMY_PARTS + ANATOMY_EPOCHS),
)
REFERENCE = (
    "dataset",
    "model",
    "loss",
    "max_iter",
    "train_loss",
    "train_acc",
    "test_acc",
    "iterations",
    "seconds",
)
PEERS = (
    "dataset",
    "peer",
    "loss",
    "epochs",
    "seed",
    "train_acc",
    "test_acc",
    "fit_s",
    "concurrent",
)
# The textbook loop side by side with lossbench's (OUT/textbook.csv): each of the book's epochs
# and one epoch of lossbench's ``ce`` timed right after it (bench.peers.textbook.side_by_side).
TEXTBOOK = ("dataset", "model", "batch_size", "epoch", "textbook_s", "lossbench_s")
# The answer (OUT/answer.csv, bench.reporting.answer): one row per (dataset, model, noise, loss),
# the verdict against the workload's best (bench.analysis.verdicts): the mean paired difference
# ``diff`` with its interval [lower, upper], the margin δ, seeds run, diverged, collapsed and at
# chance; ``score`` the mean of ``metric`` over the finished seeds; ``entry`` the loss's family
# (bench.analysis.settings) and ``loss`` the setting that trained; ``validation`` the protocol the
# runs were tuned (and early-stopped) on, ``selection`` the score the verdict is on: the last
# epoch's or the early-stopped epoch's.
ANSWER = tuple(
    "dataset model noise validation selection entry loss metric score best verdict margin diff "
    "lower upper seeds diverged collapsed chance paired compared no_spread p_equivalent sd "
    "seeds_needed n_test prior_ratio".split()
)
# The answer's scenario picks (OUT/picks.csv), per scenario, validation protocol and selection:
# the recommended losses (``set``, ";"-joined families; ``pick`` when one), each with the settings
# that trained (``settings``), those listed apart as undecided (``apart``) or with failed runs
# (``failed``), over how many workloads and seeds; ``anchor`` the report heading that words it.
PICKS = (
    "scenario",
    "anchor",
    "validation",
    "selection",
    "measured",
    "pick",
    "set",
    "settings",
    "apart",
    "failed",
    "workloads",
    "seeds",
    "undecided",
    "seeds_needed",
)

# What a column missing from an older table means: every run before datasets and models were
# parts was Fashion-MNIST on softmax regression, with analytic gradients; the metrics of
# imbalance were not measured.
UPGRADE = {
    "dataset": "fashion_mnist",
    "model": "linear",
    "grad": "analytic",
    "balanced_acc": "nan",
    "worst_class_acc": "nan",
    "macro_f1": "nan",
    "concurrent": "False",
    "entry": "",
    "noise": "none",
    "corrected": "nan",
    "val_acc": "nan",
    "early_stop": "False",
    "metric": "accuracy",
    "val_score": "nan",
    "validation": "noisy",
    "optimizer": "sgd",
    "selection": "last",
}


class SchemaError(ValueError):
    """A CSV whose columns this version cannot read; the message says what to do."""


def read_rows(path: Path, columns: tuple[str, ...]) -> list[dict]:
    """The rows of a CSV this package appends to; [] when it does not exist.

    A last line without its newline was torn by a kill mid-write: it is dropped with a warning
    (the next rewrite removes it). An older header (a subset of ``columns``, the rest in
    ``UPGRADE``) is read with the missing columns filled; any other raises SchemaError.
    """
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text()
    if text and not text.endswith("\n"):
        torn = text.rsplit("\n", 1)[-1]
        warnings.warn(
            f"{path}: ignoring a torn last line ({len(torn)} characters): "
            "the previous run was killed while writing it",
            stacklevel=3,
        )
        text = text[: len(text) - len(torn)]
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or tuple(reader.fieldnames) == columns:
        return list(reader)
    missing = [c for c in columns if c not in reader.fieldnames]
    if set(reader.fieldnames) <= set(columns) and set(missing) <= set(UPGRADE):
        return [{**{c: UPGRADE[c] for c in missing}, **row} for row in reader]
    raise SchemaError(
        f"{path} has columns from another version of lossbench; "
        "move it away or choose another --out"
    )


def header_is_current(path: Path, columns: tuple[str, ...]) -> bool:
    """Whether ``path`` is absent, empty or has exactly ``columns`` as its header."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return True
    with open(path, newline="") as f:
        return tuple(next(csv.reader(f), ())) == columns


def append_row(path: Path, columns: tuple[str, ...], row: dict) -> None:
    """Append one row (a header first into a new file), flushed and fsynced before returning:
    a kill can tear at most the line being written, which read_rows then drops. An older table
    is first rewritten with today's header."""
    path = Path(path)
    if not header_is_current(path, columns):
        write_rows(path, columns, read_rows(path, columns))
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow({k: _cell(_value(row, k)) for k in columns})
        f.flush()
        os.fsync(f.fileno())


def _value(row: dict, column: str):
    """``row``'s cell of ``column``; a column it lacks reads as an older table's would
    (``UPGRADE``), and any other is a KeyError."""
    if column not in row and column in UPGRADE:
        return UPGRADE[column]
    return row[column]


def write_rows(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    """Write a whole CSV atomically (a temporary file, then a rename): never half a table."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(_value(row, k)) for k in columns} for row in rows)
    write_atomic(Path(path), buffer.getvalue())


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _cell(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def one_line(error: BaseException) -> str:
    """A failure's ``reason``: the exception's type and the first line of its message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".strip().rstrip(":")
