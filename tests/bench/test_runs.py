"""results.csv and run.json: appending, finished runs, resume, torn lines, changed configs."""

import json

import pytest

from bench import runs
from bench.train import RunConfig


def meta(**config):
    return {
        "command": "python -m bench",
        "environment": {},
        "config": {"epochs": 2, "batch_size": 256, "schedule": "cosine", "lr": None, **config},
    }


def row(config: RunConfig, epoch: int, status="ok", **values):
    base = dict.fromkeys(runs.COLUMNS, 0.5)
    base.update({**config.__dict__, "epoch": epoch, "status": status, **values})
    return base


A = RunConfig("ce", seed=0, epochs=2, lr=1.0)
B = RunConfig("huber:on=probs:delta=0.1", seed=0, epochs=2, lr=10.0)


def test_slug_is_a_safe_file_name():
    assert runs.slug("huber:on=probs:delta=0.1", "cpu", 2) == "huber_on-probs_delta-0.1__cpu__seed2"


def test_expand_covers_loss_device_seed():
    configs = runs.expand(
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
    assert results.csv_path.read_text().splitlines()[0] == ",".join(runs.COLUMNS)


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


def test_noisy_runs_keep_their_own_weights_file():
    assert runs.slug("ce", "cpu", 0, "sym:0.4") == "ce__cpu__seed0__sym_0.4"
    assert runs.slug("ce", "cpu", 0) == "ce__cpu__seed0"
