"""Runs and tuning trials on Dask: a local cluster of single-threaded workers, or any cluster.

``--workers N`` starts a ``LocalCluster`` of N worker processes with one thread each;
``--scheduler ADDRESS`` sends the work to a running Dask scheduler (one started by hand, by
dask-jobqueue on SLURM/PBS, or by dask-kubernetes). Only the driver writes: a worker loads the
dataset itself (from the same ``--data`` path or file, which a cluster must share), trains one run
or one loss's tuning trials, and returns its rows; the driver appends them to results.csv and the
caches as each task completes, so resume, deduplication and Ctrl-C work as in the serial loop.

A worker that dies mid-run loses only that run: the scheduler runs the task again on another
worker (Dask's ``allowed-failures``); a run that raises is recorded with a one-line reason in
OUT/failures.csv and the others go on. Rows of runs that shared a host with other workers are
marked ``concurrent``: their times are kept out of the speed table, which comes from a serial
phase in the driver. A worker started with ``--resources GPU=1`` advertises a GPU; runs on
``cuda`` ask for that resource, so they go only there.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from bench.schema import one_line
from bench.training.config import RunConfig

GPU = "GPU"  # the Dask worker resource a GPU worker advertises: dask worker ... --resources GPU=1
CONNECT_TIMEOUT_S = 10


class Job(NamedTuple):
    """One task of a cluster's queue: ``task(item)`` on a worker, ``on_result(item, result)``
    back in the driver."""

    task: Callable[[Any], dict]
    item: Any
    on_result: Callable[[Any, dict], None]


class TrainItem(NamedTuple):
    """:func:`train_task`'s run; ``floor``: measure the GEMM floor beside it."""

    config: RunConfig
    data_root: str
    step_mode: str
    imports: tuple[str, ...]
    floor: bool


class StackItem(NamedTuple):
    """:func:`stack_task`'s runs, which differ only in their loss and rate."""

    configs: tuple[RunConfig, ...]
    data_root: str
    imports: tuple[str, ...]


class TuneItem(NamedTuple):
    """:func:`tune_task`'s rung of one loss's search (bench.study.tune.TuneJob)."""

    arguments: dict
    job: Any
    device: str
    data_root: str
    imports: tuple[str, ...]


class ReferenceItem(NamedTuple):
    spec: str
    dataset: str
    model: str
    max_iter: int
    data_root: str
    imports: tuple[str, ...]


class PeerItem(NamedTuple):
    dataset: str
    data_root: str
    imports: tuple[str, ...]
    epochs: int
    index: int


class ClusterError(ValueError):
    """A cluster that cannot be reached or started; the one-line message says what to do."""


