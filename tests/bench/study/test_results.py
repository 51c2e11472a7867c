"""results.csv and run.json: appending, finished runs, resume, torn lines, changed configs."""

import json

import pytest

from bench import schema
from bench.study import results as runs
from bench.training.config import RunConfig

HERE = {
    "cpu": "Intel(R) Xeon(R) Processor",
    "threads": 2,
    "cuda": "no CUDA device",
    "torch": "2.14.1",
}


def meta(environment=HERE, datasets=None, **config):
    return {
        "command": "python -m bench",
        "environment": dict(environment),
        "datasets": datasets or {"fashion_mnist": "f00d"},
        "config": {"epochs": 2, "batch_size": 256, "schedule": "cosine", "lr": None, **config},
    }


def row(config: RunConfig, epoch: int, status="ok", **values):
    base = dict.fromkeys(schema.RESULTS, 0.5)
    base.update({**config.__dict__, "epoch": epoch, "status": status, **values})
    return base


A = RunConfig("ce", seed=0, epochs=2, lr=1.0)
B = RunConfig("huber:on=probs:delta=0.1", seed=0, epochs=2, lr=10.0)


def test_slug_is_a_safe_file_name():
    config = RunConfig("huber:on=probs:delta=0.1", "cpu", 2)
    assert runs.slug(config) == "huber_on-probs_delta-0.1__cpu__seed2"


def test_expand_covers_loss_device_seed():
    from bench.study import grid

    configs = grid.expand(
        ["ce", "l1:on=probs"],
        ["cpu", "cuda"],
        range(2),
        lrs={"ce": 1.0, "l1:on=probs": 0.5},
        epochs=3,
        batch_size=64,
        schedule="cosine",
    )
    assert len(configs) == 8
    assert configs[0].device == "cpu" and configs[-1].device == "cuda"
    assert {c.lr for c in configs if c.loss == "l1:on=probs"} == {0.5}


