"""Runs on Dask: the same results as one worker, a killed worker loses nothing, a failing run is
recorded and the others go on, GPU runs go to GPU workers, an existing cluster takes the work."""

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from bench.__main__ import main  # noqa: E402
from bench.study import parallel, runner  # noqa: E402
from bench.study.results import Results  # noqa: E402
from bench.training.config import RunConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "data"
DASK = Path(sys.executable).with_name("dask")
TIMINGS = {
    "epoch_s",
    "step_ms",
    "step_ms_p90",
    "samples_per_s",
    "floor_s",
    "peak_mem_mb",
    "concurrent",
}


@pytest.fixture(autouse=True)
def keep_environment():
    """Dask sets thread variables (OMP_NUM_THREADS=1 ...) for its workers in this process's
    environment; later tests' subprocesses must not inherit them."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def quick(out, *extra):
    """Small runs on a small dataset: the workers' time goes to the protocol, not to loading."""
    return [
        "--losses",
        "ce,margin",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--seeds",
        "2",
        "--devices",
        "cpu",
        "--no-tune",
        "--no-textbook",
        "--reference-iters",
        "0",
        "--no-report",
        "--data",
        str(DATA),
        "--out",
        str(out),
        *extra,
    ]


def rows(out):
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


def measured(out):
    """Every row's values but its timings, in a fixed order."""
    return sorted(tuple((k, v) for k, v in row.items() if k not in TIMINGS) for row in rows(out))


def test_one_and_two_workers_give_identical_results(tmp_path):
    # one task per run: the same runs, the same sums, whatever the number of workers
    assert main(quick(tmp_path / "one", "--workers", "1", "--no-stack")) == 0
    assert main(quick(tmp_path / "two", "--workers", "2", "--no-stack")) == 0
    assert measured(tmp_path / "one") == measured(tmp_path / "two")
    assert len(rows(tmp_path / "two")) == 2 * 2 * 2  # losses × seeds × epochs, no duplicates
    # two workers on one host share it: their times are marked and a serial phase times alone
    assert {r["concurrent"] for r in rows(tmp_path / "two")} == {"True"}
    assert {r["concurrent"] for r in rows(tmp_path / "one")} == {"False"}
    # a run beside others is not timed against a floor; one alone on its host is
    assert {r["floor_s"] for r in rows(tmp_path / "two")} == {"nan"}
    assert all(float(r["floor_s"]) > 0 for r in rows(tmp_path / "one"))
    with open(tmp_path / "two" / "timing.csv") as f:
        timing = list(csv.DictReader(f))
    assert {(r["loss"], r["concurrent"]) for r in timing} == {
        ("ce", "False"),
        ("margin:kind=crammer_singer:delta=1", "False"),
    }
    # a re-run finds everything finished, on the cluster as in the serial loop
    before = (tmp_path / "two" / "results.csv").read_text()
    assert main(quick(tmp_path / "two", "--workers", "2", "--no-stack")) == 0
    assert (tmp_path / "two" / "results.csv").read_text() == before


def test_stacked_runs_write_the_rows_of_their_single_runs(tmp_path):
    """By default a linear model's runs of one seed and noise level train as one stack: the same
    rows as one task per run, up to the last bits of a sum, marked and timed as a share."""
    argv = ["--noise", "none,sym:0.4", "--epochs", "3"]
    assert main(quick(tmp_path / "single", "--workers", "2", "--no-stack", *argv)) == 0
    assert main(quick(tmp_path / "stacked", "--workers", "2", *argv)) == 0
    single, stacked = rows(tmp_path / "single"), rows(tmp_path / "stacked")
    assert len(stacked) == len(single) == 2 * 3 * 3  # losses × (2 clean seeds + 1 noisy) × epochs
    key = lambda r: (r["loss"], r["seed"], r["noise"], r["epoch"])  # noqa: E731
    single = {key(r): r for r in single}
    for row in stacked:
        twin = single[key(row)]
        assert row["step_mode"] == "stacked" and row["concurrent"] == "True"
        assert row["floor_s"] == "nan" and float(row["epoch_s"]) > 0
        for column, value in twin.items():
            if column in TIMINGS | {"step_mode"}:
                continue
            try:
                assert float(row[column]) == pytest.approx(
                    float(value), rel=1e-4, abs=3e-3, nan_ok=True
                ), column
            except ValueError:
                assert row[column] == value, column
    with open(tmp_path / "stacked" / "run.json") as f:
        assert '"stack": true' in f.read()
    # a re-run finds every stacked run finished
    before = (tmp_path / "stacked" / "results.csv").read_text()
    assert main(quick(tmp_path / "stacked", "--workers", "2", *argv)) == 0
    assert (tmp_path / "stacked" / "results.csv").read_text() == before


