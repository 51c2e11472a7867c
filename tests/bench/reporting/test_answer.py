"""The answer from synthetic studies: answer.csv against the rows it came from, each scenario's
reading against answer.csv, the found table, a diverged run, one seed, the long-tail rule and
the calibration pick."""

import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from test_layouts import write_meta

from bench import schema
from bench.analysis import across
from bench.datasets import Dataset
from bench.reporting import answer, answer_facts, found
from bench.reporting import calibration as calibration_section
from bench.reporting import workload as workloads

EPOCHS = 3
# (epoch seconds, final test accuracy per seed[, final balanced accuracy per seed]) per loss
CLEAN = {
    "ce": (0.1, [0.85, 0.86, 0.85]),
    "gce": (0.2, [0.85, 0.86, 0.849]),
    "l1": (0.05, [0.78, 0.79, 0.77]),
}
NOISY = {
    "ce": (0.1, [0.70, 0.72, 0.71]),
    "gce": (0.2, [0.80, 0.81, 0.80]),
    "l1": (0.05, [0.60, 0.62, 0.61]),
}
# long-tailed: ce has the best accuracy, logit adjustment the best balanced accuracy
TAIL = {
    "ce": (0.1, [0.80, 0.81, 0.80], [0.60, 0.61, 0.60]),
    "logit_adjusted": (0.1, [0.78, 0.79, 0.78], [0.70, 0.71, 0.72]),
}


def study(plan, dataset="fashion_mnist", model="linear", concurrent=False):
    """Results rows of ``plan`` ({noise: {loss: (epoch_s, accs[, balanced])}}): every run climbs
    0.05 per epoch to its final accuracy."""
    rows = []
    for noise, by_loss in plan.items():
        for loss, (seconds, accs, *balanced) in by_loss.items():
            for seed, acc in enumerate(accs):
                fair = balanced[0][seed] if balanced else acc
                for epoch in range(1, EPOCHS + 1):
                    late = 0.05 * (EPOCHS - epoch)
                    rows.append(
                        {
                            "trainer": "lossbench",
                            "dataset": dataset,
                            "model": model,
                            "loss": loss,
                            "device": "cpu",
                            "seed": seed,
                            "noise": noise,
                            "epoch": epoch,
                            "epochs": EPOCHS,
                            "lr": 0.1,
                            "batch_size": 256,
                            "schedule": "cosine",
                            "status": "ok",
                            "step_mode": "eager",
                            "grad": "analytic",
                            "train_loss": 1.0 / epoch,
                            "train_acc": acc,
                            "test_acc": acc - late,
                            "balanced_acc": fair - late,
                            "worst_class_acc": fair - 0.2,
                            "macro_f1": fair,
                            "epoch_s": seconds,
                            "step_ms": 1.0,
                            "step_ms_p90": 1.2,
                            "samples_per_s": 3e5,
                            "floor_s": 0.01,
                            "peak_mem_mb": 100.0,
                            "grad_norm": 1.0,
                            "active_frac": 1.0,
                            "memorised": 0.1 if noise != "none" else math.nan,
                            "concurrent": concurrent,
                        }
                    )
    return pd.DataFrame(rows).reindex(columns=list(schema.RESULTS))


def folder(path, frame, noise=("none",)):
    path.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path / "results.csv", index=False)
    write_meta(path, noise=list(noise), seeds=[0, 1, 2])
    return path


def section(out, data=None):
    meta = json.loads((out / "run.json").read_text())
    return answer.section(workloads.load(out, meta, data))


@pytest.fixture(scope="module")
def make_bench(tmp_path_factory):
    """The usual `make bench`: one dataset, one model, clean and sym:0.4 (two workloads)."""
    out = folder(
        tmp_path_factory.mktemp("bench"),
        study({"none": CLEAN, "sym:0.4": NOISY}),
        ("none", "sym:0.4"),
    )
    return out, section(out)


