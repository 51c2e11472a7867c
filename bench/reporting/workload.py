"""One workload of a results folder, a dataset × model: the rows, caches and data its sections read.

A results folder may hold runs of several workloads (each results row and cache row names its
dataset and model); the report is written per workload, and every section reads one
:class:`Workload` and nothing else.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from pathlib import Path

import pandas as pd

from bench import datasets, models, schema
from bench.analysis import tables
from bench.reporting.markdown import labelled
from bench.training.config import TRAINER

# OUT's side caches, by file stem, with their columns (bench.schema).
CACHES = {
    "tuning": schema.TUNING,
    "speed": schema.SPEED,
    "anatomy": schema.ANATOMY,
    "reference": schema.REFERENCE,
    "peers": schema.PEERS,
    "timing": schema.TIMING,
    "failures": schema.FAILURES,
    "textbook": schema.TEXTBOOK,
}
# Stages that need a linear model (bench.study.stages marks them); a workload of another model
# that run.json does not describe says so with a reason of its own.
LINEAR_STAGES = ("reference", "peers", "stacked tuning")


@dataclasses.dataclass(eq=False)
class Workload:
    """What the report knows of one (dataset, model) of OUT.

    ``rows`` and ``final`` are its results rows and the last row of each finished run, both with
    a ``run`` label; ``caches`` its rows of each side cache (empty frames when absent); ``data``
    its :class:`bench.datasets.Dataset`, or None with ``data_note`` saying why; ``prefix`` goes
    before its figures' file names when the folder holds several workloads.
    """

    out: Path
    meta: dict
    dataset: str
    model: str
    rows: pd.DataFrame
    final: pd.DataFrame
    unfinished: int
    caches: dict[str, pd.DataFrame]
    data: datasets.Dataset | None = None
    data_note: str | None = None
    prefix: str = ""

    @property
    def title(self) -> str:
        return f"{self.dataset} · {self.model}"

    @functools.cached_property
    def accuracy(self) -> pd.DataFrame:
        return labelled(tables.accuracy(self.final))

    @functools.cached_property
    def speed(self) -> pd.DataFrame:
        """The speed table from the runs timed alone; when every run shared the machine (a
        parallel study), from the serial timing phase (OUT/timing.csv) instead."""
        table = tables.speed(self.rows, self.final)
        timing = self.caches["timing"]
        if table[table["trainer"] == TRAINER].empty and not timing.empty:
            final, _ = tables.finished_runs(timing)
            table = tables.speed(timing, final)
        return labelled(table)

    @property
    def timed_apart(self) -> bool:
        """Whether the speed table comes from the serial timing phase, not from the runs."""
        return bool(self.caches["timing"].shape[0]) and tables.serial(self.rows).empty

    @property
    def speed_only(self) -> bool:
        """Whether this workload's runs can only measure speed, not pick a loss: no rate was
        tuned (no tuning rows) and no loss has more than one seed."""
        mine = self.final[self.final["trainer"] == TRAINER]
        seeds = mine.groupby("loss")["seed"].nunique()
        return self.caches["tuning"].empty and (seeds.empty or int(seeds.max()) <= 1)

    @functools.cached_property
    def model_part(self) -> models.ModelPart | None:
        """The registered model of this workload; None when it is not registered here."""
        try:
            return models.parse(self.model)
        except ValueError:
            return None

    @property
    def linear(self) -> bool | None:
        return None if self.model_part is None else self.model_part.linear

    def without_weights(self, title: str) -> str:
        """The section ``title`` when its runs' weights are not in OUT/weights (a committed
        sample may leave large ones out): what is missing and how to get it back."""
        return (
            f"## {title}\n\nNot shown: the weights of these runs are not in "
            f"`{self.out.name}/weights/` (a committed sample may leave large weights out); "
            "running the command in run.json again recreates them, and this section."
        )

    def skipped(self, stage: str) -> str | None:
        """Why ``stage`` (a key of run.json's ``skipped``) did not run here; None if it could."""
        config = self.meta.get("config", {})
        commanded = (
            config.get("dataset", schema.UPGRADE["dataset"]),
            config.get("model", schema.UPGRADE["model"]),
        )
        if commanded == (self.dataset, self.model):
            reason = self.meta.get("skipped", {}).get(stage)
            if reason:
                return reason
        if stage in LINEAR_STAGES and self.linear is False:
            return f"it needs a linear model, and {self.model} is not one"
        return None

    @property
    def num_classes(self) -> int | None:
        return None if self.data is None else self.data.num_classes

    @property
    def noun(self) -> str:
        """What one example is called: images for an image dataset."""
        return "images" if self.data is not None and self.data.image_shape else "examples"

    @functools.cached_property
    def train_size(self) -> int | None:
        """Training examples per epoch: the dataset's, else what the speed table measured."""
        if self.data is not None:
            return len(self.data.train_y)
        if self.speed.empty:
            return None
        return int(self.speed["examples"].median())

    @functools.cached_property
    def validation(self) -> datasets.Dataset | None:
        """The validation split the rates were tuned and temperatures fitted on (its test set
        is the held-out part), on the CPU; None without data, or data too small to split."""
        if self.data is None:
            return None
        try:
            return self.data.to("cpu").validation_split()
        except datasets.DataError:
            return None

    def held_out(self) -> str:
        """The validation split in words: its size from the data when there, else the fraction."""
        if self.validation is None:
            return (
                f"a held-out {datasets.VALIDATION_FRACTION:.1%} of each class's training "
                "examples (seeded), training on the rest"
            )
        held = self.validation.test_y
        counts = held.bincount(minlength=self.data.num_classes)
        each = (
            f"{int(counts[0]):,} per class"
            if bool((counts == counts[0]).all())
            else f"{datasets.VALIDATION_FRACTION:.1%} of each class"
        )
        return (
            f"{len(held):,} training {self.noun} held out ({each}, seeded), training on the "
            f"other {len(self.validation.train_y):,}"
        )


def load(out: Path, meta: dict, data: dict | None = None) -> list[Workload]:
    """The workloads of OUT, in the order results.csv first names them.

    ``data`` maps dataset specs to loaded datasets; a workload whose dataset is not in it is
    loaded through the registry from run.json's data folder (``config.data``), and one that
    cannot be loaded has ``data`` None and a one-line ``data_note``.
    """
    out = Path(out)
    rows = tables.load(out / "results.csv")
    caches = {
        name: tables.read_cache(out / f"{name}.csv", columns) for name, columns in CACHES.items()
    }
    pairs = tables.workloads(rows)
    loaded: dict[str, tuple] = {}
    result = []
    for dataset, model in pairs:
        if dataset not in loaded:
            loaded[dataset] = _dataset(dataset, meta, data or {})
        timing = tables.of_workload(caches["timing"], dataset, model)
        mine = labelled(tables.alone_times(tables.of_workload(rows, dataset, model), timing))
        final, unfinished = tables.finished_runs(mine)
        given, note = loaded[dataset]
        if given is not None and not _registered(model):
            given, note = None, f"model {model} is not registered here: its weights cannot be read"
        result.append(
            Workload(
                out=out,
                meta=meta,
                dataset=dataset,
                model=model,
                rows=mine,
                final=final,
                unfinished=unfinished,
                caches={
                    name: tables.of_workload(frame, dataset, model)
                    for name, frame in caches.items()
                },
                data=given,
                data_note=note,
                prefix="" if len(pairs) == 1 else _slug(f"{dataset}__{model}__"),
            )
        )
    return result


def _dataset(spec: str, meta: dict, given: dict) -> tuple[datasets.Dataset | None, str | None]:
    for key, value in given.items():
        if spec in (key, getattr(value, "spec", None)):
            return value, None
    root = Path(meta.get("config", {}).get("data", "data"))
    try:
        # no provisioning: remaking a report never downloads or installs anything
        return datasets.parse(spec).load(root), None
    except Exception as error:  # noqa: BLE001 — any failure only drops the data's sections
        return None, f"the data could not be loaded ({_first_line(error)})"


def _registered(model: str) -> bool:
    try:
        models.parse(model)
    except ValueError:
        return False
    return True


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def prior_ratio(w) -> float:
    """The training prior's largest class ÷ its smallest: from the data when loaded, else a
    dataset spec's ``ratio=R``; NaN when neither says."""
    if w.data is not None:
        prior = w.data.prior
        return float(prior.max() / prior.min())
    match = re.search(r"ratio=([0-9.]+)", w.dataset)
    return float(match.group(1)) if match else math.nan


def noise_order(noise: str) -> tuple:
    """Clean first, then each protocol by rising level: none, pairs:0.2, sym:0.2, sym:0.4."""
    kind, _, level = noise.partition(":")
    try:
        return (noise != "none", kind, float(level), noise)
    except ValueError:
        return (noise != "none", kind, math.inf, noise)


def name(key) -> str:
    """A workload in words: "fashion_mnist · linear · clean" or "... · sym:0.4"."""
    dataset, model, noise = key
    return f"{dataset} · {model} · {'clean' if noise == 'none' else noise}"
