"""The report: every section and figure from a small synthetic study, numbers from the rows."""

import json
import math

import pandas as pd
import pytest

from bench import schema
from bench.analysis import calibration, tables
from bench.reporting import speed, write_report
from bench.reporting import workload as workloads
from bench.reporting.__main__ import main
from bench.study.results import Results
from bench.training.config import RunConfig
from bench.training.floors import ANATOMY_ROUNDS, ANATOMY_STEPS
from bench.training.loop import train

LOSSES = ["ce", "margin:kind=crammer_singer:delta=1", "l1:on=probs"]
WORKLOAD = {"dataset": "fashion_mnist", "model": "linear"}


def make_study(out, data):
    results = Results(out)
    meta = {
        "command": "python -m bench --epochs 2",
        "config": {
            "epochs": 2,
            "batch_size": 64,
            "schedule": "cosine",
            "lr": None,
            "rates": "tuned",
            "devices": ["cpu"],
            "seeds": [0, 1],
            "noise": ["none", "sym:0.4"],
            "data": "/nonexistent/fashion-mnist",
            **WORKLOAD,
        },
        "environment": {
            "python": "3.11",
            "torch": "2.14.1",
            "torchvision": "0.29.1",
            "cpu": "test CPU",
            "threads": 2,
            "cuda": "no CUDA device",
            "lossbench": "0.1.0",
            "commit": "0123456789" * 4 + " (modified)",
        },
        "notes": ["a note for the report"],
        "skipped": {},
    }
    results.prepare(meta)
    configs = [
        RunConfig(spec, seed=seed, epochs=2, lr=0.3, batch_size=64)
        for spec in LOSSES
        for seed in (0, 1)
    ]
    configs.append(RunConfig("ce", seed=0, epochs=2, lr=0.3, batch_size=64, noise="sym:0.4"))
    configs.append(RunConfig("l2:on=scores", seed=0, epochs=2, lr=50.0, batch_size=64))
    for config in configs:
        model = train(config, data, on_epoch=lambda row: results.append(as_runner(row)))
        if model.is_finite():
            results.save_weights(config, model.state_dict())
    # an unfinished run: one epoch of two
    rows = []
    train(RunConfig("huber", epochs=1, lr=3.0, batch_size=64), data, on_epoch=rows.append)
    results.append(as_runner({**rows[0], "epochs": 2}))
    schema.write_rows(
        out / "tuning.csv",
        schema.TUNING,
        [
            {
                **WORKLOAD,
                "noise": "none",
                "entry": spec,
                "loss": spec,
                "device": "cpu",
                "epochs": 2,
                "batch_size": 64,
                "schedule": "cosine",
                "lr": lr,
                "status": "ok",
                "val_acc": acc,
                "metric": "accuracy",
                "val_score": acc,
                "validation": "noisy",
                "optimizer": "sgd",
            }
            for spec in LOSSES
            for lr, acc in ((0.1, 0.8), (0.3, 0.9))
        ],
    )
    schema.write_rows(
        out / "reference.csv",
        schema.REFERENCE,
        [
            {
                **WORKLOAD,
                "loss": "ce",
                "max_iter": 5,
                "train_loss": 0.1,
                "train_acc": 1.0,
                "test_acc": 0.97,
                "iterations": 5,
                "seconds": 0.1,
            }
        ],
    )
    schema.write_rows(
        out / "peers.csv",
        schema.PEERS,
        [
            {
                "dataset": "fashion_mnist",
                "peer": "SGDClassifier",
                "loss": loss,
                "epochs": 2,
                "seed": 0,
                "train_acc": acc,
                "test_acc": acc,
                "fit_s": 1.0,
                "concurrent": False,
            }
            for loss, acc in (("hinge", 0.81), ("squared_error", 0.06))
        ],
    )
    schema.write_rows(out / "anatomy.csv", schema.ANATOMY, anatomy_rows())
    return meta


def as_runner(row):
    """A trainer's row as the serial runner appends it: with the floor, not concurrent, and NaN
    for what this trainer does not measure."""
    return {**dict.fromkeys(schema.RESULTS, math.nan), **row, "floor_s": 0.01, "concurrent": False}


def anatomy_rows(**workload):
    return [
        {
            **WORKLOAD,
            **workload,
            "loss": spec,
            "batch_size": 64,
            "gather_us": 60.0,
            "scores_us": 25.0,
            "loss_us": 30.0 + i,
            "update_us": 35.0,
            "step_us": 160.0 + i,
            "epoch_us": 210.0 + i,
            "floor_us": 100.0,
            "gather_floor_us": 150.0,
        }
        for i, spec in enumerate(LOSSES)
    ]