def test_answer_csv_is_the_verdicts_of_the_rows_it_came_from(make_bench):
    out, _ = make_bench
    table = answer.read(out).set_index(["noise", "loss"])
    assert list(pd.read_csv(out / "answer.csv").columns) == list(schema.ANSWER)
    assert len(table) == 6 and set(table["seeds"]) == {3} and set(table["diverged"]) == {0}
    assert set(table["margin"]) == {0.005}  # no data loaded: the default margin
    final = study({"none": CLEAN, "sym:0.4": NOISY}).query("epoch == @EPOCHS")
    means = final.groupby(["noise", "loss"])["test_acc"].mean()
    assert table["score"].to_numpy() == pytest.approx(means.reindex(table.index).to_numpy())
    # clean: ce (0.8533) best; gce differs by 0, 0, −0.001 (mean −0.00033, sd 0.00058, each
    # bound at 1 − 0.05/2 with 2 df: ±4.303·0.00058/√3 = ±0.00144): inside ±0.005
    gce = table.loc[("none", "gce")]
    assert gce["verdict"] == "equivalent" and gce["diff"] == pytest.approx(-0.001 / 3)
    half = 4.3026527 * (0.001 / 3**0.5) / 3**0.5
    assert gce["upper"] - gce["diff"] == pytest.approx(half, rel=1e-4)  # CSV keeps 6 digits
    # l1 by −0.07, −0.07, −0.08: upper −0.0733 + 0.0143 < −0.005
    assert table.loc[("none", "l1"), "verdict"] == "worse"
    assert table.loc[("none", "ce"), "verdict"] == "best"
    assert table.loc[("sym:0.4", "gce"), "verdict"] == "best"
    assert set(table.loc["sym:0.4"]["verdict"]) == {"best", "worse"}


def test_each_scenario_read_is_true_of_answer_csv(make_bench):
    out, _ = make_bench
    table = answer.read(out)
    picks = pd.read_csv(out / "picks.csv", keep_default_na=False).set_index("scenario")
    for scenario, noise in (("clean", "none"), ("noisy", "sym:0.4")):
        mine = table[table["noise"] == noise]
        alive = mine["verdict"].isin(["best", "equivalent", "undecided"]) & (mine["diverged"] == 0)
        named = picks.loc[scenario, "pick"] or picks.loc[scenario, "set"]
        assert set(named.split(";")) == set(mine.loc[alive, "loss"]), scenario
    assert picks.loc["clean", "pick"] == "" and picks.loc["clean", "set"] == "ce;gce"
    assert picks.loc["noisy", "pick"] == "gce"
    assert not picks.loc["long_tailed", "measured"]


