"""A parallel study's timed serial phases, in a fresh process.

After the cluster closes, the phases whose times the report reads run alone: the textbook loop,
the serial timing of each loss (the speed table of a parallel study), the batch-size sweep and
the step anatomy. They run in a process spawned for them, not in the driver: on this project's
2-core VM the MLP's ``ce`` epoch measured 0.43-0.46 s in the driver after two whole studies'
clusters (every loss alike, so a state of the process, not of a loss), against 0.32-0.35 s in a
fresh process, where the textbook loop it is compared with measured the same. Whatever the
driver carries after receiving every run's results, a spawned process starts without it.

The child loads the dataset and the users' losses itself, writes the same files the driver
would (results.csv rows, timing.csv, speed.csv, anatomy.csv: nothing else writes meanwhile),
stops after its current step on Ctrl-C like the driver, and returns its phases' seconds.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def run(job: tuple) -> dict[str, float]:
    """Run :func:`bench.api.serial_stages` with ``job`` = (Study, specs, dataset spec, model
    spec, devices, rates, serial RunConfigs) in a spawned process; return its phases' seconds.
    Raises what the phases raise (bench.training.loop.Interrupted after a Ctrl-C)."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_child, job).result()


def _child(job: tuple) -> dict[str, float]:
    from pathlib import Path

    from bench import api, datasets

    study, specs, dataset_spec, model_spec, devices, rates, serial = job
    if study.imports or api._has_plugins():
        api.import_plugins(study.imports)
    data = datasets.parse(dataset_spec).load(Path(study.data))
    clock = api.Clock()
    with api.StopFlag() as stop:
        api.serial_stages(study, specs, data, model_spec, devices, rates, serial, stop, clock,
                          after_cluster=True)  # fmt: skip
    return clock.phases
