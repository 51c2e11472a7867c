"""The side stages of a study, each cached in its own CSV of OUT, keyed by dataset and model:
tuning (bench.study.tune), the batch-size sweep, the step anatomy, the L-BFGS optimum,
scikit-learn peers, the textbook side by side and the serial timing. Every side cache is read
and rewritten through one helper, :class:`SideCache`.

Stages marked linear-only run for softmax regression alone (``part.linear``); ``skipped`` says
why one did not run, for the report (run.json's ``skipped``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tqdm import tqdm

import losses
from bench import models, schema, suite
from bench.analysis import reference
from bench.datasets import Dataset
from bench.peers import sklearn as sklearn_peers
from bench.peers import textbook
from bench.study import speed
from bench.study import tune as tune_
from bench.training import floors

# Stages that need a linear model, and why: what the report says when one is skipped.
LINEAR_ONLY = {
    "reference": "the L-BFGS optimum is the convex optimum of a linear model's objective",
    "peers": "scikit-learn's SGDClassifier and LogisticRegression are linear models",
    "stacked tuning": "stacking rates into one matmul needs a linear model; rates are tuned one "
    "run at a time instead",
}


@dataclasses.dataclass(frozen=True)
class SideCache:
    """One side cache: OUT/``name`` with ``columns``, whose rows of one workload are those whose
    ``keys`` columns match it. With ``remeasure``, a file from an older version of lossbench
    (other columns) is measured again rather than refused: it is a cache of measurements."""

    name: str
    columns: tuple[str, ...]
    keys: tuple[str, ...] = ("dataset", "model")
    remeasure: bool = False

    def read(self, out: Path, workload: dict[str, str]) -> tuple[list[dict], list[dict]]:
        """(rows of ``workload``, rows of every other workload)."""
        path = Path(out) / self.name
        try:
            rows = schema.read_rows(path, self.columns)
        except schema.SchemaError:
            if not self.remeasure:
                raise
            print(f"{path}: from an older version of lossbench, measuring it again")
            rows = []
        mine = [all(r[k] == str(workload[k]) for k in self.keys) for r in rows]
        return (
            [r for r, m in zip(rows, mine, strict=True) if m],
            [r for r, m in zip(rows, mine, strict=True) if not m],
        )

    def write(self, out: Path, rows: list[dict]) -> None:
        schema.write_rows(Path(out) / self.name, self.columns, rows)


SPEED = SideCache("speed.csv", schema.SPEED)
TEXTBOOK = SideCache("textbook.csv", schema.TEXTBOOK)
ANATOMY = SideCache("anatomy.csv", schema.ANATOMY, remeasure=True)
REFERENCE = SideCache("reference.csv", schema.REFERENCE)
PEERS = SideCache("peers.csv", schema.PEERS, keys=("dataset",))
TIMING = SideCache("timing.csv", schema.TIMING)


def tune(
    out: Path,
    entries,
    levels,
    data: Dataset,
    device: str,
    stop,
    *,
    model: str,
    epochs: int,
    batch_size: int,
    schedule: str,
    retune: bool,
    budget: int = tune_.BUDGET,
    cluster=None,
    data_root=None,
    imports=(),
    screen_epochs: int | None = None,
    keep: int = tune_.KEEP,
    validation: str = "noisy",
    optimizer: str = "sgd",
    decades: tuple[float, float] = tune_.RATES,
    selection: str = "last",
) -> dict[tuple[str, str], tune_.Trial]:
    """Each loss's setting and rate per noise level from the validation search (bench.study.
    tune), cached in OUT/tuning.csv; on ``cluster`` (bench.study.parallel) each rung of one
    loss's search is one task, recorded here as it comes back. Returns (noise, entry) -> Trial.
    """
    tuner = tune_.Tuner(
        out / "tuning.csv",
        epochs=epochs,
        batch_size=batch_size,
        schedule=schedule,
        dataset=data.spec,
        model=model,
        retune=retune,
        budget=budget,
        screen_epochs=screen_epochs,
        keep=keep,
        metric=tune_.metric_for(data.prior),
        validation=validation,
        optimizer=optimizer,
        decades=decades,
        selection=selection,
    )
    jobs = tuner.todo(entries, levels, device)
    if jobs:
        with tqdm(total=0, unit="trial", desc="tuning", dynamic_ncols=True) as bar:

            def step(row):
                bar.set_postfix_str(
                    f"{row['loss']} {row['noise']} lr {row['lr']:g} ({row['epochs']} ep)"
                )
                bar.update(1)

            while jobs:
                bar.total = bar.n + sum(len(job.trials) for job in jobs)
                if cluster is None:
                    tuner.run(
                        entries, levels, data.to(device), device, on_trial=step, should_stop=stop
                    )
                else:
                    _tune_on(cluster, tuner, jobs, device, step, stop, data_root, imports)
                jobs = tuner.todo(entries, levels, device)
    chosen = tuner.chosen(entries, levels, device)
    for (level, entry), trial in chosen.items():
        tqdm.write(
            f"{level:<10} {trial.spec:<44} lr {trial.lr:<6g} (best validation "
            f"{tuner.metric} of {entry})"
        )
    searches, screens = tuner.resolving(entries, levels, data, device)
    _replace(out / "resolving.csv", schema.RESOLVING, searches, [*RESOLVED, "entry"])
    _replace(out / "screening.csv", schema.SCREENING, screens, RESOLVED)
    return chosen


# What OUT/resolving.csv and OUT/screening.csv rows are of (bench.analysis.resolving).
RESOLVED = ["dataset", "model", "validation", "noise"]


def _replace(path: Path, columns: tuple[str, ...], frame, keys: list[str]) -> None:
    """Write ``frame``'s rows into ``path`` in place of the rows with the same ``keys``."""
    try:
        rows = schema.read_rows(path, columns)
    except schema.SchemaError:  # a cache of what tuning.csv says: recomputed, never refused
        rows = []
    new = frame.to_dict("records")
    fresh = {tuple(str(row[k]) for k in keys) for row in new}
    kept = [row for row in rows if tuple(row[k] for k in keys) not in fresh]
    schema.write_rows(path, columns, kept + new)