def test_found_table_reads_answer_csv_and_fills_the_markers(make_bench, tmp_path):
    out, _ = make_bench
    rows = {r["scenario"]: r for r in found.rows(out)}
    assert rows["noisy"]["pick"] == "gce" and rows["clean"]["set"] == "ce;gce"
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- found:begin -->\nPLACEHOLDER\n<!-- found:end -->\nrest\n")
    assert found.main([str(out), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "PLACEHOLDER" not in text and text.startswith("intro") and text.endswith("rest\n")
    assert "| [Noisy labels](" in text and "README.md#noisy-labels) | `gce` |" in text
    readme.write_text("no markers\n")
    assert found.main([str(out), "--readme", str(readme)]) == 1


def test_a_diverged_run_is_counted_not_averaged_and_never_best(tmp_path):
    frame = study({"none": CLEAN})
    gone = (frame["loss"] == "ce") & (frame["seed"] == 2) & (frame["epoch"] == EPOCHS)
    frame.loc[gone, ["status", "test_acc"]] = ["diverged", 0.1]
    section(folder(tmp_path, frame))
    ce = answer.read(tmp_path).set_index("loss").loc["ce"]
    assert ce["diverged"] == 1 and ce["score"] == pytest.approx(0.855)  # seeds 0, 1 only
    assert ce["verdict"] not in ("best", "equivalent")
    assert answer.read(tmp_path).set_index("loss").loc["gce", "verdict"] == "best"


def test_a_single_seed_folder_gets_no_answer(tmp_path):
    out = folder(tmp_path, study({"none": {k: (s, a[:1]) for k, (s, a) in CLEAN.items()}}))
    assert section(out) == "" and not (out / "answer.csv").exists()


def test_the_long_tail_rule_is_a_prior_ratio_of_ten():
    assert answer.long_tailed(10.0) and answer.long_tailed(100.0)
    assert not answer.long_tailed(9.99) and not answer.long_tailed(1.68)  # breast_cancer
    assert not answer.long_tailed(float("nan"))
    labels = torch.tensor([0] * 20 + [1] * 2 + [2] * 4)  # 20 / 2 = 10
    data = Dataset(
        torch.zeros(26, 2), labels, torch.zeros(3, 2), torch.arange(3), classes=("a", "b", "c")
    )
    assert answer.prior_ratio(SimpleNamespace(data=data, dataset="x")) == pytest.approx(10.0)
    assert (
        answer.prior_ratio(SimpleNamespace(data=None, dataset="fashion_mnist_lt:ratio=100")) == 100
    )
    assert math.isnan(answer.prior_ratio(SimpleNamespace(data=None, dataset="digits")))


def test_the_calibration_pick_is_the_lowest_ece_with_its_interval(monkeypatch):
    ece = {"a": [0.020, 0.021, 0.022], "b": [0.050, 0.052, 0.051], "c": [0.021, 0.023, 0.021]}
    metrics = pd.DataFrame(
        [
            {
                "loss": loss,
                "device": "cpu",
                "seed": s,
                "scaling": scaling,
                "ece": v if scaling == "before" else 0.01 + 0.001 * s,
            }
            for loss, values in ece.items()
            for s, v in enumerate(values)
            for scaling in ("before", "after")
        ]
    )
    monkeypatch.setattr(calibration_section, "measured", lambda w: (metrics, None))
    info = pd.DataFrame(
        [
            {
                "dataset": "d",
                "model": "linear",
                "device": "cpu",
                "n_test": 10_000,
                "workload": object(),
            }
        ]
    )
    before = answer_facts.ece_answer(info, "before").set_index("loss")
    assert before.loc["a", "verdict"] == "best" and before.loc["b", "verdict"] == "worse"
    assert before.loc["c", "verdict"] == "equivalent"  # within ±0.5 points of ECE
    assert before.loc["a", "score"] == pytest.approx(0.021)  # ECE, not −ECE
    (lowest,) = answer_facts.lowest_ece(before.reset_index(), info, "before")
    half = 4.3026527 * 0.001 / 3**0.5  # t(0.975, 2 df) · sd / √n
    assert lowest["loss"] == "a" and lowest["ece"] == pytest.approx(0.021)
    assert (lowest["lower"], lowest["upper"]) == pytest.approx((0.021 - half, 0.021 + half))
    after = answer_facts.ece_answer(info, "after")
    found_after = across.scenario(after, after[["dataset", "model", "noise"]])
    # after scaling every loss has the same ECE per seed: no spread, nothing separates them
    assert found_after["pick"] is None and found_after["set"] == ["a", "b", "c"]


def test_a_scenario_follows_a_loss_whose_tuned_setting_differs_between_workloads():
    keys = [("d", "linear", "none"), ("e", "linear", "none")]
    verdicts = pd.DataFrame(
        [
            {
                "dataset": d,
                "model": m,
                "noise": n,
                "loss": loss,
                "verdict": v,
                "diverged": 0,
                "score": 0.1,
                "seeds": 5,
                "seeds_needed": float("nan"),
            }
            for (d, m, n), gce in zip(keys, ("gce:q=0.7", "gce:q=0.3"), strict=True)
            for loss, v in ((gce, "best"), ("ce", "worse"))
        ]
    )
    scores = pd.DataFrame(
        [
            {"dataset": d, "model": m, "noise": n, "loss": loss, "entry": entry}
            for (d, m, n), gce in zip(keys, ("gce:q=0.7", "gce:q=0.3"), strict=True)
            for loss, entry in ((gce, "gce:q=0.7"), ("ce", "ce"))
        ]
    )
    workloads = pd.DataFrame(keys, columns=["dataset", "model", "noise"])
    assert across.scenario(verdicts, workloads)["pick"] is None  # by tuned spec: no pick
    found = across.scenario(answer_facts.with_entries(verdicts, scores), workloads)
    assert found["pick"] == "gce:q=0.7"
