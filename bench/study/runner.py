"""Training every run of a study: in this process, or on a Dask cluster, rows appended to
results.csv by this process alone as they come in."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from bench import schema
from bench.datasets import Dataset
from bench.peers import textbook
from bench.study.results import Results
from bench.training import floors, loop
from bench.training.config import RunConfig


def train_all(todo: list[RunConfig], data: dict[str, Dataset], results: Results, data_root: Path,
              stop, step_mode: str = "auto") -> None:  # fmt: skip
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
                floor = floors.gemm_floor(on_device, config.batch_size, repeats=2,
                                          model=config.model)  # fmt: skip
                bar.set_postfix_str(f"{config.loss} {device} seed {config.seed} {config.noise}")
                # the textbook loop does not measure the metrics of imbalance: NaN, not absent
                last = {"floor_s": floor, "concurrent": False,
                        **dict.fromkeys(loop.METRICS, float("nan"))}  # fmt: skip

                def record(row, last=last):
                    last.update(row)
                    results.append(last)
                    bar.update(1)

                if config.trainer == textbook.NAME:
                    textbook.train(config, data_root, on_epoch=record, should_stop=stop)
                else:
                    model = loop.train(config, on_device, on_epoch=record, should_stop=stop,
                                       step_mode=step_mode)  # fmt: skip
                if last["status"] == "diverged":
                    bar.update(config.epochs - last["epoch"])
                elif config.trainer != textbook.NAME:
                    results.save_weights(config, model.state_dict())
                tqdm.write(summary(config, last))


def train_parallel(todo: list[RunConfig], cluster, results: Results, data_root: Path, stop, *,
                   step_mode: str = "auto", imports: tuple[str, ...] = (),
                   side_jobs: list[tuple] = ()) -> None:  # fmt: skip
    """Train each run on the cluster (bench.study.parallel); append each finished run's rows and
    save its weights here as it comes back. A run that raised goes to OUT/failures.csv with its
    reason, and is redone by the next command. ``side_jobs`` (task, item, on_result), such as
    bench.study.stages.reference_jobs, go in the same queue after the runs."""
    from bench.study import parallel

    shared = cluster.shared_hosts()
    # runs that share a host are not timed (the serial phase times each loss alone), nor floored
    floor = not any(shared.values())
    jobs = [(config, str(data_root), step_mode, tuple(imports), floor) for config in todo]
    failures = results.out / "failures.csv"
    failures.unlink(missing_ok=True)  # it lists the failures of the latest command
    with tqdm(total=len(jobs), unit="run", dynamic_ncols=True, disable=not jobs) as bar:

        def finished(job, result):
            config = job[0]
            bar.update(1)
            if "error" in result:
                schema.append_row(failures, schema.FAILURES,
                                  {**config.__dict__, "reason": result["error"]})  # fmt: skip
                tqdm.write(f"{config.loss} seed {config.seed} {config.noise}: failed on a "
                           f"worker: {result['error']}", file=sys.stderr)  # fmt: skip
                return
            concurrent = shared.get(result["worker"], True)
            for row in result["rows"]:
                results.append({**row, "concurrent": concurrent})
            if result["state"] is not None:
                results.save_weights(config, result["state"])
            tqdm.write(summary(config, result["rows"][-1]))

        cluster.run([(parallel.train_task, job, finished) for job in jobs] + list(side_jobs),
                    should_stop=stop, cuda=parallel.is_cuda)  # fmt: skip


def summary(config: RunConfig, row: dict) -> str:
    """One line per finished run."""
    name = config.loss if config.trainer == "lossbench" else f"{config.loss} ({config.trainer})"
    if config.noise != "none":
        name += f" [{config.noise}]"
    head = f"{name:<32} {config.device:<4} seed {config.seed}  lr {config.lr:<6g}"
    if row["status"] == "diverged":
        return f"{head} DIVERGED at epoch {row['epoch']}"
    return (
        f"{head} test acc {row['test_acc']:.4f}  train loss {row['train_loss']:.4f}  "
        f"step {row['step_ms'] * 1000:.0f} µs  epoch {row['epoch_s']:.2f} s"
    )
