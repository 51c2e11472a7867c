"""The side stages of a study, each cached in its own CSV of OUT, keyed by dataset and model:
rate tuning, the batch-size sweep, the step anatomy, the L-BFGS optimum and scikit-learn peers.

Stages marked linear-only run for softmax regression alone (``part.linear``); ``skipped`` says
why one did not run, for the report (run.json's ``skipped``).
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

import losses
from bench import models, schema, suite
from bench.analysis import reference
from bench.datasets import Dataset
from bench.peers import sklearn as sklearn_peers
from bench.peers import textbook
from bench.study import speed, tune
from bench.training import floors

# Stages that need a linear model, and why: what the report says when one is skipped.
LINEAR_ONLY = {
    "reference": "the L-BFGS optimum is the convex optimum of a linear model's objective",
    "peers": "scikit-learn's SGDClassifier and LogisticRegression are linear models",
    "stacked tuning": "stacking rates into one matmul needs a linear model; rates are tuned one "
                      "run at a time instead",
}


def _keyed(rows: list[dict], workload: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """(rows of this workload, rows of every other workload)."""
    ours = [r for r in rows if all(r[k] == v for k, v in workload.items())]
    return ours, [r for r in rows if r not in ours]


def tune_rates(out: Path, specs, data: Dataset, device: str, stop, *, model: str, epochs: int,
               batch_size: int, schedule: str, retune: bool, cluster=None, data_root=None,
               imports=(), screen_epochs: int | None = None) -> dict[str, float]:  # fmt: skip
    """Each loss's rate from the validation search, cached in OUT/tuning.csv; on ``cluster``
    (bench.study.parallel) each loss's trials of a stage are one task, recorded here as they
    come back. ``screen_epochs``: the two-stage search of bench.study.tune."""
    tuner = tune.Tuner(out / "tuning.csv", epochs=epochs, batch_size=batch_size,
                       schedule=schedule, dataset=data.spec, model=model, retune=retune,
                       screen_epochs=screen_epochs)  # fmt: skip
    todo = tuner.missing(specs, device)
    if todo:
        with tqdm(total=len(todo), unit="trial", desc="tuning", dynamic_ncols=True) as bar:

            def step(trial):
                bar.set_postfix_str(f"{trial['loss']} lr {trial['lr']:g} ({trial['epochs']} ep)")
                bar.update(1)

            while todo:
                bar.total = bar.n + len(todo)
                if cluster is None:
                    tuner.run(specs, data.to(device), device, on_trial=step, should_stop=stop)
                else:
                    _tune_on(cluster, tuner, specs, device, step, stop, data_root, imports)
                todo = tuner.missing(specs, device)
    rates = tuner.chosen(specs, device)
    for spec, lr in rates.items():
        tqdm.write(f"learning rate {lr:<6g} for {spec} (best validation accuracy)")
    return rates


def batch_size_sweep(out: Path, data: Dataset, devices, batch_sizes, rates, stop, *,
                     model: str, step_mode: str) -> None:  # fmt: skip
    """The speed sweep into OUT/speed.csv; kept when it already covers these sizes and devices."""
    path = out / "speed.csv"
    workload = {"dataset": data.spec, "model": model}
    ours, others = _keyed(schema.read_rows(path, schema.SPEED), workload)
    done = {(r["device"], int(r["batch_size"])) for r in ours}
    if {(d, b) for d in devices for b in batch_sizes} <= done:
        return
    lr = rates.get("ce") or suite.built_in_rate("ce")
    rows = speed.sweep(data, devices, batch_sizes, lr=lr, should_stop=stop, step_mode=step_mode,
                       model=model)  # fmt: skip
    schema.write_rows(path, schema.SPEED, others + rows)
    print(f"batch-size sweep: {len(batch_sizes)} sizes on {', '.join(devices)} -> {path}")


def textbook_side_by_side(config, data: Dataset, out: Path, step_mode: str):
    """The textbook run's ``beside``: after each of the book's epochs, one epoch of lossbench's
    ``ce`` on the same task (bench.peers.textbook.side_by_side), the pairs so far written to
    OUT/textbook.csv in place of this workload's earlier ones (a rerun of the book's loop
    starts over)."""
    beside, pairs = textbook.side_by_side(config, data, step_mode)
    path = out / "textbook.csv"
    workload = {"dataset": config.dataset, "model": config.model}
    _, others = _keyed(schema.read_rows(path, schema.TEXTBOOK), workload)

    def record(row: dict) -> None:
        beside(row)
        schema.write_rows(path, schema.TEXTBOOK,
                          others + [{**workload, "batch_size": config.batch_size, **pair}
                                    for pair in pairs])  # fmt: skip

    return record


def step_anatomy(out: Path, specs, data: Dataset, batch_size: int, *, model: str) -> None:
    """Where each loss's CPU step time goes, cached in OUT/anatomy.csv for this batch size.

    The file is a cache of seconds-long measurements: one from an older version of lossbench
    (other columns) is measured again rather than refused."""
    path = out / "anatomy.csv"
    try:
        cached = schema.read_rows(path, schema.ANATOMY)
    except schema.SchemaError:
        print(f"{path}: from an older version of lossbench, measuring the step anatomy again")
        cached = []
    workload = {"dataset": data.spec, "model": model}
    ours, others = _keyed(cached, workload)
    rows = [r for r in ours if int(r["batch_size"]) == batch_size and r["loss"] in specs]
    todo = [s for s in specs if s not in {r["loss"] for r in rows}]
    for spec in todo:
        loss = losses.parse(spec).with_prior(data.prior)
        parts = floors.step_anatomy(loss, data, batch_size, model=model)
        rows.append(
            {**workload, "loss": spec, "batch_size": batch_size}
            | {f"{part}_us": seconds * 1e6 for part, seconds in parts.items()}
        )
    if todo or not path.exists():
        schema.write_rows(path, schema.ANATOMY, others + rows)


def convex_references(out: Path, specs, data: Dataset, *, model: str, max_iter: int) -> None:
    """L-BFGS full-batch optimum of each convex loss, cached in OUT/reference.csv. Linear only.
    (A parallel study computes them on its cluster first: :func:`reference_jobs`.)"""
    todo = _references_todo(out, specs, data.spec, model, max_iter)
    for spec in tqdm(todo, desc="L-BFGS reference", unit="loss", dynamic_ncols=True,
                     disable=not todo):
        result = reference.optimum(spec, data, max_iter=max_iter, model=model)
        _record_reference(out, data.spec, model, max_iter, result)


def reference_jobs(out: Path, specs, dataset: str, *, model: str, max_iter: int, data_root,
                   imports=()) -> list[tuple]:  # fmt: skip
    """The missing L-BFGS optima as cluster jobs (task, item, on_result) for
    :meth:`bench.study.parallel.Cluster.run`: recorded in OUT/reference.csv as each returns; one
    that fails on a worker is left to :func:`convex_references` in the driver."""
    from bench.study import parallel

    def finished(job, result):
        if "row" in result:
            _record_reference(out, dataset, model, max_iter, result["row"])

    return [(parallel.reference_task,
             (spec, dataset, model, max_iter, str(data_root), tuple(imports)), finished)
            for spec in _references_todo(out, specs, dataset, model, max_iter)]  # fmt: skip


def _references_todo(out: Path, specs, dataset: str, model: str, max_iter: int) -> list[str]:
    if not max_iter or not models.parse(model).linear:
        return []
    workload = {"dataset": dataset, "model": model}
    ours, _ = _keyed(schema.read_rows(out / "reference.csv", schema.REFERENCE), workload)
    done = {r["loss"] for r in ours if int(r["max_iter"]) == max_iter}
    return [s for s in specs if losses.parse(s).convex_in_scores and s not in done]


def _record_reference(out: Path, dataset: str, model: str, max_iter: int, result: dict) -> None:
    """Add one optimum to OUT/reference.csv (replacing that loss's row at other iterations)."""
    path = out / "reference.csv"
    workload = {"dataset": dataset, "model": model}
    ours, others = _keyed(schema.read_rows(path, schema.REFERENCE), workload)
    rows = [r for r in ours if int(r["max_iter"]) == max_iter and r["loss"] != result["loss"]]
    schema.write_rows(path, schema.REFERENCE, others + rows + [{**result, **workload,
                                                                "max_iter": max_iter}])
    tqdm.write(f"L-BFGS optimum of {result['loss']}: train loss {result['train_loss']:.4f}, "
               f"test acc {result['test_acc']:.4f} ({result['seconds']:.0f} s)")


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


def peer_jobs(out: Path, dataset: str, *, model: str, epochs: int, data_root, imports=(),
              concurrent: bool = True) -> list[tuple]:  # fmt: skip
    """The scikit-learn peers as cluster jobs (task, item, on_result) for
    :meth:`bench.study.parallel.Cluster.run`, one per peer; their rows are recorded as they
    return, marked ``concurrent`` (their fit seconds were measured beside other work). If one
    fails, :func:`peer_rows` fits them all again in the driver."""
    from bench.study import parallel

    if not _peers_todo(out, dataset, model, epochs) or not sklearn_peers.available():
        return []
    rows: list[dict] = []
    order = [(peer, loss) for peer, loss, _ in sklearn_peers.estimators(epochs=epochs)]

    def finished(job, result):
        if "row" in result:
            rows.append({**result["row"], "concurrent": concurrent})
            _print_peer(result["row"])
            if len(rows) == len(order):  # recorded whole, in the peers' order, or not at all
                rows.sort(key=lambda r: order.index((r["peer"], r["loss"])))
                _record_peers(out, dataset, rows)

    return [(parallel.peer_task, (dataset, str(data_root), tuple(imports), epochs, index),
             finished) for index in range(len(order))]  # fmt: skip


def _peers_todo(out: Path, dataset: str, model: str, epochs: int) -> bool:
    if not models.parse(model).linear:
        return False
    return not any(r["dataset"] == dataset and r["peer"] == "SGDClassifier"
                   and int(r["epochs"]) == epochs
                   for r in schema.read_rows(out / "peers.csv", schema.PEERS))  # fmt: skip


def _record_peers(out: Path, dataset: str, rows: list[dict]) -> None:
    """Write OUT/peers.csv with ``rows`` as this dataset's peers (other datasets kept)."""
    path = out / "peers.csv"
    others = [r for r in schema.read_rows(path, schema.PEERS) if r["dataset"] != dataset]
    schema.write_rows(path, schema.PEERS, others + rows)


def _print_peer(row: dict) -> None:
    tqdm.write(f"peer {row['peer']} {row['loss']}: test acc {row['test_acc']:.4f} "
               f"in {row['fit_s']:.1f} s")


def _tune_on(cluster, tuner, specs, device, step, stop, data_root, imports) -> None:
    from bench.study import parallel

    jobs = [(tuner.arguments(), spec, rates, device, str(data_root), tuple(imports), epochs)
            for (spec, epochs), rates in tuner.todo(specs, device).items()]  # fmt: skip

    def finished(job, result):
        if "error" in result:
            raise ValueError(f"tuning {job[1]} failed on a worker: {result['error']}")
        for trial in result["trials"]:
            tuner.record(trial)
            step(trial)

    cluster.map(parallel.tune_task, jobs, should_stop=stop, on_result=finished,
                cuda=parallel.is_cuda)  # fmt: skip


# A parallel study's runs share the machine; each loss is timed again here, alone, this long.
TIMING_EPOCHS = 2


def serial_timing(out: Path, specs, data: Dataset, devices, rates, stop, *, model: str,
                  batch_size: int, schedule: str, step_mode: str) -> None:  # fmt: skip
    """The speed of each loss measured with nothing else running: TIMING_EPOCHS epochs of seed
    0 per loss and device, in this process, cached in OUT/timing.csv. A parallel study's speed
    table comes from here, since its own runs shared the machine."""
    from bench.training import loop
    from bench.training.config import RunConfig

    path = out / "timing.csv"
    workload = {"dataset": data.spec, "model": model}
    ours, others = _keyed(schema.read_rows(path, schema.TIMING), workload)
    done = {(r["loss"], r["device"]) for r in ours if int(r["batch_size"]) == batch_size}
    todo = [(s, d) for d in devices for s in specs if (s, d) not in done]
    rows = [r for r in ours if int(r["batch_size"]) == batch_size]
    for spec, device in tqdm(todo, desc="serial timing", unit="loss", dynamic_ncols=True,
                             disable=not todo):  # fmt: skip
        on_device = data.to(device)
        floor = floors.gemm_floor(on_device, batch_size, repeats=2, model=model)
        config = RunConfig(loss=spec, device=device, seed=0, epochs=TIMING_EPOCHS,
                           lr=rates[spec], batch_size=batch_size, schedule=schedule,
                           **workload)  # fmt: skip
        loop.train(config, on_device, should_stop=stop, step_mode=step_mode,
                   train_metrics=False, on_epoch=lambda row, f=floor: rows.append(
                       {**row, "floor_s": f, "concurrent": False}))  # fmt: skip
        schema.write_rows(path, schema.TIMING, others + rows)