class Cluster:
    """``with Cluster(workers=2) as cluster:`` or ``Cluster(scheduler="tcp://host:8786")``."""

    def __init__(self, *, workers: int | None = None, scheduler: str | None = None):
        if (workers is None) == (scheduler is None):
            raise ValueError("give either workers or scheduler")
        self.workers, self.scheduler = workers, scheduler
        self.client = self._local = None

    def __enter__(self) -> Cluster:
        from dask.distributed import Client, LocalCluster

        if self.scheduler is not None:
            try:
                self.client = Client(self.scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
            except (OSError, TimeoutError, ValueError) as error:
                reason = (str(error).splitlines() or [type(error).__name__])[0]
                raise ClusterError(
                    f"--scheduler {self.scheduler}: cannot reach a Dask scheduler there "
                    f"({reason[:120]}); start one with `dask scheduler`, or use --workers N"
                ) from None
        else:
            # Dask sets its workers' variables (OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_, ...)
            # in this process's environment before it spawns them; they are the workers', not
            # the driver's: its later subprocesses (a spawned phase, a user's script) get its own
            saved = dict(os.environ)
            try:
                self._local = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self._local)
            finally:
                os.environ.clear()
                os.environ.update(saved)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the local workers (idempotent): what runs serially afterwards runs alone."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self._local is not None:
            self._local.close()
            self._local = None

    def shared_hosts(self) -> dict[str, bool]:
        """Worker address -> whether other workers (or threads) share its host."""
        workers = self.client.scheduler_info()["workers"]
        threads: dict[str, int] = {}
        for info in workers.values():
            threads[info["host"]] = threads.get(info["host"], 0) + info.get("nthreads", 1)
        return {address: threads[info["host"]] > 1 for address, info in workers.items()}

    def map(
        self,
        task: Callable,
        items: list,
        *,
        should_stop: Callable[[], bool],
        on_result: Callable[[object, dict], None],
        cuda=lambda item: False,
    ) -> None:
        """Run ``task(item)`` for every item on the cluster; call ``on_result(item, result)`` in
        the driver as each completes (``result["worker"]`` is the worker's address). Polls
        ``should_stop`` twice a second; when it is set, cancels what is left and raises
        :class:`bench.training.loop.Interrupted`."""
        self.run([(task, item, on_result) for item in items], should_stop=should_stop, cuda=cuda)

    def run(
        self, jobs: list[Job], *, should_stop: Callable[[], bool], cuda=lambda item: False
    ) -> None:
        """:meth:`map` for jobs of several kinds in one queue: each a :class:`Job` (task, item,
        on_result), submitted in order (Dask starts them roughly in that order), so short jobs
        put last fill the workers that would otherwise wait for the longest."""
        from dask.distributed import wait

        from bench.training.loop import Interrupted

        futures = {}
        for task, item, on_result in jobs:
            resources = {GPU: 1} if cuda(item) else None
            future = self.client.submit(task, item, pure=False, resources=resources)
            futures[future] = (item, on_result)
        pending = set(futures)
        try:
            while pending:
                try:
                    done, pending = wait(pending, timeout=0.5, return_when="FIRST_COMPLETED")
                except TimeoutError:  # nothing finished within the poll: check Ctrl-C, go on
                    done = set()
                for future in done:
                    item, on_result = futures[future]
                    on_result(item, _result(future))
                if should_stop():
                    raise Interrupted("stopped while the cluster was running")
        finally:
            for future in pending:
                future.cancel()


