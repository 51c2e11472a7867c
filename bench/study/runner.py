"""Training every run of a study: in this process, or on a Dask cluster, rows appended to
results.csv by this process alone as they come in."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from bench import schema
from bench.datasets import Dataset
from bench.peers import textbook
from bench.study import stages
from bench.study.results import Results
from bench.training import floors, loop, stacked
from bench.training.config import TRAINER, RunConfig
from bench.training.stacked import STACKED


def train_all(
    todo: list[RunConfig],
    data: dict[str, Dataset],
    results: Results,
    data_root: Path,
    stop,
    step_mode: str = "auto",
) -> None:
    """Train each run here, on its dataset (``data[config.dataset]``), appending its rows as
    epochs end; one summary line per finished run. Nothing else runs meanwhile: ``concurrent``
    is False."""
    total = sum(c.epochs for c in todo)
    with tqdm(total=total, unit="epoch", dynamic_ncols=True, disable=not total) as bar:
        for dataset, device in dict.fromkeys((c.dataset, c.device) for c in todo):
            on_device = data[dataset].to(device)
            for config in (c for c in todo if (c.dataset, c.device) == (dataset, device)):
                # measured right before each run: a shared machine's speed drifts over minutes,
                # and "× floor" should compare the run with the floor of the same moment
                floor = floors.gemm_floor(
                    on_device, config.batch_size, repeats=2, model=config.model
                )
                bar.set_postfix_str(f"{config.loss} {device} seed {config.seed} {config.noise}")
                # the textbook loop does not measure the metrics of imbalance: NaN, not absent
                last = {
                    "floor_s": floor,
                    "concurrent": False,
                    **dict.fromkeys(loop.METRICS, float("nan")),
                }

                def record(row, last=last):
                    last.update(row)
                    results.append(last)
                    bar.update(1)

                if config.trainer == textbook.NAME:
                    textbook.train(
                        config,
                        data_root,
                        on_epoch=record,
                        should_stop=stop,
                        beside=stages.textbook_side_by_side(
                            config, on_device, results.out, step_mode
                        ),
                    )
                else:
                    model = loop.train(
                        config,
                        on_device.for_seed(config.seed),
                        on_epoch=record,
                        should_stop=stop,
                        step_mode=step_mode,
                    )
                if last["status"] == "diverged":
                    bar.update(config.epochs - last["epoch"])
                elif config.trainer != textbook.NAME:
                    results.save_weights(config, model.state_dict())
                tqdm.write(summary(config, last))


def train_parallel(
    todo: list[RunConfig],
    cluster,
    results: Results,
    data_root: Path,
    stop,
    *,
    step_mode: str = "auto",
    imports: tuple[str, ...] = (),
    side_jobs: list[tuple] = (),
    stack: bool = True,
    shared: dict[str, bool] | None = None,
    first_round: bool = True,
) -> None:
    """Train each run on the cluster (bench.study.parallel); append each finished run's rows and
    save its weights here as it comes back. A run that raised goes to OUT/failures.csv with its
    reason, and is redone by the next command. ``side_jobs`` (task, item, on_result), such as
    bench.study.stages.reference_jobs, go in the same queue after the runs. ``shared`` is the
    cluster's ``shared_hosts()`` where the caller has already asked for it; ``first_round``
    False keeps OUT/failures.csv of the command's earlier rounds.

    With ``stack`` (and an eager or automatic step mode), the runs of a linear model that differ
    only in their loss and rate train as stacks (bench.training.stacked.train_losses, at most
    STACK_MOST runs each, whatever the cluster's size, so the results do not depend on it); the
    others, one task per run."""
    from bench.study import parallel

    shared = cluster.shared_hosts() if shared is None else shared
    # runs that share a host are not timed (the serial phase times each loss alone), nor floored
    floor = not any(shared.values())
    together = [
        c for c in todo if stack and step_mode in ("auto", "eager") and stacked.stackable(c)
    ]
    alone = [c for c in todo if c not in together]
    failures = results.out / "failures.csv"
    if first_round:  # it lists the failures of the latest command, all its rounds
        failures.unlink(missing_ok=True)
    with tqdm(total=len(todo), unit="run", dynamic_ncols=True, disable=not todo) as bar:

        def record(config, result, worker):
            bar.update(1)
            if "error" in result:
                schema.append_row(
                    failures, schema.FAILURES, {**config.__dict__, "reason": result["error"]}
                )
                tqdm.write(
                    f"{config.loss} seed {config.seed} {config.noise}: failed on a "
                    f"worker: {result['error']}",
                    file=sys.stderr,
                )
                return
            # a stack's runs share their worker's time with each other: never timed alone
            concurrent = shared.get(worker, True) or result["rows"][0]["step_mode"] == STACKED
            for row in result["rows"]:  # a stack measures no floor: no run of it is timed
                results.append({"floor_s": float("nan"), **row, "concurrent": concurrent})
            if result["state"] is not None:
                results.save_weights(config, result["state"])
            tqdm.write(summary(config, result["rows"][-1]))

        def one(item: parallel.TrainItem, result):
            record(item.config, result, result.get("worker"))

        def many(item: parallel.StackItem, result):  # a stack that failed as a whole fails
            runs = result.get("runs") or [result] * len(item.configs)  # each of its runs
            for config, run in zip(item.configs, runs, strict=True):
                record(config, run, result.get("worker"))

        root, imports = str(data_root), tuple(imports)
        jobs = [
            parallel.Job(parallel.stack_task, parallel.StackItem(tuple(s), root, imports), many)
            for s in stacked.stacks(together)
        ]
        jobs += [
            parallel.Job(
                parallel.train_task, parallel.TrainItem(c, root, step_mode, imports, floor), one
            )
            for c in alone
        ]
        cluster.run(jobs + list(side_jobs), should_stop=stop, cuda=parallel.is_cuda)


def summary(config: RunConfig, row: dict) -> str:
    """One line per finished run."""
    name = config.loss if config.trainer == TRAINER else f"{config.loss} ({config.trainer})"
    if config.noise != "none":
        name += f" [{config.noise}]"
    head = f"{name:<32} {config.device:<4} seed {config.seed}  lr {config.lr:<6g}"
    if row["status"] == "diverged":
        return f"{head} DIVERGED at epoch {row['epoch']}"
    if row["step_mode"] == STACKED:  # its times are a share of the stack's
        return (
            f"{head} test acc {row['test_acc']:.4f}  train loss {row['train_loss']:.4f}  "
            f"(in a stack)"
        )
    return (
        f"{head} test acc {row['test_acc']:.4f}  train loss {row['train_loss']:.4f}  "
        f"step {row['step_ms'] * 1000:.0f} µs  epoch {row['epoch_s']:.2f} s"
    )