def test_rows_are_appended_flushed_and_read_back(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    results.append(row(A, 1))
    results.append(row(A, 2, test_acc=0.84))
    rows = results.rows()
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert rows[1]["test_acc"] == "0.84"
    assert results.finished() == {A}
    assert results.csv_path.read_text().splitlines()[0] == ",".join(schema.RESULTS)


def test_diverged_run_counts_as_finished(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    results.append(row(B, 1, status="diverged"))
    assert results.finished() == {B}


def test_resume_drops_unfinished_runs_and_keeps_finished(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    for r in (row(A, 1), row(A, 2), row(B, 1)):  # B was interrupted after epoch 1
        results.append(r)
    finished = runs.Results(tmp_path).prepare(meta())
    assert finished == {A}
    assert [(r["loss"], r["epoch"]) for r in results.rows()] == [("ce", "1"), ("ce", "2")]
    # the redone run appends after the kept rows: no duplicates
    results.append(row(B, 1))
    results.append(row(B, 2))
    keys = [(r["loss"], r["seed"], r["epoch"]) for r in results.rows()]
    assert len(keys) == len(set(keys)) == 4


def test_torn_last_line_is_ignored_with_a_warning(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    results.append(row(A, 1))
    results.append(row(A, 2))
    with open(results.csv_path, "a") as f:
        f.write("huber:on=probs:delta=0.1,cpu,0,1,2,10.0,25")  # killed mid-write
    with pytest.warns(UserWarning, match="torn last line"):
        assert len(results.rows()) == 2
    with pytest.warns(UserWarning):
        assert runs.Results(tmp_path).prepare(meta()) == {A}
    assert results.csv_path.read_text().endswith("\n")
    assert len(results.rows()) == 2


def test_changed_configuration_is_refused(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    results.append(row(A, 1))
    with pytest.raises(runs.RunsError, match="epochs 2 -> 5") as info:
        runs.Results(tmp_path).prepare(meta(epochs=5))
    assert "\n" not in str(info.value) and "--out" in str(info.value)
    # adding losses or seeds under the same protocol is fine
    runs.Results(tmp_path).prepare(meta(losses={"l1": 1.0}))


def test_each_workload_keeps_its_own_number_of_epochs(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    results.append(row(A, 1))
    results.append(row(A, 2))
    # another workload of the folder may train longer or shorter ...
    mlp = RunConfig("ce", epochs=5, lr=0.1, model="mlp:hidden=256")
    assert runs.Results(tmp_path).prepare(meta(epochs=5, model="mlp:hidden=256")) == {A}
    results.append(row(mlp, 5))
    # ... but none of them changes its own length
    with pytest.raises(runs.RunsError, match=r"fashion_mnist · mlp:hidden=256 \(epochs 5 -> 2\)"):
        runs.Results(tmp_path).prepare(meta(epochs=2, model="mlp:hidden=256"))
    with pytest.raises(runs.RunsError, match=r"fashion_mnist · linear \(epochs 2 -> 5\)"):
        runs.Results(tmp_path).prepare(meta(epochs=5, model="linear"))
    # the textbook loop's runs have their own epochs and never count
    book = RunConfig("ce", epochs=1, lr=0.1, trainer="d2l-textbook")
    results.append(row(book, 1))
    runs.Results(tmp_path).prepare(meta())


def test_each_workload_keeps_its_own_batch_size_and_schedule(tmp_path):
    """make study's memorisation workload trains at batch 128 beside the linear model's 256."""
    results = runs.Results(tmp_path)
    results.prepare(meta())
    results.append(row(A, 2))
    mlp = dict(model="mlp:hidden=256", batch_size=128)
    assert runs.Results(tmp_path).prepare(meta(**mlp)) == {A}
    results.append(row(RunConfig("ce", epochs=2, lr=0.1, batch_size=128, model=mlp["model"]), 2))
    runs.Results(tmp_path).prepare(meta())  # back to the linear workload: its own batch size
    with pytest.raises(runs.RunsError, match="batch_size 128 -> 256"):
        runs.Results(tmp_path).prepare(meta(model=mlp["model"]))
    with pytest.raises(runs.RunsError, match="batch_size 256 -> 64"):
        runs.Results(tmp_path).prepare(meta(batch_size=64))
    with pytest.raises(runs.RunsError, match="schedule cosine -> constant"):
        runs.Results(tmp_path).prepare(meta(schedule="constant"))
    with pytest.raises(runs.RunsError, match="lr None -> 0.5"):
        runs.Results(tmp_path).prepare(meta(lr=0.5))


def test_results_without_run_json_are_refused(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    results.append(row(A, 1))
    results.meta_path.unlink()
    with pytest.raises(runs.RunsError, match="no run.json"):
        runs.Results(tmp_path).prepare(meta())


def test_prepare_records_meta(tmp_path):
    runs.Results(tmp_path).prepare(meta(seeds=[0, 1]))
    assert json.loads((tmp_path / "run.json").read_text())["config"]["seeds"] == [0, 1]


def test_resume_drops_runs_made_stale_by_a_new_rate(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    old_b = RunConfig("huber:on=probs:delta=0.1", seed=0, epochs=2, lr=3.0)
    for r in (row(A, 1), row(A, 2), row(old_b, 1), row(old_b, 2)):
        results.append(r)
    # re-tuned: huber now trains at 10.0; its finished rows at 3.0 must not meet the new ones
    assert results.resume([A, B]) == {A}
    assert {r["lr"] for r in results.rows()} == {"1.0"} or {r["lr"] for r in results.rows()} == {
        "1"
    }
    assert [r["loss"] for r in results.rows()] == ["ce", "ce"]


def test_noisy_runs_and_other_workloads_keep_their_own_weights_file():
    assert runs.slug(RunConfig("ce", noise="sym:0.4")) == "ce__cpu__seed0__sym_0.4"
    assert runs.slug(RunConfig("ce")) == "ce__cpu__seed0"  # the default workload: as before
    other = RunConfig("ce", dataset="digits", model="mlp:hidden=64")
    assert runs.slug(other) == "digits__mlp_hidden-64__ce__cpu__seed0"


def test_runs_of_another_machine_or_build_are_refused(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    results.append(row(A, 1))
    results.append(row(A, 2))
    elsewhere = {**HERE, "cpu": "AMD EPYC"}
    with pytest.raises(runs.RunsError, match="another machine.*AMD EPYC") as info:
        runs.Results(tmp_path).prepare(meta(environment=elsewhere))
    assert "\n" not in str(info.value) and "--out" in str(info.value)
    with pytest.raises(runs.RunsError, match="another machine"):
        runs.Results(tmp_path).prepare(meta(environment={**HERE, "torch": "2.15.0"}))
    # the refused command changed nothing: the runs and their machine are still there
    assert runs.Results(tmp_path).meta()["environment"]["cpu"] == HERE["cpu"]
    assert runs.Results(tmp_path).finished() == {A}
    # an empty folder takes any machine
    assert runs.Results(tmp_path / "new").prepare(meta(environment=elsewhere)) == set()


def test_the_same_dataset_over_other_data_is_refused_and_other_datasets_are_added(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    results.append(row(A, 2))
    with pytest.raises(runs.RunsError, match="fashion_mnist runs trained on other data"):
        runs.Results(tmp_path).prepare(meta(datasets={"fashion_mnist": "beef"}))
    runs.Results(tmp_path).prepare(meta(datasets={"digits": "cafe"}))
    assert runs.Results(tmp_path).meta()["datasets"] == {"fashion_mnist": "f00d", "digits": "cafe"}


def test_a_results_file_of_the_previous_version_is_upgraded(tmp_path):
    old_columns = [c for c in schema.RESULTS if c not in ("dataset", "model", "grad")]
    lines = [",".join(old_columns)]
    for epoch in (1, 2):
        values = {
            **dict.fromkeys(old_columns, "0.5"),
            **{k: str(v) for k, v in A.__dict__.items() if k in old_columns},
            "epoch": str(epoch),
            "status": "ok",
        }
        lines.append(",".join(values[c] for c in old_columns))
    (tmp_path / "results.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "run.json").write_text(json.dumps(meta()))
    results = runs.Results(tmp_path)
    assert results.finished() == {A}  # read as Fashion-MNIST on softmax regression
    results.prepare(meta())
    assert results.csv_path.read_text().splitlines()[0] == ",".join(schema.RESULTS)
    assert {(r["dataset"], r["model"], r["grad"]) for r in results.rows()} == {
        ("fashion_mnist", "linear", "analytic")
    }


def test_runs_under_both_validation_protocols_coexist_and_resume_apart(tmp_path):
    results = runs.Results(tmp_path)
    results.prepare(meta())
    trusted = RunConfig("ce", seed=0, epochs=2, lr=0.3, validation="trusted:1000")
    for r in (row(A, 1), row(A, 2), row(trusted, 1), row(trusted, 2)):
        results.append(r)
    # the trusted run at another rate is no stale version of the noisy one: both are kept
    assert results.resume([A, trusted]) == {A, trusted}
    assert results.resume([A]) == {A}
    assert sorted({r["validation"] for r in results.rows()}) == ["noisy", "trusted:1000"]
    assert runs.slug(trusted) == "ce__cpu__seed0__trusted_1000"
    assert runs.slug(A) == "ce__cpu__seed0"


def test_a_row_without_a_newer_column_is_written_as_an_older_table_reads(tmp_path):
    path = tmp_path / "tuning.csv"
    row = dict.fromkeys(schema.TUNING, "x")
    del row["selection"]  # a column newer than the row's producer: its UPGRADE meaning
    schema.write_rows(path, schema.TUNING, [row])
    assert schema.read_rows(path, schema.TUNING)[0]["selection"] == "last"
    del row["loss"]  # a column every producer writes: an error, never a guess
    with pytest.raises(KeyError, match="loss"):
        schema.write_rows(path, schema.TUNING, [row])