def test_the_cluster_computes_the_lbfgs_optima_as_the_serial_stage_does(tmp_path):
    def optima(out):
        with open(out / "reference.csv") as f:
            return {row["loss"]: row for row in csv.DictReader(f)}

    assert main(quick(tmp_path / "serial", "--reference-iters", "15")) == 0
    assert main(quick(tmp_path / "cluster", "--reference-iters", "15", "--workers", "2")) == 0
    serial, cluster = optima(tmp_path / "serial"), optima(tmp_path / "cluster")
    assert set(cluster) == {"ce", "margin:kind=crammer_singer:delta=1"}  # both convex losses
    for loss, row in cluster.items():
        # a worker has one thread, the serial stage two: sums differ in their last bits only
        assert float(row["train_loss"]) == pytest.approx(
            float(serial[loss]["train_loss"]), rel=1e-4
        )
        assert float(row["test_acc"]) == pytest.approx(float(serial[loss]["test_acc"]), abs=0.003)
        assert row["iterations"] == serial[loss]["iterations"] and row["max_iter"] == "15"


def test_the_cluster_fits_the_peers_beside_the_runs_and_marks_their_seconds(tmp_path):
    from bench.peers import sklearn as sklearn_peers

    argv = quick(tmp_path / "cluster", "--peers", "--workers", "2")
    assert main(argv) == 0
    with open(tmp_path / "cluster" / "peers.csv") as f:
        peers = list(csv.DictReader(f))
    expected = [(peer, loss) for peer, loss, _ in sklearn_peers.estimators(epochs=2)]
    assert [(r["peer"], r["loss"]) for r in peers] == expected  # each once, in order
    assert {r["dataset"] for r in peers} == {"digits"} and {r["concurrent"] for r in peers} == {
        "True"
    }
    logistic = peers[-1]
    assert float(logistic["test_acc"]) > 0.9 and float(logistic["fit_s"]) > 0
    assert main(argv) == 0  # cached: a re-run fits nothing again
    with open(tmp_path / "cluster" / "peers.csv") as f:
        assert [r["fit_s"] for r in csv.DictReader(f)] == [r["fit_s"] for r in peers]


def test_a_killed_worker_loses_no_run_and_duplicates_none(tmp_path):
    results = Results(tmp_path)
    configs = [
        RunConfig("ce", epochs=150, seed=seed, lr=0.5, batch_size=64, dataset="digits")
        for seed in range(4)
    ]
    killed = []
    with parallel.Cluster(workers=2) as cluster:
        pids = cluster.client.run(os.getpid)

        def stop():  # polled twice a second: kill one worker once the first run is under way
            if not killed and time.monotonic() - started > 3:
                pid = next(iter(pids.values()))
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            return False

        started = time.monotonic()
        runner.train_parallel(configs, cluster, results, DATA, stop)
    assert killed
    assert results.finished() == set(configs)
    keys = [(r["seed"], r["epoch"]) for r in results.rows()]
    assert len(keys) == len(set(keys)) == 4 * 150
    assert not (tmp_path / "failures.csv").exists()


def test_a_run_that_raises_is_recorded_and_the_others_go_on(tmp_path, capsys):
    results = Results(tmp_path)
    good = RunConfig("ce", epochs=1, lr=1.0, dataset="digits")
    bad = RunConfig("ce", epochs=1, lr=1.0, seed=1, dataset="digits", model="no_such_model")
    with parallel.Cluster(workers=2) as cluster:
        runner.train_parallel([bad, good], cluster, results, DATA, lambda: False)
    assert results.finished() == {good}
    with open(tmp_path / "failures.csv") as f:
        (failure,) = list(csv.DictReader(f))
    assert failure["seed"] == "1" and "unknown model 'no_such_model'" in failure["reason"]
    assert "\n" not in failure["reason"]
    assert "failed on a worker" in capsys.readouterr().err