def batch_size_sweep(
    out: Path, data: Dataset, devices, batch_sizes, rates, stop, *, model: str, step_mode: str
) -> None:
    """The speed sweep into OUT/speed.csv; kept when it already covers these sizes and devices."""
    workload = {"dataset": data.spec, "model": model}
    ours, others = SPEED.read(out, workload)
    done = {(r["device"], int(r["batch_size"])) for r in ours}
    if {(d, b) for d in devices for b in batch_sizes} <= done:
        return
    lr = rates.get("ce") or suite.built_in_rate("ce")
    rows = speed.sweep(
        data, devices, batch_sizes, lr=lr, should_stop=stop, step_mode=step_mode, model=model
    )
    SPEED.write(out, others + rows)
    print(
        f"batch-size sweep: {len(batch_sizes)} sizes on {', '.join(devices)} -> {out / SPEED.name}"
    )


def textbook_side_by_side(config, data: Dataset, out: Path, step_mode: str):
    """The textbook run's ``beside``: after each of the book's epochs, one epoch of lossbench's
    ``ce`` on the same task (bench.peers.textbook.side_by_side), the pairs so far written to
    OUT/textbook.csv in place of this workload's earlier ones (a rerun of the book's loop
    starts over)."""
    beside, pairs = textbook.side_by_side(config, data, step_mode)
    workload = {"dataset": config.dataset, "model": config.model}
    _, others = TEXTBOOK.read(out, workload)

    def record(row: dict) -> None:
        beside(row)
        TEXTBOOK.write(
            out, others + [{**workload, "batch_size": config.batch_size, **pair} for pair in pairs]
        )

    return record


def step_anatomy(out: Path, specs, data: Dataset, batch_size: int, *, model: str) -> None:
    """Where each loss's CPU step time goes, cached in OUT/anatomy.csv for this batch size
    (a file from an older version of lossbench is measured again rather than refused)."""
    workload = {"dataset": data.spec, "model": model}
    ours, others = ANATOMY.read(out, workload)
    rows = [r for r in ours if int(r["batch_size"]) == batch_size and r["loss"] in specs]
    todo = [s for s in specs if s not in {r["loss"] for r in rows}]
    for spec in todo:
        loss = losses.parse(spec).with_prior(data.prior)
        parts = floors.step_anatomy(loss, data, batch_size, model=model)
        rows.append(
            {**workload, "loss": spec, "batch_size": batch_size}
            | {f"{part}_us": seconds * 1e6 for part, seconds in parts.items()}
        )
    if todo or not (out / ANATOMY.name).exists():
        ANATOMY.write(out, others + rows)


