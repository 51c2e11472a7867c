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
from bench.analysis import across, verdicts
from bench.datasets import Dataset
from bench.reporting import answer, answer_facts, found, noisy
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
    assert set(table["validation"]) == {"noisy"} and set(table["selection"]) == {"last"}
    assert set(table["collapsed"]) == {0} and set(table["chance"]) == {0}
    final = study({"none": CLEAN, "sym:0.4": NOISY}).query("epoch == @EPOCHS")
    means = final.groupby(["noise", "loss"])["test_acc"].mean()
    assert table["score"].to_numpy() == pytest.approx(means.reindex(table.index).to_numpy())
    # the verdicts are those of the scores, at the default margin, with one look (every loss
    # ran 3 seeds: no race)
    scores = final.drop(columns=["entry", "validation"])
    scores = scores.assign(score=final["test_acc"], diverged=False)
    expected = verdicts.verdicts(scores, 0.005).set_index(["noise", "loss"])
    for column in ("verdict", "diff", "lower", "upper", "best"):
        got, want = table[column], expected[column].reindex(table.index)
        if column in ("verdict", "best"):
            assert got.tolist() == want.tolist(), column
        else:
            assert got.to_numpy() == pytest.approx(want.to_numpy(), abs=1e-6, nan_ok=True)
    assert table.loc[("none", "l1"), "verdict"] == "worse"  # 7 points below on every seed
    assert table.loc[("sym:0.4", "gce"), "verdict"] == "best"


def recommended(rows: pd.DataFrame) -> set:
    """The rule, read off answer.csv rows by hand: never worse, no failed run, best or
    equivalent on more than half of the workloads where the loss ran."""
    out = set()
    for entry, mine in rows.groupby("entry"):
        failed = (mine[["diverged", "collapsed", "chance"]].sum(axis=1) > 0).any()
        good = mine["verdict"].isin(["best", "equivalent"]).sum()
        if not failed and not (mine["verdict"] == "worse").any() and 2 * good > len(mine):
            out.add(entry)
    return out


def test_each_scenario_read_is_true_of_answer_csv(make_bench):
    out, _ = make_bench
    table = answer.read(out)
    picks = pd.read_csv(out / "picks.csv", keep_default_na=False).set_index("scenario")
    for scenario, noise in (("clean", "none"), ("noisy_linear", "sym:0.4")):
        named = set(filter(None, picks.loc[scenario, "set"].split(";")))
        assert named == recommended(table[table["noise"] == noise]), scenario
        assert picks.loc[scenario, "pick"] == (named.pop() if len(named) == 1 else "")
    assert "l1" not in picks.loc["clean", "set"]  # worse on the one clean workload
    assert picks.loc["noisy_linear", "pick"] == "gce"
    assert picks.loc["noisy_linear", "settings"] == "gce (1 of 1)"
    assert not picks.loc["long_tailed", "measured"]
    assert not picks.loc["noisy_memorising", "measured"]


