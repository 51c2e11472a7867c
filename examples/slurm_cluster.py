"""Run the full study on a SLURM cluster: dask-jobqueue starts the workers as SLURM jobs, and
`make study-full` sends every run to their scheduler. An example for a cluster; not run here.

    pip install dask-jobqueue
    python examples/slurm_cluster.py            # on a login node, in this checkout

Every worker needs this checkout, its virtual environment and the --data folder at the same
paths (a shared file system), as the driver has them. A GPU node advertises its GPU with
``worker_extra_args=["--resources", "GPU=1"]`` and receives the runs asked for on cuda.
"""

import subprocess
import sys

from dask_jobqueue import SLURMCluster

cluster = SLURMCluster(
    queue="cpu",  # your partition
    cores=1,  # one single-threaded worker per job: the runs' step times stay comparable
    processes=1,
    memory="4GB",
    walltime="02:00:00",
    job_extra_directives=["--cpus-per-task=1"],
)
cluster.scale(jobs=64)
print(f"scheduler at {cluster.scheduler_address}; the study runs there")
# the whole cross-product of losses, workloads, noise levels and seeds, as `make study` prices it
sys.exit(subprocess.call(["make", "study-full", f"SCHEDULER={cluster.scheduler_address}"]))