def convex_references(out: Path, specs, data: Dataset, *, model: str, max_iter: int) -> None:
    """L-BFGS full-batch optimum of each convex loss, cached in OUT/reference.csv. Linear only.
    (A parallel study computes them on its cluster first: :func:`reference_jobs`.)"""
    todo = _references_todo(out, specs, data.spec, model, max_iter)
    for spec in tqdm(
        todo, desc="L-BFGS reference", unit="loss", dynamic_ncols=True, disable=not todo
    ):
        result = reference.optimum(spec, data, max_iter=max_iter, model=model)
        _record_reference(out, data.spec, model, max_iter, result)


def reference_jobs(
    out: Path, specs, dataset: str, *, model: str, max_iter: int, data_root, imports=()
) -> list:
    """The missing L-BFGS optima as cluster jobs (bench.study.parallel.Job) for
    :meth:`bench.study.parallel.Cluster.run`: recorded in OUT/reference.csv as each returns; one
    that fails on a worker is left to :func:`convex_references` in the driver."""
    from bench.study import parallel

    def finished(item, result):
        if "row" in result:
            _record_reference(out, dataset, model, max_iter, result["row"])

    return [
        parallel.Job(
            parallel.reference_task,
            parallel.ReferenceItem(spec, dataset, model, max_iter, str(data_root), tuple(imports)),
            finished,
        )
        for spec in _references_todo(out, specs, dataset, model, max_iter)
    ]


def _references_todo(out: Path, specs, dataset: str, model: str, max_iter: int) -> list[str]:
    if not max_iter or not models.parse(model).linear:
        return []
    ours, _ = REFERENCE.read(out, {"dataset": dataset, "model": model})
    done = {r["loss"] for r in ours if int(r["max_iter"]) == max_iter}
    return [s for s in specs if losses.parse(s).convex_in_scores and s not in done]


def _record_reference(out: Path, dataset: str, model: str, max_iter: int, result: dict) -> None:
    """Add one optimum to OUT/reference.csv (replacing that loss's row at other iterations)."""
    workload = {"dataset": dataset, "model": model}
    ours, others = REFERENCE.read(out, workload)
    rows = [r for r in ours if int(r["max_iter"]) == max_iter and r["loss"] != result["loss"]]
    REFERENCE.write(out, others + rows + [{**result, **workload, "max_iter": max_iter}])
    tqdm.write(
        f"L-BFGS optimum of {result['loss']}: train loss {result['train_loss']:.4f}, "
        f"test acc {result['test_acc']:.4f} ({result['seconds']:.0f} s)"
    )


def peer_rows(out: Path, data: Dataset, *, model: str, epochs: int) -> None:
    """scikit-learn peers, cached in OUT/peers.csv for this dataset and number of epochs (a
    parallel study fits them on its cluster first: :func:`peer_jobs`)."""
    if not _peers_todo(out, data.spec, model, epochs):
        return
    rows = []

    def report_row(row):
        rows.append(row)
        _record_peers(out, data.spec, rows)
        _print_peer(row)

    sklearn_peers.run(data, epochs=epochs, on_row=report_row)


def peer_jobs(
    out: Path,
    dataset: str,
    *,
    model: str,
    epochs: int,
    data_root,
    imports=(),
    concurrent: bool = True,
) -> list:
    """The scikit-learn peers as cluster jobs (bench.study.parallel.Job), one per peer; their
    rows are recorded as they return, marked ``concurrent`` (their fit seconds were measured
    beside other work). If one fails, :func:`peer_rows` fits them all again in the driver."""
    from bench.study import parallel

    if not sklearn_peers.available() or not _peers_todo(out, dataset, model, epochs):
        return []
    rows: list[dict] = []
    order = [(peer, loss) for peer, loss, _ in sklearn_peers.estimators(epochs=epochs)]

    def finished(item, result):
        if "row" in result:
            rows.append({**result["row"], "concurrent": concurrent})
            _print_peer(result["row"])
            if len(rows) == len(order):  # recorded whole, in the peers' order, or not at all
                rows.sort(key=lambda r: order.index((r["peer"], r["loss"])))
                _record_peers(out, dataset, rows)

    return [
        parallel.Job(
            parallel.peer_task,
            parallel.PeerItem(dataset, str(data_root), tuple(imports), epochs, index),
            finished,
        )
        for index in range(len(order))
    ]


