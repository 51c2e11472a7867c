"""python -m bench: one-line errors with exit status 2, an end-to-end run, resume, interruption."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import losses
from bench import environment
from bench.__main__ import main
from bench.training import floors

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


def one_line_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("bench: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_unknown_loss_lists_the_registered_names(capsys, tmp_path):
    err = one_line_error(capsys, ["--losses", "ce,hinge", "--out", str(tmp_path)])
    assert "'hinge'" in err and ", ".join(losses.names()) in err


def test_bad_loss_parameter(capsys, tmp_path):
    err = one_line_error(capsys, ["--losses", "huber:delta=-3", "--out", str(tmp_path)])
    assert "delta" in err and "-3" in err


def test_unknown_loss_parameter(capsys, tmp_path):
    err = one_line_error(capsys, ["--losses", "ce:smoothing=0.1", "--out", str(tmp_path)])
    assert "smoothing" in err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--seeds", "0"], "--seeds must be at least 1"),
        (["--batch-size", "-5"], "--batch-size must be at least 1"),
        (["--lr", "0"], "--lr must be positive"),
        (["--epochs", "ten"], "invalid int value"),
        (["--devices", "tpu"], "unknown device 'tpu'"),
        (["--frobnicate"], "unrecognized arguments"),
        (["--devices", "cpu", "--step-mode", "cuda-graph"], "--step-mode cuda-graph needs CUDA"),
        (["--step-mode", "turbo"], "invalid choice: 'turbo'"),
        (["--optimizer", "rmsprop"], "--optimizer: unknown optimizer 'rmsprop'"),
        (["--optimizer", "momentum:beta=2"], "--optimizer: optimizer momentum: beta must lie"),
    ],
)
def test_bad_arguments(capsys, tmp_path, argv, words):
    assert words in one_line_error(capsys, [*argv, "--out", str(tmp_path)])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_asked_for_explicitly_without_a_gpu(capsys, tmp_path):
    err = one_line_error(capsys, ["--devices", "cuda", "--out", str(tmp_path)])
    assert "no CUDA device" in err and "--devices cpu" in err


def test_unwritable_out(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    err = one_line_error(capsys, ["--out", str(blocker / "reports")])
    assert "not writable" in err and str(blocker) in err


def test_missing_data_is_one_line(capsys, tmp_path, monkeypatch):
    from bench.datasets import fashion_mnist

    def no_files(root, **kwargs):
        raise fashion_mnist.DataError(f"{root}: no Fashion-MNIST files; run `make setup`")

    monkeypatch.setattr(fashion_mnist, "provision", no_files)
    err = one_line_error(
        capsys,
        [
            "--losses",
            "ce",
            "--epochs",
            "1",
            "--seeds",
            "1",
            "--data",
            str(tmp_path / "none"),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert "make setup" in err


def quick_args(out, *extra, losses="ce", epochs=1, seeds=1):
    """A fast CPU run on the real data: built-in rates, no textbook loop, no L-BFGS."""
    return [
        "--losses",
        losses,
        "--epochs",
        str(epochs),
        "--seeds",
        str(seeds),
        "--devices",
        "cpu",
        "--no-tune",
        "--no-textbook",
        "--reference-iters",
        "0",
        "--data",
        str(DATA),
        "--out",
        str(out),
        *extra,
    ]


def read_rows(out):
    with open(out / "results.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.realdata
def test_end_to_end_run_with_divergence_resume_and_changed_config(fashion_mnist, tmp_path, capsys):
    out = tmp_path / "out"
    # one rate for both: fine for ce, far too large for least squares on raw scores
    argv = [
        "--losses",
        "ce,l2:on=scores",
        "--lr",
        "1",
        "--epochs",
        "2",
        "--seeds",
        "1",
        "--devices",
        "auto",
        "--no-textbook",
        "--reference-iters",
        "0",
        "--data",
        str(DATA),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    rows = read_rows(out)
    # --devices auto: the CPU, and a CUDA device where the machine has one
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    assert sorted({r["device"] for r in rows}) == devices
    for device in devices:
        ce = [r for r in rows if r["loss"] == "ce" and r["device"] == device]
        l2 = [r for r in rows if r["loss"] == "l2:on=scores" and r["device"] == device]
        assert [r["epoch"] for r in ce] == ["1", "2"] and all(r["status"] == "ok" for r in ce)
        assert float(ce[-1]["test_acc"]) > 0.8
        assert l2[-1]["status"] == "diverged" and len(l2) == int(l2[-1]["epoch"])
        saved = torch.load(out / "weights" / "fashion_mnist__linear.pt", weights_only=True)
        assert f"ce__{device}__seed0" in saved  # one weights file per workload
    report = (out / "README.md").read_text()
    assert "diverged" in report
    if not torch.cuda.is_available():
        assert "no CUDA device" in report or "No CUDA device" in report
    printed = capsys.readouterr().out
    assert "DIVERGED" in printed or "diverged" in printed.lower()

    # the same command again: nothing is retrained, no row is duplicated
    before = (out / "results.csv").read_text()
    assert main([*argv, "--no-report"]) == 0
    runs = 2 * len(devices)
    assert f"resuming: {runs} of {runs} runs" in capsys.readouterr().out
    assert (out / "results.csv").read_text() == before

    # another protocol into the same folder is refused
    changed = [*argv]
    changed[changed.index("--epochs") + 1] = "3"
    err = one_line_error(capsys, changed)
    assert "another configuration" in err


@pytest.mark.realdata
def test_same_command_twice_gives_identical_results(fashion_mnist, tmp_path):
    values = []
    for name in ("a", "b"):
        argv = quick_args(tmp_path / name, "--no-report", losses="margin,l1", seeds=2)
        assert main(argv) == 0
        values.append(
            [
                (r["loss"], r["seed"], r["train_loss"], r["test_acc"], r["grad_norm"])
                for r in read_rows(tmp_path / name)
            ]
        )
    assert values[0] == values[1]
    assert len(values[0]) == 4


@pytest.mark.realdata
def test_ctrl_c_keeps_finished_epochs_and_the_same_command_resumes(fashion_mnist, tmp_path):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "bench", *quick_args(out, "--no-report", epochs=60)]
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (out / "results.csv").exists() and len(read_rows(out)) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "run the same command again to resume" in err
    rows = read_rows(out)
    assert 2 <= len(rows) < 60
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))

    # the unfinished run is dropped and started over on the next call
    from bench.study import results as runs

    assert (
        runs.Results(out).prepare(
            {
                "command": "",
                # the machine the interrupted command recorded (its thread count included)
                "environment": json.loads((out / "run.json").read_text())["environment"],
                "config": {"epochs": 60, "batch_size": 256, "schedule": "cosine", "lr": None},
            }
        )
        == set()
    )
    assert read_rows(out) == []


def test_subprocess_error_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--losses", "nope", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.realdata
def test_tuning_noise_sweep_reference_and_textbook_end_to_end(fashion_mnist, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "--losses",
        "ce,margin",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--tune-epochs",
        "1",
        "--tune-budget",
        "8",
        "--noise",
        "none,sym:0.4",
        "--batch-sizes",
        "256,1024",
        "--reference-iters",
        "5",
        "--textbook-epochs",
        "2",
        "--devices",
        "cpu",
        "--data",
        str(DATA),
        "--out",
        str(out),
        "--no-report",
    ]
    assert main(argv) == 0
    rows = read_rows(out)
    # the book's epochs, each followed by one of lossbench's ce on the same task
    book = [r for r in rows if r["trainer"] == "d2l-textbook"]
    with open(out / "textbook.csv") as f:
        pairs = list(csv.DictReader(f))
    assert [p["epoch"] for p in pairs] == ["1", "2"]
    assert [float(p["textbook_s"]) for p in pairs] == [float(r["epoch_s"]) for r in book]
    assert all(0 < float(p["lossbench_s"]) < float(p["textbook_s"]) for p in pairs)
    assert {(p["dataset"], p["model"], p["batch_size"]) for p in pairs} == {
        ("fashion_mnist", "linear", "256")
    }
    with open(out / "tuning.csv") as f:
        trials = list(csv.DictReader(f))
    # per noise level, each loss's run trains the setting its own trials chose
    chosen = {}
    for trial in trials:
        key = (trial["noise"], trial["entry"])
        if trial["status"] == "ok" and float(trial["val_score"]) > chosen.get(key, ("", -1))[1]:
            chosen[key] = (trial["loss"], float(trial["val_score"]))
    margin = "margin"  # the entry as written; its runs name the setting that won
    assert {(r["trainer"], r["entry"], r["loss"], r["noise"]) for r in rows} == {
        ("lossbench", "ce", "ce", "none"),
        ("lossbench", margin, chosen[("none", margin)][0], "none"),
        ("lossbench", "ce", "ce", "sym:0.4"),
        ("lossbench", margin, chosen[("sym:0.4", margin)][0], "sym:0.4"),
        ("d2l-textbook", "ce", "ce", "none"),
    }
    noisy = [r for r in rows if r["noise"] == "sym:0.4"]
    assert all(0 <= float(r["memorised"]) <= 1 for r in noisy)
    assert all(float(r["floor_s"]) > 0 for r in rows)
    # the budget of 8 trials per loss and noise level: ce at 8 rates, margin's 4 δ at 2 each
    assert len(trials) == 2 * 2 * 8
    assert {t["metric"] for t in trials} == {"accuracy"}
    assert {t["loss"] for t in trials if t["entry"] == margin} == {
        f"margin:kind=crammer_singer:delta={d}" for d in ("0.5", "1", "2", "4")
    }
    with open(out / "speed.csv") as f:
        assert {r["batch_size"] for r in csv.DictReader(f)} == {"256", "1024"}
    with open(out / "reference.csv") as f:
        assert len(list(csv.DictReader(f))) == 2  # both losses are convex
    with open(out / "anatomy.csv") as f:
        anatomy = list(csv.DictReader(f))
    assert [r["loss"] for r in anatomy] == ["ce", chosen[("none", margin)][0]]
    assert all(float(r[f"{part}_us"]) > 0 for r in anatomy for part in floors.ANATOMY_PARTS)
    assert {(r["dataset"], r["model"]) for r in anatomy} == {("fashion_mnist", "linear")}
    anatomy_before = (out / "anatomy.csv").read_text()
    printed = capsys.readouterr().out
    assert "best validation accuracy" in printed and "d2l-textbook" in printed
    # a re-run tunes nothing and trains nothing
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "resuming: 4 of 4 runs" in printed
    assert "batch-size sweep" not in printed and "L-BFGS" not in printed  # cached too
    assert (out / "anatomy.csv").read_text() == anatomy_before
    assert len((out / "textbook.csv").read_text().splitlines()) == 3  # kept, not duplicated


def test_peers_flag_without_sklearn_is_one_line(capsys, tmp_path, monkeypatch):
    from bench.peers import sklearn

    monkeypatch.setattr(sklearn, "available", lambda: False)
    err = one_line_error(capsys, ["--peers", "--out", str(tmp_path)])
    assert "pip install '.[peers]'" in err


def test_step_anatomy_from_an_older_version_is_measured_again(make_data, tmp_path, capsys):
    from bench import schema
    from bench.study import stages

    old = tmp_path / "anatomy.csv"
    old.write_text(
        "loss,batch_size,gather_us,scores_us,loss_us,update_us,step_us\nce,32,1,1,1,1,1\n"
    )
    stages.step_anatomy(tmp_path, ["ce"], make_data(), 32, model="linear")
    assert "older version" in capsys.readouterr().out
    with open(old) as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == schema.ANATOMY and [r["loss"] for r in rows] == ["ce"]
    assert all(float(rows[0][column]) > 0 for column in schema.ANATOMY[4:])
    assert float(rows[0]["step_us"]) != 1.0  # measured, not the old row


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            ["--dataset", "cifar10"],
            "--dataset cifar10: unknown dataset 'cifar10'; registered datasets",
        ),
        (["--dataset", "fashion_mnist:ratio=2"], "has no parameter ratio"),
        (["--model", "resnet"], "--model resnet: unknown model 'resnet'; registered models"),
    ],
)
def test_bad_dataset_or_model_is_one_line(capsys, tmp_path, argv, words):
    assert words in one_line_error(capsys, [*argv, "--out", str(tmp_path)])


def test_a_second_run_on_the_same_folder_stops_at_once_naming_the_first(capsys, tmp_path):
    hold = (
        "import sys, time\nfrom bench.study.lock import OutLock\n"
        "with OutLock(sys.argv[1], 'python -m bench'):\n"
        "    print('held', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        err = one_line_error(capsys, quick_args(tmp_path))
        assert time.monotonic() - started < 30  # at once: nothing was loaded or trained
        assert f"another run (pid {holder.pid}, started" in err
        assert "wait for it, or use another --out" in err
        assert not (tmp_path / "results.csv").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.realdata
def test_runs_of_another_machine_are_never_resumed(fashion_mnist, tmp_path, capsys):
    import json

    out = tmp_path / "out"
    assert main(quick_args(out, "--no-report")) == 0
    meta = json.loads((out / "run.json").read_text())
    meta["environment"]["cpu"] = "Some Other CPU"  # as if committed from another machine
    (out / "run.json").write_text(json.dumps(meta))
    before = (out / "results.csv").read_text()
    capsys.readouterr()
    err = one_line_error(capsys, quick_args(out, "--no-report"))
    assert "another machine" in err and "Some Other CPU" in err and "--out" in err
    assert (out / "results.csv").read_text() == before
    assert json.loads((out / "run.json").read_text())["environment"]["cpu"] == "Some Other CPU"


USER_LOSSES = ROOT / "examples" / "my_losses.py"


def test_no_tune_refuses_a_loss_without_a_built_in_rate_naming_it(capsys, tmp_path):
    err = one_line_error(
        capsys,
        [
            "--import",
            str(USER_LOSSES),
            "--losses",
            "ce,cauchy:c=0.5",
            "--no-tune",
            "--out",
            str(tmp_path),
        ],
    )
    assert "cauchy:c=0.5 has no built-in rate" in err and "--lr" in err
    assert not (tmp_path / "results.csv").exists()


@pytest.mark.parametrize(
    "body, words",
    [
        ("    def value(self, scores, target):\n        raise RuntimeError('boom')\n", "boom"),
        ("    def value(self, scores, target):\n        return scores.sum()\n", "shape"),
        (
            "    def value(self, scores, target):\n        return scores[:, 0] * float('nan')\n",
            "non-finite",
        ),
        (
            "    def compute(self, scores, target):\n"
            "        return scores[:, 0] ** 2, scores * 0 + 1\n",
            "autograd",
        ),
    ],
)
def test_a_faulty_user_loss_stops_before_any_training(capsys, tmp_path, body, words):
    plugin = tmp_path / "faulty.py"
    plugin.write_text(
        "import dataclasses\nimport losses\n\n@dataclasses.dataclass(frozen=True)\n"
        f"class Faulty(losses.Loss, name='faulty_{abs(hash(body))}'):\n{body}"
    )
    name = f"faulty_{abs(hash(body))}"
    err = one_line_error(
        capsys,
        [
            "--import",
            str(plugin),
            "--losses",
            f"ce,{name}",
            "--lr",
            "0.1",
            "--data",
            str(DATA),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert name in err and words in err
    assert not (tmp_path / "out" / "results.csv").exists()


def test_an_import_that_registers_nothing_is_one_line(capsys, tmp_path):
    empty = tmp_path / "nothing.py"
    empty.write_text("x = 1\n")
    err = one_line_error(capsys, ["--import", str(empty), "--out", str(tmp_path / "o")])
    assert "nothing.py" in err and "registers no loss" in err
    broken = tmp_path / "broken.py"
    broken.write_text("def (\n")
    err = one_line_error(capsys, ["--import", str(broken), "--out", str(tmp_path / "o")])
    assert "broken.py" in err and "SyntaxError" in err


def test_run_json_logs_each_command_with_its_runs_and_time_by_phase(tmp_path):
    out = tmp_path / "log"
    argv = [
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
        "--tune-epochs",
        "1",
        "--no-textbook",
        "--reference-iters",
        "5",
        "--no-report",
        "--data",
        str(DATA),
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    assert main(argv) == 0
    wall = time.perf_counter() - started
    assert main(argv) == 0  # everything is finished: a second entry that trained nothing
    first, second = json.loads((out / "run.json").read_text())["commands"]
    assert first["command"] == second["command"] and first["command"].startswith("python -m bench")
    assert (first["dataset"], first["model"], first["workers"]) == ("digits", "linear", 1)
    assert (first["status"], first["runs"], second["runs"]) == ("finished", 4, 0)
    assert {"tuning", "training", "step anatomy", "L-BFGS optima"} <= set(first["phases"])
    # each figure is rounded to 0.1 s, so the phases' sum may pass the total by that rounding
    rounding = 0.05 * (len(first["phases"]) + 1)
    assert sum(first["phases"].values()) <= first["seconds"] + rounding
    assert first["seconds"] <= wall + 0.1
    assert second["seconds"] < first["seconds"]  # tuning, runs and optima all come from cache
    provenance = json.loads((out / "run.json").read_text())["environment"]
    assert provenance["lossbench"] == environment.version()
    assert provenance["commit"] == environment.commit()


def test_a_written_parameter_is_kept_a_bare_name_tuned_and_both_protocols_coexist(tmp_path):
    out = tmp_path / "out"
    argv = [
        "--losses",
        "gce:q=0.7,gce",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--seeds",
        "1",
        "--tune-budget",
        "4",
        "--noise",
        "sym:0.4",
        "--noise-seeds",
        "1",
        "--devices",
        "cpu",
        "--no-textbook",
        "--reference-iters",
        "0",
        "--out",
        str(out),
        "--no-report",
    ]
    assert main(argv) == 0
    assert main([*argv, "--validation", "trusted:100"]) == 0
    with open(out / "tuning.csv") as f:
        trials = list(csv.DictReader(f))
    noisy = [t for t in trials if t["validation"] == "noisy"]
    # gce:q=0.7 spends its 4 trials on rates at q = 0.7; gce tries each q at one rate
    assert [t["loss"] for t in noisy if t["entry"] == "gce:q=0.7"] == ["gce:q=0.7"] * 4
    assert {t["loss"] for t in noisy if t["entry"] == "gce"} == {
        f"gce:q={q}" for q in ("0.3", "0.5", "0.7", "0.9")
    }
    assert len([t for t in trials if t["validation"] == "trusted:100"]) == 8
    rows = read_rows(out)
    assert {(r["entry"], r["validation"]) for r in rows} == {
        (e, v) for e in ("gce:q=0.7", "gce") for v in ("noisy", "trusted:100")
    }
    assert {r["loss"] for r in rows if r["entry"] == "gce:q=0.7"} == {"gce:q=0.7"}
    # what tuning could see, per search and protocol
    with open(out / "resolving.csv") as f:
        seen = list(csv.DictReader(f))
    assert sorted((r["validation"], r["entry"]) for r in seen) == [
        ("noisy", "gce"),
        ("noisy", "gce:q=0.7"),
        ("trusted:100", "gce"),
        ("trusted:100", "gce:q=0.7"),
    ]
    assert {r["n_val"] for r in seen if r["validation"] == "trusted:100"} == {"100"}
    assert {float(r["slope"]) for r in seen if r["validation"] == "trusted:100"} == {1.0}


def test_early_stop_holds_out_a_split_records_it_every_epoch_resumes_and_reports(tmp_path):
    out = tmp_path / "stop"
    argv = [
        "--losses",
        "ce,gce:q=0.7",
        "--dataset",
        "digits",
        "--epochs",
        "3",
        "--seeds",
        "2",
        "--noise",
        "none,sym:0.4",
        "--noise-seeds",
        "2",
        "--lr",
        "0.5",
        "--early-stop",
        "--devices",
        "cpu",
        "--no-textbook",
        "--reference-iters",
        "0",
        "--out",
        str(out),
        "--no-report",
    ]
    assert main(argv) == 0
    rows = read_rows(out)
    ours = [r for r in rows if r["trainer"] == "lossbench"]
    assert ours and {r["early_stop"] for r in ours} == {"True"}
    for row in ours:
        assert 0 <= float(row["val_acc"]) <= 1
        shares = float(row["memorised"]) + float(row["corrected"])
        assert 0 <= shares <= 1 if row["noise"] != "none" else shares != shares  # NaN if clean
    assert json.loads((out / "run.json").read_text())["config"]["early_stop"] is True
    assert main(argv) == 0  # every run finished: the flag's column rebuilds each run's key
    assert len(read_rows(out)) == len(rows)
    # the memorisation section reads the folder as the report does: both scores of each run
    from bench.reporting import memorisation, workload

    (found,) = workload.load(out, json.loads((out / "run.json").read_text()))
    table = memorisation.facts(found)["table"]
    assert set(table["entry"]) == {"ce", "gce:q=0.7"} and table["early_stopped"].notna().all()
    assert "memorisation_sym_0.4.png" in memorisation.section(found)


def test_the_optimizer_trains_tunes_and_is_recorded(tmp_path):
    out = tmp_path / "out"
    argv = [
        "--losses",
        "ce",
        "--dataset",
        "digits",
        "--model",
        "mlp:hidden=8:layers=2",
        "--optimizer",
        "momentum:wd=5e-4",
        "--epochs",
        "2",
        "--seeds",
        "1",
        "--tune-budget",
        "2",
        "--devices",
        "cpu",
        "--no-textbook",
        "--out",
        str(out),
        "--no-report",
    ]
    assert main(argv) == 0
    spec = "momentum:beta=0.9:wd=0.0005"
    for table in ("results.csv", "tuning.csv"):
        with open(out / table) as f:
            assert {row["optimizer"] for row in csv.DictReader(f)} == {spec}
    assert json.loads((out / "run.json").read_text())["config"]["optimizer"] == spec
