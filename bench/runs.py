"""The grid of runs (loss × device × seed), results.csv, and resuming an interrupted study.

results.csv is the single source of truth: one tidy row per (loss, device, seed, epoch),
appended and flushed as each epoch ends. A run is finished when its last epoch is there, or a
row says it diverged; anything else is unfinished and is trained again from the start.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import warnings
from pathlib import Path

import torch

from bench.train import RunConfig

COLUMNS = (
    "trainer", "loss", "device", "seed", "noise", "epoch", "epochs", "lr", "batch_size",
    "schedule", "status", "step_mode", "train_loss", "train_acc", "test_acc", "epoch_s", "step_ms",
    "step_ms_p90", "samples_per_s", "floor_s", "peak_mem_mb", "grad_norm", "active_frac",
    "memorised",
)  # fmt: skip
# What makes rows of one study comparable; a second command into the same folder must agree.
PROTOCOL = ("epochs", "batch_size", "schedule", "lr")


# The default suite and each loss's learning rate: the best of a log grid by validation accuracy
# (50,000/10,000 split of the training set, 10 epochs, cosine, batch 256; see README). Tuning
# per run replaces these where asked.
DEFAULT_LRS = {
    "ce": 1.0,
    "soft_label": 0.3,
    "margin:kind=crammer_singer": 0.3,
    "margin:kind=weston_watkins": 0.1,
    "l2": 1.0,
    "l1": 1.0,
    "huber": 10.0,
    "l2:on=scores": 0.01,
    "huber:on=scores": 0.03,
}


class RunsError(ValueError):
    """A results folder that cannot be used as asked; the message says what to do."""


def slug(loss: str, device: str, seed: int, noise: str = "none") -> str:
    """A file-name-safe key of one run, e.g. ``huber_on-probs_delta-0.1__cpu__seed0``."""
    key = f"{loss}__{device}__seed{seed}" + ("" if noise == "none" else f"__{noise}")
    return key.replace(":", "_").replace("=", "-")


def textbook_run(epochs: int, batch_size: int, seed: int = 0) -> RunConfig:
    """The D2L textbook loop's run: ce on the CPU at the book's constant rate 0.1."""
    from bench import textbook

    return RunConfig(
        loss="ce",
        device="cpu",
        seed=seed,
        epochs=epochs,
        lr=textbook.LR,
        batch_size=batch_size,
        schedule="constant",
        trainer=textbook.NAME,
    )


def expand(specs, devices, seeds, *, lrs: dict[str, float], **protocol) -> list[RunConfig]:
    """Every (loss, device, seed) run, devices outermost so each device's data moves once."""
    return [
        RunConfig(loss=spec, device=device, seed=seed, lr=lrs[spec], **protocol)
        for device in devices
        for spec in specs
        for seed in seeds
    ]


def run_key(row: dict) -> RunConfig:
    """The run a results row belongs to."""
    fields = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    return RunConfig(**{name: _convert(row[name], kind) for name, kind in fields.items()})


def _convert(value, kind):
    kind = {"str": str, "int": int, "float": float}[
        kind if isinstance(kind, str) else kind.__name__
    ]
    return kind(value)


class Results:
    """OUT/results.csv and OUT/run.json: appending rows, and knowing which runs are finished."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.csv_path = self.out / "results.csv"
        self.meta_path = self.out / "run.json"

    # -- reading ---------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        """All complete rows; a torn last line (a kill mid-write) is dropped with a warning."""
        return read_rows(self.csv_path, COLUMNS)

    def finished(self, rows: list[dict] | None = None) -> set[RunConfig]:
        """The runs whose last epoch, or divergence, is recorded."""
        rows = self.rows() if rows is None else rows
        return {
            run_key(row)
            for row in rows
            if row["status"] == "diverged" or int(row["epoch"]) == int(row["epochs"])
        }

    # -- writing ---------------------------------------------------------------------------
    def prepare(self, meta: dict) -> set[RunConfig]:
        """Check OUT against this study, drop unfinished runs' rows, record meta; return finished.

        Raises RunsError when OUT holds a study with another protocol (epochs, batch size,
        schedule, learning rate): mixing them would make the tables compare unlike runs.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        if rows and self.meta_path.exists():
            old = json.loads(self.meta_path.read_text()).get("config", {})
            changed = [k for k in PROTOCOL if old.get(k) != meta["config"].get(k)]
            if changed:
                what = ", ".join(f"{k} {old.get(k)} -> {meta['config'].get(k)}" for k in changed)
                raise RunsError(
                    f"{self.out} holds results of another configuration ({what}); "
                    "use a new --out, or delete its results.csv to start over"
                )
        elif rows:
            raise RunsError(
                f"{self.csv_path} has no run.json beside it, so its configuration is unknown; "
                "use a new --out, or delete results.csv to start over"
            )
        finished = self.finished(rows)
        kept = [row for row in rows if run_key(row) in finished]
        if len(kept) != len(rows) or (rows and not self.csv_path.read_text().endswith("\n")):
            self._rewrite(kept)
        _write_atomic(self.meta_path, json.dumps(meta, indent=2) + "\n")
        return finished

    def resume(self, configs: list[RunConfig]) -> set[RunConfig]:
        """The finished runs among ``configs``; drops rows of runs that are unfinished, or stale:
        the same (trainer, loss, device, seed, noise) as one of ``configs`` under another
        rate (after a re-tune), so no two versions of a run ever meet in the tables."""
        rows = self.rows()
        finished = self.finished(rows)
        wanted = set(configs)
        identities = {_identity(c) for c in configs}
        kept = [
            row
            for row in rows
            if (key := run_key(row)) in finished
            and (key in wanted or _identity(key) not in identities)
        ]
        if len(kept) != len(rows):
            self._rewrite(kept)
        return finished & wanted

    def append(self, row: dict) -> None:
        """Append one row and flush it to disk before returning."""
        append_row(self.csv_path, COLUMNS, row)

    def save_weights(self, config: RunConfig, state: dict[str, torch.Tensor]) -> Path:
        """Save a finished run's final W and b under OUT/weights/<slug>.pt, atomically."""
        name = slug(config.loss, config.device, config.seed, config.noise)
        path = self.out / "weights" / f"{name}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)
        return path

    def _rewrite(self, rows: list[dict]) -> None:
        write_rows(self.csv_path, COLUMNS, rows)


def read_rows(path: Path, columns: tuple[str, ...]) -> list[dict]:
    """The rows of a CSV this package appends to; [] when it does not exist.

    A last line without its newline was torn by a kill mid-write: it is dropped with a warning
    (the next rewrite removes it). A header other than ``columns`` raises RunsError.
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
    if reader.fieldnames is not None and tuple(reader.fieldnames) != columns:
        raise RunsError(
            f"{path} has columns from another version of lossbench; "
            "move it away or choose another --out"
        )
    return list(reader)


def append_row(path: Path, columns: tuple[str, ...], row: dict) -> None:
    """Append one row (a header first into a new file), flushed and fsynced before returning:
    a kill can tear at most the line being written, which read_rows then drops."""
    path = Path(path)
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow({k: _cell(row[k]) for k in columns})
        f.flush()
        os.fsync(f.fileno())


def write_rows(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    """Write a whole CSV atomically (a temporary file, then a rename): never half a table."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(row[k]) for k in columns} for row in rows)
    _write_atomic(Path(path), buffer.getvalue())


def _identity(config: RunConfig) -> tuple:
    return (config.trainer, config.loss, config.device, config.seed, config.noise)


def _cell(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