@pytest.fixture(scope="module")
def written(tmp_path_factory, make_dataset):
    out = tmp_path_factory.mktemp("study")
    data = make_dataset(n_train=11_000, n_test=200)
    meta = make_study(out, data)
    path = write_report(out, data={"fashion_mnist": data})
    return out, path.read_text(), meta, data


def test_the_finding_comes_first_and_how_fast_last(written):
    _, text, _, _ = written
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    users = [
        "## What makes the losses comparable",
        "## Accuracy",
        "## Accuracy targets",
        "## Paired comparisons",
        "## Tuning",
        "## Learning speed, and what drives it",
        "## Label noise",
        "## Calibration",
        "## Per-class errors",
        "## Predictions",
        "## The losses, their likelihoods and gradients",
        "## Reading the results",
    ]
    assert headings[-1] == "## How fast, and why"
    assert [h for h in headings if h in users] == users  # in this order
    assert headings.index(users[0]) > 0  # the answer's sections come before the workload's
    fast = text.split("\n## How fast, and why\n", 1)[1]
    for heading in (
        "### The machine and the commands",
        "### Speed",
        "#### Where a CPU step's time goes",
    ):
        assert heading in fast, heading
    assert "## Environment" not in text and "## Workloads" not in text


def test_the_environment_is_stated_once_and_commands_are_relative_to_out(written):
    _, text, _, _ = written
    before = text.split("\n## How fast, and why\n", 1)[0]
    assert before.count("test CPU") == 1  # the header's one line
    assert "python -m bench --epochs 2" in text and "a note for the report" in text
    assert "/nonexistent" not in text


def test_every_embedded_figure_exists(written):
    out, text, _, _ = written
    names = [part.split(")")[0] for part in text.split("](")[1:]]
    names = [n for n in names if not n.startswith("#")]  # links to the report's own headings
    assert {
        "curves.png",
        "final_accuracy.png",
        "tuning.png",
        "dynamics.png",
        "step_time.png",
        "noise.png",
        "reliability.png",
        "confusion.png",
        "predictions.png",
        "gradients.png",
        "gradients_textbook.png",
        "anatomy.png",
    } <= set(names)
    for name in names:
        assert (out / name).stat().st_size > 1000, name


def test_accuracy_cells_are_pandas_own_numbers(written):
    out, text, _, _ = written
    frame = pd.read_csv(out / "results.csv")
    last = frame[(frame.epoch == 2) & (frame.noise == "none") & (frame.loss == "ce")]
    expected = f"{last.test_acc.mean():.4f} ± {last.test_acc.std():.4f}"
    assert expected in text


def test_facts_quote_the_dataset_and_the_code_constants(written):
    out, text, meta, data = written
    from bench.reporting import anatomy, header, noise, tuning

    (w,) = workloads.load(out, meta, {"fashion_mnist": data})
    held = data.validation_split()
    assert f"{len(held.test_y):,} training images held out" in tuning.facts(w)["held_out"]
    assert f"training on the other {len(held.train_y):,}" in tuning.facts(w)["held_out"]
    found = tuning.facts(w)
    chosen = found["chosen"].set_index("entry")
    assert chosen.loc[LOSSES, "lr"].tolist() == [0.3] * 3
    assert chosen.loc[LOSSES, "val_score"].tolist() == [0.9] * 3
    assert chosen.loc[LOSSES, "trials"].tolist() == [2] * 3
    assert (found["metrics"], found["levels"], found["fewest"], found["most"]) == (
        ["accuracy"],
        ["none"],
        2,
        2,
    )
    cells = tuning.winners(found["chosen"]).set_index("loss")["clean"]
    assert cells.loc[LOSSES].tolist() == [f"{spec} @ 0.3" for spec in LOSSES]
    assert w.train_size == 11_000
    assert speed.speed_table(w)["loss"].tolist() == w.speed["run"].tolist()
    assert (
        "784 pixels (28×28) → 10 classes, trained on fashion_mnist (11,000 training"
        in header.facts(meta, [w])["what"]
    )
    assert noise.pairs(w) == "t-shirt ↔ shirt and pullover ↔ coat"
    assert f"cut into {calibration.CROSS_FIT_FOLDS} stratified halves" in text
    assert f"({calibration.BINS} equal-width confidence bins)" in text
    found = anatomy.facts(w)
    assert (found["steps"], found["rounds"], found["batch"]) == (ANATOMY_STEPS, ANATOMY_ROUNDS, 64)
    for retyped in ("10,000 training", "1,000 per class", "60,000", "50,000"):  # Fashion-MNIST's
        assert retyped not in text, retyped


