"""results.csv and run.json: appending rows, knowing which runs are finished, resuming.

results.csv is the single source of truth: one tidy row per (trainer, dataset, model, loss,
device, seed, noise, epoch), appended and flushed as each epoch ends. A run is finished when its
last epoch is there, or a row says it diverged; anything else is unfinished and is trained again
from the start. A folder belongs to one machine and one protocol: run.json records both, and a
command on another machine, under another protocol or over other data is refused, never mixed in.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch

from bench import environment, schema
from bench.training.config import TRAINER, RunConfig

# What makes rows of one study comparable: a second command into the same folder must agree
# with the runs of its workload (dataset × model) on the epochs, the batch size and the schedule
# (a folder may hold the memorisation MLP's 60 epochs at batch 128 beside the linear model's 30
# at 256, never two versions of one workload), and with the last command on the rate rule.


def _workload(record: dict) -> tuple[str, str]:
    """(dataset, model) of a results row or a command's config (older ones: the defaults)."""
    return (
        record.get("dataset", schema.UPGRADE["dataset"]),
        record.get("model", schema.UPGRADE["model"]),
    )


def _runs_of(rows: list[dict], workload: tuple[str, str]) -> list[dict]:
    """Our trainer's rows of ``workload`` (the textbook loop's have their own protocol)."""
    return [r for r in rows if r.get("trainer", TRAINER) == TRAINER and _workload(r) == workload]


class RunsError(ValueError):
    """A results folder that cannot be used as asked; the message says what to do."""


def slug(config: RunConfig) -> str:
    """A file-name-safe key of one run, e.g. ``huber_on-probs_delta-0.1__cpu__seed0``; runs off
    the default workload (Fashion-MNIST, softmax regression) are prefixed with theirs."""
    key = f"{config.loss}__{config.device}__seed{config.seed}"
    key += "" if config.noise == "none" else f"__{config.noise}"
    key += "" if config.validation == "noisy" else f"__{config.validation}"
    if (config.dataset, config.model) != (schema.UPGRADE["dataset"], schema.UPGRADE["model"]):
        key = f"{config.dataset}__{config.model}__{key}"
    return key.replace(":", "_").replace("=", "-").replace("/", "-")


def weights_file(out: Path, dataset: str, model: str) -> Path:
    """OUT/weights/<dataset>__<model>.pt: the saved final weights of a workload's runs."""
    name = f"{dataset}__{model}".replace(":", "_").replace("=", "-").replace("/", "-")
    return Path(out) / "weights" / f"{name}.pt"


def run_key(row: dict) -> RunConfig:
    """The run a results row belongs to."""
    fields = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    return RunConfig(**{name: _convert(row[name], kind) for name, kind in fields.items()})


def _convert(value, kind):
    kind = {"str": str, "int": int, "float": float, "bool": _truth}[
        kind if isinstance(kind, str) else kind.__name__
    ]
    return kind(value)


def _truth(value) -> bool:
    """A truth value as a CSV cell holds it ("True"/"False") or as Python does."""
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