def _peers_todo(out: Path, dataset: str, model: str, epochs: int) -> bool:
    """Whether any peer (each (peer, loss) of bench.peers.sklearn.estimators) lacks its row for
    ``dataset`` at ``epochs``: a peer whose iterations are the epochs (``max_iter``) must have
    run that many; one that runs to convergence records its own count. Linear model only."""
    if not models.parse(model).linear:
        return False
    ours, _ = PEERS.read(out, {"dataset": dataset})
    found = {(r["peer"], r["loss"]): int(r["epochs"]) for r in ours}
    for peer, loss, estimator in sklearn_peers.estimators(epochs=epochs):
        if (peer, loss) not in found:
            return True
        if getattr(estimator, "max_iter", None) == epochs and found[(peer, loss)] != epochs:
            return True
    return False


def _record_peers(out: Path, dataset: str, rows: list[dict]) -> None:
    """Write OUT/peers.csv with ``rows`` as this dataset's peers (other datasets kept)."""
    _, others = PEERS.read(out, {"dataset": dataset})
    PEERS.write(out, others + rows)


def _print_peer(row: dict) -> None:
    tqdm.write(
        f"peer {row['peer']} {row['loss']}: test acc {row['test_acc']:.4f} in {row['fit_s']:.1f} s"
    )


def _tune_on(cluster, tuner, jobs, device, step, stop, data_root, imports) -> None:
    from bench.study import parallel

    items = [
        parallel.TuneItem(tuner.arguments(), job, device, str(data_root), tuple(imports))
        for job in jobs
    ]

    def finished(item: parallel.TuneItem, result):
        if "error" in result:
            raise ValueError(
                f"tuning {item.job.entry} at noise {item.job.noise} failed on a "
                f"worker: {result['error']}"
            )
        for trial in result["trials"]:
            tuner.record(trial)
            step(trial)

    cluster.map(
        parallel.tune_task, items, should_stop=stop, on_result=finished, cuda=parallel.is_cuda
    )


# A parallel study's runs share the machine; each loss is timed again here, alone, this long.
TIMING_EPOCHS = 2


def serial_timing(
    out: Path,
    specs,
    data: Dataset,
    devices,
    rates,
    stop,
    *,
    model: str,
    batch_size: int,
    schedule: str,
    step_mode: str,
) -> None:
    """The speed of each loss measured with nothing else running: TIMING_EPOCHS epochs of seed
    0 per loss and device, in this process, cached in OUT/timing.csv. A parallel study's speed
    table comes from here, since its own runs shared the machine."""
    from bench.training import loop
    from bench.training.config import RunConfig

    workload = {"dataset": data.spec, "model": model}
    ours, others = TIMING.read(out, workload)
    done = {(r["loss"], r["device"]) for r in ours if int(r["batch_size"]) == batch_size}
    todo = [(s, d) for d in devices for s in specs if (s, d) not in done]
    rows = [r for r in ours if int(r["batch_size"]) == batch_size]
    for spec, device in tqdm(
        todo, desc="serial timing", unit="loss", dynamic_ncols=True, disable=not todo
    ):
        on_device = data.to(device)
        floor = floors.gemm_floor(on_device, batch_size, repeats=2, model=model)
        config = RunConfig(
            loss=spec,
            device=device,
            seed=0,
            epochs=TIMING_EPOCHS,
            lr=rates[spec],
            batch_size=batch_size,
            schedule=schedule,
            **workload,
        )
        loop.train(
            config,
            on_device,
            should_stop=stop,
            step_mode=step_mode,
            train_metrics=False,
            on_epoch=lambda row, f=floor: rows.append({**row, "floor_s": f, "concurrent": False}),
        )
        TIMING.write(out, others + rows)