def test_reading_states_the_verdicts_of_answer_csv(written):
    out, _, meta, data = written
    from bench.reporting import answer, reading

    (w,) = workloads.load(out, meta, {"fashion_mnist": data})
    mine = reading.verdicts(w)
    keys = ["noise", "loss", "verdict"]
    assert len(mine)
    pd.testing.assert_frame_equal(mine[keys], answer.read(out)[keys])
    lines = reading.verdict_lines(mine)
    clean = mine[mine["noise"] == "none"]
    best = clean.loc[clean["verdict"] == "best", "entry"].tolist()  # MCB may leave none best
    assert lines[0]["best"] == (best[0] if best else None)
    said = ("worse", "undecided", "equivalent")
    assert sorted(sum((lines[0][v] for v in said), [])) == sorted(
        clean.loc[clean["verdict"].isin(said), "entry"]
    )


def test_the_header_names_the_version_and_commit(written):
    out, text, meta, data = written
    from bench.reporting import header

    found = workloads.load(out, meta, {"fashion_mnist": data})
    facts = header.facts(meta, found)
    assert (facts["version"], facts["commit"]) == ("0.1.0", "0123456, modified")
    assert (facts["finished"], facts["unfinished"]) == (len(found[0].final), 1)
    assert "lossbench 0.1.0 (commit 0123456, modified)" in text.split("\n## ", 1)[0]
    older = {
        **meta,
        "environment": {
            k: v for k, v in meta["environment"].items() if k not in ("lossbench", "commit")
        },
    }
    assert header.facts(older, found)["version"] is None
    assert "did not record its version" in header.title(older, found)


def test_commands_show_out_and_no_absolute_paths():
    from bench.reporting.header import relative

    assert (
        relative("python -m bench --data /home/me/data --out /tmp/b5 --workers 2")
        == "python -m bench --data data --out OUT --workers 2"
    )
    assert (
        relative("python -m bench --out=/scratch/x --losses 'ce,l2'")
        == "python -m bench --out=OUT --losses ce,l2"
    )


def test_peers_are_listed_and_a_failed_fit_is_called_one(written):
    out, text, meta, data = written
    from bench.reporting import accuracy

    assert "| SGDClassifier (hinge) | 2 | 0.81 |" in text
    (w,) = workloads.load(out, meta, {"fashion_mnist": data})
    facts = accuracy.peers(w)
    assert facts["failed_peers"] == [{"peer": "SGDClassifier (squared_error)", "test_acc": 0.06}]
    assert facts["guessing"] == pytest.approx(0.1) and facts["inputs"] == "raw pixel inputs"


def test_step_anatomy_table_and_the_floor_beside_it(written):
    out, text, meta, data = written
    from bench.reporting import anatomy

    section = text.split("### Where a CPU step's time goes\n", 1)[1].split("\n#", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("|")]
    header = (
        "| loss | gather µs | scores µs | loss µs | update µs | step µs | loss share "
        "| epoch µs/step | × floor | × gather floor |"
    )
    assert table[0] == header
    assert len(table) == 2 + len(LOSSES)
    assert f"| {LOSSES[0]} | 60 | 25 | 30 | 35 | 160 | 19% | 210 | 2.10 | 1.40 |" in table
    (w,) = workloads.load(out, meta, {"fashion_mnist": data})
    found = anatomy.facts(w)
    assert (found["batch"], found["linear"], found["epochs"]) == (64, True, True)
    # anatomy_rows: the floor 100 µs, scores 25 + update 35 µs, gather 60 µs in every row
    assert found["floor"] == {"floor_us": 100.0, "work_us": 60.0, "gather_us": 60.0}
    gathered = found["gathered"]
    assert gathered["gather_floor_us"] == 150.0 and gathered["over_floor"] == pytest.approx(1.5)
    # ce's epoch, 210 µs, over the floor (100) and over the floor with the gather (150)
    assert gathered["ce"] == {
        "epoch_us": 210.0,
        "over_floor": pytest.approx(2.1),
        "over_gather_floor": pytest.approx(1.4),
    }


def test_step_anatomy_from_an_older_version_still_reports(written):
    out, _, meta, data = written
    from bench.reporting import anatomy

    (w,) = workloads.load(out, meta, {"fashion_mnist": data})
    assert set(w.speed["examples"]) == {11_000}
    old = pd.DataFrame(
        [
            {
                "loss": "ce",
                "batch_size": 64,
                "gather_us": 60.0,
                "scores_us": 25.0,
                "loss_us": 30.0,
                "update_us": 35.0,
                "step_us": 160.0,
            }
        ]
    )
    w.caches["anatomy"] = old
    found = anatomy.facts(w)
    assert not found["epochs"] and found["gathered"] is None
    # without anatomy.csv's floor, the runs' own floor per epoch over its steps
    floor_us = w.speed["floor_s"].median() / math.ceil(11_000 / 64) * 1e6
    assert found["floor"]["floor_us"] == pytest.approx(floor_us)
    table = [line for line in anatomy.section(w).splitlines() if line.startswith("| loss |")]
    assert table == [
        "| loss | gather µs | scores µs | loss µs | update µs | step µs | loss share |"
    ]