def test_found_table_reads_answer_csv_and_fills_the_markers(make_bench, tmp_path):
    out, _ = make_bench
    rows = {r["scenario"]: r for r in found.rows(out)}
    assert rows["noisy_linear"]["pick"] == "gce"
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- found:begin -->\nPLACEHOLDER\n<!-- found:end -->\nrest\n")
    assert found.main([str(out), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "PLACEHOLDER" not in text and text.startswith("intro") and text.endswith("rest\n")
    assert "README.md#noisy-labels-a-linear-model) | `gce` (1 of 1) |" in text
    readme.write_text("no markers\n")
    assert found.main([str(out), "--readme", str(readme)]) == 1


def test_every_table_csv_and_the_found_table_name_the_setting_that_ran(tmp_path):
    # an older folder: the suite spec gce:q=0.7 trained as q=0.3 on clean labels and q=0.5 at
    # sym:0.4; q=0.7 never ran
    plan = {
        "none": {"ce": CLEAN["ce"], "gce:q=0.3": CLEAN["gce"], "l1": CLEAN["l1"]},
        "sym:0.4": {"ce": NOISY["ce"], "gce:q=0.5": NOISY["gce"], "l1": NOISY["l1"]},
    }
    frame = study(plan)
    frame["entry"] = frame["loss"].where(~frame["loss"].str.startswith("gce"), "gce:q=0.7")
    out = folder(tmp_path, frame, ("none", "sym:0.4"))
    text = section(out)
    table = answer.read(out).set_index(["noise", "entry"])
    assert table.loc[("none", "gce"), "loss"] == "gce:q=0.3"
    assert table.loc[("sym:0.4", "gce"), "loss"] == "gce:q=0.5"
    picks = pd.read_csv(out / "picks.csv", keep_default_na=False).set_index("scenario")
    assert picks.loc["noisy_linear", "settings"] == "gce (q=0.5 on 1 of 1)"
    readme = tmp_path / "README.md"
    readme.write_text("<!-- found:begin -->\n<!-- found:end -->\n")
    assert found.main([str(out), "--readme", str(readme)]) == 0
    for written in (
        text,
        (out / "answer.csv").read_text(),
        (out / "picks.csv").read_text(),
        readme.read_text(),
    ):
        assert "q=0.7" not in written and "q = 0.7" not in written
    assert "`gce` (q=0.5 on 1 of 1)" in readme.read_text()


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


def test_the_calibration_pick_is_the_lowest_mean_ece_with_its_interval():
    # an ECE verdict frame as bench.reporting.calibration.ece_verdicts gives it: score = −ECE,
    # best = the top mean of −ECE (with MCB its own verdict may be undecided)
    ece = pd.DataFrame(
        {
            "dataset": "d",
            "model": "linear",
            "noise": "none",
            "loss": ["a", "b", "c"],
            "verdict": ["undecided", "worse", "undecided"],
            "best": "a",
            "score": [-0.021, -0.051, -0.0217],
            "ece": [0.021, 0.051, 0.0217],
            "ece_lower": [0.020, 0.050, 0.021],
            "ece_upper": [0.022, 0.052, 0.023],
        }
    )
    (lowest,) = answer_facts.lowest_ece(ece)
    assert lowest == {
        "workload": "d · linear · clean",
        "loss": "a",
        "ece": 0.021,
        "lower": 0.020,
        "upper": 0.022,
    }


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
                "diff": 0.0 if v == "best" else -0.05,
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


# a network that memorises at sym:0.4: ce peaks at epoch 2, then fits the wrong labels; gce and
# sce keep climbing. (test accuracy per epoch, validation accuracy per epoch)
MEMORISING = {
    "ce": ([0.80, 0.82, 0.70], [0.50, 0.52, 0.45]),
    "gce": ([0.78, 0.81, 0.82], [0.48, 0.51, 0.53]),
    "sce": ([0.78, 0.815, 0.818], [0.48, 0.51, 0.52]),
}
JITTER = {"ce": [0, 0.0005, 0.001], "gce": [0, 0.001, 0.0005], "sce": [0.0005, 0, 0.001]}


def memorising_study() -> pd.DataFrame:
    """An MLP's noisy runs under both validation protocols, every epoch with its val_acc."""
    frame = study(
        {"sym:0.4": {loss: (0.1, [0.0] * 3) for loss in MEMORISING}}, model="mlp:hidden=256"
    )
    parts = []
    for validation in ("noisy", "trusted:1000"):
        part = frame.assign(validation=validation, entry=frame["loss"], early_stop=True)
        test, val = zip(
            *[
                (
                    MEMORISING[r.loss][0][r.epoch - 1] + JITTER[r.loss][r.seed],
                    MEMORISING[r.loss][1][r.epoch - 1],
                )
                for r in part.itertuples()
            ],
            strict=True,
        )
        parts.append(part.assign(test_acc=test, balanced_acc=test, val_acc=val))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def make_memorising(tmp_path_factory):
    out = folder(tmp_path_factory.mktemp("memorising"), memorising_study(), ("sym:0.4",))
    return out, section(out)


def test_a_noisy_workload_gets_verdicts_on_both_scores_under_both_protocols(make_memorising):
    out, _ = make_memorising
    table = answer.read(out)
    assert sorted(map(tuple, table[["validation", "selection"]].drop_duplicates().to_numpy())) == [
        ("noisy", "early_stopped"),
        ("noisy", "last"),
        ("trusted:1000", "early_stopped"),
        ("trusted:1000", "last"),
    ]
    wide = table.set_index(["validation", "selection", "loss"])
    # ce's early-stopped score is its epoch-2 accuracy, its last the epoch-3 one (means of seeds)
    assert wide.loc[("noisy", "early_stopped", "ce"), "score"] == pytest.approx(0.82 + 0.0005)
    assert wide.loc[("noisy", "last", "ce"), "score"] == pytest.approx(0.70 + 0.0005)
    assert wide.loc[("noisy", "last", "ce"), "verdict"] == "worse"
    assert wide.loc[("trusted:1000", "early_stopped", "ce"), "verdict"] in ("best", "equivalent")
    closed = noisy.closed_by_early_stopping(table)
    assert [(c["entry"], c["validation"]) for c in closed] == [
        ("ce", "noisy labels only"),
        ("ce", "1,000 trusted labels"),
    ]
    assert closed[0]["gap_last"] == pytest.approx(0.7005 - 0.8205)


def test_the_memorising_answer_leads_the_picks_and_the_found_table(make_memorising):
    out, _ = make_memorising
    picks = pd.read_csv(out / "picks.csv", keep_default_na=False)
    mine = picks[picks["scenario"] == "noisy_memorising"]
    assert mine[["validation", "selection"]].values.tolist() == [
        ["noisy", "last"],
        ["noisy", "early_stopped"],
        ["trusted:1000", "last"],
        ["trusted:1000", "early_stopped"],
    ]
    last = mine.iloc[0]
    assert "ce" not in last["set"].split(";") and last["measured"]
    rows = found.rows(out)
    assert rows[0]["scenario"] == "noisy_memorising"
    assert not next(r for r in rows if r["scenario"] == "noisy_linear")["measured"]


def test_the_found_table_leads_with_the_memorising_answers_each_named(make_memorising, tmp_path):
    out, _ = make_memorising
    readme = tmp_path / "README.md"
    readme.write_text("<!-- found:begin -->\n<!-- found:end -->\n")
    assert found.main([str(out), "--readme", str(readme)]) == 0
    lines = [line for line in readme.read_text().splitlines() if line.startswith("| [")]
    assert [line.split("](")[0] for line in lines[:4]] == [
        "| [Noisy labels, a network that memorises"
    ] * 4
    assert [line.split(")", 1)[1].split(" | ")[0] for line in lines[:4]] == [
        ", noisy labels only, last epoch",
        ", noisy labels only, early-stopped",
        ", 1,000 trusted labels, last epoch",
        ", 1,000 trusted labels, early-stopped",
    ]