class Results:
    """OUT/results.csv and OUT/run.json: appending rows, and knowing which runs are finished."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.csv_path = self.out / "results.csv"
        self.meta_path = self.out / "run.json"

    # -- reading ---------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        """All complete rows; a torn last line (a kill mid-write) is dropped with a warning."""
        try:
            return schema.read_rows(self.csv_path, schema.RESULTS)
        except schema.SchemaError as error:
            raise RunsError(str(error)) from None

    def finished(self, rows: list[dict] | None = None) -> set[RunConfig]:
        """The runs whose last epoch, or divergence, is recorded."""
        rows = self.rows() if rows is None else rows
        return {
            run_key(row)
            for row in rows
            if row["status"] == "diverged" or int(row["epoch"]) == int(row["epochs"])
        }

    def meta(self) -> dict:
        """run.json, or {} before the first command."""
        return json.loads(self.meta_path.read_text()) if self.meta_path.exists() else {}

    # -- writing ---------------------------------------------------------------------------
    def prepare(self, meta: dict) -> set[RunConfig]:
        """Check OUT against this study, drop unfinished runs' rows, record meta; return finished.

        Raises RunsError when OUT holds results of another protocol (epochs, batch size,
        schedule, learning rate), of another machine or build (environment.IDENTITY), or of the
        same dataset spec over other data (its fingerprint in ``meta["datasets"]``): mixing them
        would make the tables compare unlike runs, or put one machine's times under another's name.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        old = self.meta()
        if rows and not old:
            raise RunsError(
                f"{self.csv_path} has no run.json beside it, so its configuration is unknown; "
                "use a new --out, or delete results.csv to start over"
            )
        datasets = dict(old.get("datasets", {}))
        if rows:
            self._check_protocol(old.get("config", {}), meta["config"], rows)
            self._check_epochs(rows, meta["config"])
            self._check_machine(old.get("environment", {}), meta["environment"])
            for spec, fingerprint in meta.get("datasets", {}).items():
                if datasets.get(spec, fingerprint) != fingerprint:
                    raise RunsError(
                        f"{self.out} holds {spec} runs trained on other data (fingerprint "
                        f"{datasets[spec]}, now {fingerprint}): use a new --out, or delete its "
                        "results.csv to start over"
                    )
        else:
            datasets = {}
        datasets.update(meta.get("datasets", {}))
        finished = self.finished(rows)
        kept = [row for row in rows if run_key(row) in finished]
        if (
            len(kept) != len(rows)
            or not schema.header_is_current(self.csv_path, schema.RESULTS)
            or (rows and not self.csv_path.read_text().endswith("\n"))
        ):
            self._rewrite(kept)
        commands = old.get("commands", []) if rows else []
        self._write_meta({**meta, "datasets": datasets, "commands": commands})
        return finished

    def log_command(self, entry: dict) -> None:
        """Add one command's record (what it ran, its wall time by phase) to run.json's
        ``commands``: the folder's history, which the report states with its grid."""
        meta = self.meta()
        meta["commands"] = [*meta.get("commands", []), entry]
        self._write_meta(meta)

    def _write_meta(self, meta: dict) -> None:
        schema.write_atomic(self.meta_path, json.dumps(meta, indent=2) + "\n")

    def _check_protocol(self, old: dict, new: dict, rows: list[dict]) -> None:
        """The command's workload (dataset × model) must keep the batch size and schedule of
        its runs in OUT, and the rate rule of the last command where that was the same
        workload; another workload may train under its own (the memorisation workload's batch
        128 beside the linear model's 256), as each workload's verdicts compare its own runs."""
        workload = _workload(new)
        ours = _runs_of(rows, workload)
        before = _workload(old)
        # the rate rule (a fixed --lr or tuned) is the last command's: compared where that
        # command trained this workload
        changed = ["lr"] if before == workload and old.get("lr") != new.get("lr") else []
        for key, kind in (("batch_size", int), ("schedule", str)):
            found = {
                kind(float(row[key]) if kind is int else row[key])
                for row in ours
                if row.get(key) not in (None, "")
            }
            found.discard(new.get(key))
            if found:
                changed.append(key)
                old = {**old, key: ", ".join(map(str, sorted(found)))}
        if changed:
            what = ", ".join(f"{k} {old.get(k)} -> {new.get(k)}" for k in changed)
            raise RunsError(
                f"{self.out} holds results of another configuration ({what}); "
                "use a new --out, or delete its results.csv to start over"
            )

    def _check_epochs(self, rows: list[dict], new: dict) -> None:
        """Our trainer's runs of the command's workload must have its number of epochs."""
        workload = _workload(new)
        found = {int(float(row["epochs"])) for row in _runs_of(rows, workload)}
        found.discard(int(new["epochs"]))
        if found:
            raise RunsError(
                f"{self.out} holds results of another configuration for {' · '.join(workload)} "
                f"(epochs {', '.join(map(str, sorted(found)))} -> {new['epochs']}); use a new "
                "--out, or delete its results.csv to start over"
            )

    def _check_machine(self, old: dict, new: dict) -> None:
        if environment.identity(old) != environment.identity(new):
            raise RunsError(
                f"{self.out} holds runs measured on another machine or build "
                f"({environment.describe(old)}; this is {environment.describe(new)}) and a report "
                "never mixes machines: use a new --out, or delete its results.csv to start over"
            )

    def resume(self, configs: list[RunConfig]) -> set[RunConfig]:
        """The finished runs among ``configs``; drops rows of runs that are unfinished, or stale:
        the same (trainer, dataset, model, entry, device, seed, noise) as one of ``configs``
        under another rate or setting (after a re-tune), so no two versions of a run ever meet
        in the tables."""
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
        schema.append_row(self.csv_path, schema.RESULTS, row)

    def save_weights(self, config: RunConfig, state: dict[str, torch.Tensor]) -> Path:
        """Add a finished run's final parameters to its workload's file, atomically.

        OUT/weights/<dataset>__<model>.pt holds {run slug: state_dict} for every saved run of that
        workload (one file per workload, not per run); it is rewritten whole (a temporary file,
        then a rename) as each run finishes, so a kill never leaves it torn. Only the process
        that holds OUT's lock writes it.
        """
        path = weights_file(self.out, config.dataset, config.model)
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = torch.load(path, map_location="cpu", weights_only=True) if path.exists() else {}
        saved[slug(config)] = {name: tensor.detach().cpu() for name, tensor in state.items()}
        tmp = path.with_name(path.name + ".tmp")
        torch.save(saved, tmp)
        os.replace(tmp, path)
        return path

    def _rewrite(self, rows: list[dict]) -> None:
        schema.write_rows(self.csv_path, schema.RESULTS, rows)


def _identity(config: RunConfig) -> tuple:
    """What a run is, whatever its rate and setting: a tuned run is one of its entry."""
    return (
        config.trainer,
        config.dataset,
        config.model,
        config.entry or config.loss,
        config.device,
        config.seed,
        config.noise,
        config.validation,
    )