def _result(future) -> dict:
    """A task's result, or a failure record when it could not complete (e.g. killed workers
    beyond Dask's allowed failures)."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 — any failure of one task is that task's record
        return {"error": one_line(error)}


# -- what runs on a worker ----------------------------------------------------------------------
_DATA: dict[tuple[str, str], object] = {}
_IMPORTED: set[str] = set()


def _prepare_worker(dataset: str, data_root: str, imports: tuple[str, ...]):
    """The worker's copy of the dataset (loaded once per worker process) and users' losses."""
    from bench import datasets
    from losses import plugins

    for source in imports:
        if source not in _IMPORTED:
            plugins.load(source)
            _IMPORTED.add(source)
    key = (dataset, data_root)
    if key not in _DATA:
        _DATA[key] = datasets.load(dataset, data_root)
    return _DATA[key]


def train_task(item: TrainItem) -> dict:
    """One run on a worker, on its seed's split of the data; ``item.floor`` says whether to
    measure the GEMM floor beside the run (not when workers share a host: those times go unused,
    and an MLP's floor costs two epochs of GEMMs). Returns its epoch rows and final state, or
    ``{"error": one line}``; never raises."""
    from distributed import get_worker

    from bench.training import floors, loop

    config, data_root, step_mode, imports, measure_floor = item
    result = {"worker": get_worker().address}
    try:
        torch.set_num_threads(1)
        data = _prepare_worker(config.dataset, data_root, imports).for_seed(config.seed)
        data = data.to(config.device)
        floor = (
            floors.gemm_floor(data, config.batch_size, repeats=2, model=config.model)
            if measure_floor
            else float("nan")
        )
        rows = []
        model = loop.train(config, data, on_epoch=rows.append, step_mode=step_mode)
        result |= {
            "rows": [{**row, "floor_s": floor} for row in rows],
            "state": None if rows[-1]["status"] == "diverged" else model.state_dict(),
        }
    except Exception as error:  # noqa: BLE001 — recorded by the driver with its reason
        result["error"] = one_line(error)
        result["trace"] = traceback.format_exc(limit=5)
    return result


def stack_task(item: StackItem) -> dict:
    """Runs that differ only in their loss and rate, trained as one stack on a worker
    (bench.training.stacked.train_losses), on their seed's split of the data. Returns
    ``{"worker", "runs": [...]}`` (each run's rows and state, or its one-line error), or
    ``{"error": one line}`` when the stack as a whole failed; never raises."""
    from distributed import get_worker

    from bench.training import stacked

    configs, data_root, imports = item
    result = {"worker": get_worker().address}
    try:
        torch.set_num_threads(1)
        data = _prepare_worker(configs[0].dataset, data_root, imports)
        data = data.for_seed(configs[0].seed).to(configs[0].device)
        result["runs"] = stacked.train_losses(list(configs), data)
    except Exception as error:  # noqa: BLE001 — recorded by the driver with its reason
        result["error"] = one_line(error)
        result["trace"] = traceback.format_exc(limit=5)
    return result


def tune_task(item: TuneItem) -> dict:
    """One rung of one loss's search on a worker (bench.study.tune.Tuner.train). Returns its
    trials' rows, or ``{"error": one line}``."""
    from distributed import get_worker

    from bench.study import tune

    result = {"worker": get_worker().address}
    try:
        torch.set_num_threads(1)
        data = _prepare_worker(item.arguments["dataset"], item.data_root, item.imports)
        tuner = tune.Tuner(None, **item.arguments)
        result["trials"] = tuner.train(item.job, data.to(item.device), item.device)
    except Exception as error:  # noqa: BLE001
        result["error"] = one_line(error)
    return result


def reference_task(item: ReferenceItem) -> dict:
    """One loss's L-BFGS optimum on a worker (bench.analysis.reference). Returns its row, or
    ``{"error": one line}``. Its ``seconds`` were measured beside other work: the report does
    not use them."""
    from distributed import get_worker

    from bench.analysis import reference

    spec, dataset, model, max_iter, data_root, imports = item
    result = {"worker": get_worker().address}
    try:
        torch.set_num_threads(1)
        data = _prepare_worker(dataset, data_root, imports)
        result["row"] = reference.optimum(spec, data, max_iter=max_iter, model=model)
    except Exception as error:  # noqa: BLE001 — the serial stage tries it again in the driver
        result["error"] = one_line(error)
    return result


def peer_task(item: PeerItem) -> dict:
    """One scikit-learn peer on a worker (bench.peers.sklearn), ``item.index`` into the peers.
    Returns its row, or ``{"error": one line}``."""
    from distributed import get_worker

    from bench.peers import sklearn as sklearn_peers

    dataset, data_root, imports, epochs, index = item
    result = {"worker": get_worker().address}
    try:
        torch.set_num_threads(1)
        data = _prepare_worker(dataset, data_root, imports)
        peer, loss, model = sklearn_peers.estimators(epochs=epochs)[index]
        result["row"] = sklearn_peers.fit(peer, loss, model, data, epochs=epochs)
    except Exception as error:  # noqa: BLE001 — the serial stage tries it again in the driver
        result["error"] = one_line(error)
    return result


def is_cuda(item) -> bool:
    """Whether a queue item trains on CUDA (it then asks for a GPU worker)."""
    if isinstance(item, TrainItem):
        return item.config.device == "cuda"
    if isinstance(item, StackItem):
        return item.configs[0].device == "cuda"
    if isinstance(item, TuneItem):
        return item.device == "cuda"
    return False