def test_a_stack_that_fails_as_a_whole_records_each_of_its_runs(tmp_path):
    results = Results(tmp_path)
    good = RunConfig("ce", epochs=1, lr=1.0, dataset="digits")
    lost = [RunConfig(loss, epochs=1, lr=1.0, dataset="no_such_dataset") for loss in ("ce", "nce")]
    with parallel.Cluster(workers=2) as cluster:
        runner.train_parallel([*lost, good], cluster, results, DATA, lambda: False)
    assert results.finished() == {good}
    with open(tmp_path / "failures.csv") as f:
        failures = list(csv.DictReader(f))
    assert [(r["loss"], r["dataset"]) for r in failures] == [
        ("ce", "no_such_dataset"),
        ("nce", "no_such_dataset"),
    ]
    assert all("no_such_dataset" in r["reason"] and "\n" not in r["reason"] for r in failures)


def test_a_local_cluster_leaves_the_drivers_environment_as_it_was():
    before = dict(os.environ)
    with parallel.Cluster(workers=1) as cluster:
        assert os.environ == before
        # the workers still got Dask's single-thread settings
        assert set(cluster.client.run(lambda: os.environ.get("OMP_NUM_THREADS")).values()) == {"1"}
    assert os.environ == before


def test_an_unreachable_scheduler_is_one_line(capsys, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    assert main(quick(tmp_path, "--scheduler", f"tcp://127.0.0.1:{port}")) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: error: --scheduler tcp://127.0.0.1:") and err.count("\n") == 1
    assert "cannot reach a Dask scheduler" in err and "--workers N" in err
    assert time.monotonic() - started < 60


def test_workers_and_scheduler_exclude_each_other(capsys, tmp_path):
    assert main(quick(tmp_path, "--workers", "2", "--scheduler", "tcp://x:1")) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(quick(tmp_path, "--workers", "0")) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_cuda_runs_ask_for_the_gpu_resource():
    submitted = []

    class Client:
        def submit(self, task, item, pure, resources):
            submitted.append((item[0].device, resources))
            raise StopIteration  # enough: only the submission is checked

    cluster = parallel.Cluster(workers=1)
    cluster.client = Client()
    jobs = [
        parallel.TrainItem(RunConfig("ce", device=d), "data", "auto", (), False)
        for d in ("cpu", "cuda")
    ]
    with pytest.raises(StopIteration):
        cluster.map(
            lambda job: job,
            jobs[:1],
            should_stop=lambda: False,
            on_result=lambda *a: None,
            cuda=parallel.is_cuda,
        )
    with pytest.raises(StopIteration):
        cluster.map(
            lambda job: job,
            jobs[1:],
            should_stop=lambda: False,
            on_result=lambda *a: None,
            cuda=parallel.is_cuda,
        )
    assert submitted == [("cpu", None), ("cuda", {parallel.GPU: 1})]


def test_a_separately_started_scheduler_and_two_workers(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    common = {"cwd": ROOT, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            **common,
        )
    ]
    try:
        for resources in ([], ["--resources", f"{parallel.GPU}=1"]):
            processes.append(
                subprocess.Popen(
                    [str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard", *resources],
                    **common,
                )
            )
        with parallel.Cluster(scheduler=address) as cluster:
            cluster.client.wait_for_workers(2, timeout=60)
            gpu = [
                a
                for a, w in cluster.client.scheduler_info()["workers"].items()
                if w.get("resources", {}).get(parallel.GPU)
            ]
            # a task asking for the GPU resource runs only on the worker that advertises one
            # (os.getpid: a function the separately started scheduler can import)
            pids = cluster.client.run(os.getpid)
            placed = {
                cluster.client.submit(os.getpid, resources={parallel.GPU: 1}, pure=False).result()
                for _ in range(6)
            }
            assert len(gpu) == 1 and placed == {pids[gpu[0]]}
        assert main(quick(tmp_path / "out", "--scheduler", address)) == 0
        assert len(rows(tmp_path / "out")) == 2 * 2 * 2
        assert (
            Results(tmp_path / "out").finished()
            and not (tmp_path / "out" / "failures.csv").exists()
        )
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