def test_divergence_unfinished_runs_and_missing_gpu_are_stated(written):
    out, text, meta, data = written
    from bench.reporting import accuracy, families

    (w,) = workloads.load(out, meta, {"fashion_mnist": data})
    shown, facts = accuracy.accuracy_table(w, families.ordered(w.accuracy))
    cell = shown.set_index("loss").loc["l2:on=scores", "test acc (mean ± sd)"]
    assert cell == "diverged at epoch 1"
    assert facts["reference_iters"] == 5 and facts["reference_skipped"] is None
    assert w.unfinished == 1
    assert "no CUDA device" in text.split("\n## ", 1)[0]


def test_gpu_name_is_shown_when_there_is_one(written):
    from bench.reporting import header

    _, _, meta, _ = written
    env = {**meta["environment"], "cuda": "NVIDIA H100"}
    shown = header.environment({**meta, "environment": env})
    assert "GPU NVIDIA H100" in shown and "no CUDA device" not in shown


def test_remade_from_the_command_line_without_data(written, tmp_path, capsys):
    out, _, _, _ = written
    # run.json's data folder does not exist: the image sections say why they are skipped
    assert main([str(out)]) == 0
    text = (out / "README.md").read_text()
    assert "## Accuracy" in text and "Skipped: the data could not be loaded" in text
    # without the data, the split is stated as the fraction the code holds out
    assert "accuracy on a held-out 16.7% of each class's training examples" in text
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "has no results.csv" in err and len(err.strip().splitlines()) == 1


def test_targets_table_explains_a_miss_with_the_measured_cause():
    from bench.reporting import targets

    accuracy = pd.DataFrame(
        [
            {
                "trainer": "lossbench",
                **WORKLOAD,
                "loss": "ce",
                "device": "cpu",
                "test_acc": 0.844,
                "test_acc_ci95": 0.001,
                "train_loss": 0.39,
            }
        ]
    )
    target = tables.TARGETS["ce"]
    optimum = pd.DataFrame([{"loss": "ce", "test_acc": 0.8448, "train_loss": 0.37}])
    died = {("ce", "cpu"): [("shirt", [0, 2])]}
    (row,) = targets.facts(accuracy, optimum, lambda *run: died[run]).to_dict("records")
    assert (row["loss"], row["device"], row["met"]) == ("ce", "cpu", False)
    assert row["optimum"] == pytest.approx(0.8448) and row["dead"] == [("shirt", [0, 2])]
    assert row["short"] == pytest.approx(target - 0.844)
    assert targets.render(accuracy, optimum).startswith("## Accuracy targets")
    # an L-BFGS that stopped above SGD's training loss is no optimum: it is not cited
    early = optimum.assign(train_loss=0.41)
    assert not tables.converged(accuracy, early)["ce"]
    (row,) = targets.facts(accuracy, early).to_dict("records")
    assert math.isnan(row["optimum"]) and row["dead"] == []
    # the targets were set for the default workload alone
    assert targets.facts(accuracy.assign(dataset="digits"), optimum).empty
    assert targets.render(accuracy.assign(dataset="digits"), optimum) == ""


def test_a_parallel_study_still_compares_the_textbook_loop(written, tmp_path):
    """Runs on shared workers are concurrent: the speed table comes from timing.csv, and the
    textbook loop, which ran alone, is still set against `ce` there."""
    out, _, _, data = written
    rows = pd.read_csv(out / "results.csv")
    timing = rows[(rows["seed"] == 0) & (rows["noise"] == "none")].assign(concurrent=False)
    loop = rows[(rows["loss"] == "ce") & (rows["seed"] == 0) & (rows["noise"] == "none")]
    loop = loop.assign(trainer="d2l-textbook", epoch_s=2.0, concurrent=False)
    shared = rows.assign(concurrent=True)
    pd.concat([shared, loop]).to_csv(tmp_path / "results.csv", index=False)
    timing.to_csv(tmp_path / "timing.csv", index=False)
    for name in ("run.json", "tuning.csv", "reference.csv", "anatomy.csv"):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    meta = json.loads((tmp_path / "run.json").read_text())
    (w,) = workloads.load(tmp_path, meta, {"fashion_mnist": data})
    book = speed.textbook(w)
    ce = timing[timing["loss"] == "ce"]["epoch_s"].median()
    assert book["textbook_s"] == pytest.approx(2.0)
    assert book["lossbench_s"] == pytest.approx(ce) and book["ratio"] == pytest.approx(2.0 / ce)
    text = write_report(tmp_path, data={"fashion_mnist": data}).read_text()
    assert f"**{speed.times(2.0 / ce)} faster**" in text
