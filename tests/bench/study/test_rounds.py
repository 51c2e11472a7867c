"""Seeds in rounds: undecided losses (and the best) get more seeds, decided ones none; a study
killed mid-round resumes it with no finished run lost or trained twice."""

import pandas as pd
import pytest

from bench.__main__ import main
from bench.study import rounds
from bench.training.loop import Interrupted


def stand_in(open_until: dict[str, int], best: str = "a"):
    """A verdict function: ``best`` is best; a loss in ``open_until`` stays undecided while it has
    fewer seeds than its number there; any other is worse."""

    def verdicts(scores: pd.DataFrame, margin: float, looks=1) -> pd.DataFrame:
        rows = []
        for (dataset, model, noise, loss), group in scores.groupby(
            ["dataset", "model", "noise", "loss"]
        ):
            seeds = group["seed"].nunique()
            verdict = (
                "best"
                if loss == best
                else "undecided"
                if seeds < open_until.get(loss, 0)
                else "worse"
            )
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "noise": noise,
                    "loss": loss,
                    "verdict": verdict,
                    "seeds": seeds,
                }
            )
        return pd.DataFrame(rows)

    return verdicts


def frame(plan):
    return pd.DataFrame(
        [
            {
                "dataset": "d",
                "model": "m",
                "noise": level,
                "loss": entry,
                "seed": seed,
                "score": 0.5,
                "diverged": False,
            }
            for (level, entry), n in plan.items()
            for seed in range(n)
        ]
    )


def test_an_undecided_loss_and_the_best_get_more_seeds_a_decided_one_none():
    plan = rounds.first(["none", "sym:0.4"], ["a", "b", "c"], clean=5, noisy=3)
    assert plan == {
        ("none", "a"): 5,
        ("none", "b"): 5,
        ("none", "c"): 5,
        ("sym:0.4", "a"): 3,
        ("sym:0.4", "b"): 3,
        ("sym:0.4", "c"): 3,
    }
    judge = stand_in({"b": 99})
    after = rounds.next_plan(plan, frame(plan), judge, 0.005, step=2, cap=8)
    assert after == {
        ("none", "a"): 7,
        ("none", "b"): 7,
        ("none", "c"): 5,
        ("sym:0.4", "a"): 5,
        ("sym:0.4", "b"): 5,
        ("sym:0.4", "c"): 3,
    }
    # up to the cap, and no further
    capped = rounds.next_plan(after, frame(after), judge, 0.005, step=2, cap=8)
    assert capped[("none", "b")] == 8 and capped[("sym:0.4", "b")] == 7
    assert capped[("none", "c")] == 5
    final = rounds.next_plan(
        {**capped, ("sym:0.4", "a"): 8, ("sym:0.4", "b"): 8},
        frame(capped),
        judge,
        0.005,
        step=2,
        cap=8,
    )
    assert final[("none", "b")] == 8


def finished_rows(plan):
    """A finished row per seed that ``plan`` ((level, entry) -> seeds) asks for, all at 0.5."""
    return [
        {
            "trainer": "lossbench",
            "dataset": "d",
            "model": "m",
            "noise": level,
            "entry": entry,
            "loss": entry,
            "seed": seed,
            "status": "ok",
            "epoch": 2,
            "epochs": 2,
            "test_acc": 0.5,
        }
        for (level, entry), n in plan.items()
        for seed in range(n)
    ]


def test_the_race_stops_when_every_verdict_is_decided():
    trained = []

    def train(plan):
        trained.append(dict(plan))
        return finished_rows(plan)

    plan = rounds.first(["none"], ["a", "b", "c"], clean=5, noisy=3)
    last = rounds.race(
        train,
        plan,
        metric="test_acc",
        step=2,
        cap=10,
        verdicts=(stand_in({"b": 9}), lambda n, test_per_seed=False: 0.005),
        n_test=100,
    )
    assert [p[("none", "b")] for p in trained] == [5, 7, 9]  # decided once it has 9
    assert [p[("none", "c")] for p in trained] == [5, 5, 5]
    assert last == trained[-1]
    # without a cap above the minimum there is one round
    trained.clear()
    rounds.race(
        train,
        plan,
        metric="test_acc",
        step=2,
        cap=0,
        verdicts=(stand_in({"b": 9}), lambda n, test_per_seed=False: 0.005),
        n_test=100,
    )
    assert len(trained) == 1


QUICK = [
    "--dataset",
    "digits",
    "--losses",
    "ce,nce,l2:on=scores",
    "--epochs",
    "2",
    "--seeds",
    "2",
    "--noise-seeds",
    "2",
    "--seed-cap",
    "4",
    "--seed-round",
    "2",
    "--no-tune",
    "--reference-iters",
    "0",
    "--no-report",
]


def test_a_study_killed_mid_round_resumes_it(tmp_path, monkeypatch):
    verdicts = (stand_in({"nce": 4}, best="ce"), lambda n, test_per_seed=False: 0.005)
    monkeypatch.setattr(rounds, "default_verdicts", lambda: verdicts)
    out = ["--out", str(tmp_path)]
    from bench.study import runner

    real = runner.train_all
    calls = []

    def killed_in_round_two(todo, *args, **kwargs):
        calls.append(len(todo))
        if len(calls) == 2:  # round two: train one of its runs, then Ctrl-C
            real(todo[:1], *args, **kwargs)
            raise Interrupted("killed")
        return real(todo, *args, **kwargs)

    monkeypatch.setattr(runner, "train_all", killed_in_round_two)
    assert main(QUICK + out) == 130
    before = pd.read_csv(tmp_path / "results.csv")
    assert calls == [6, 4]  # 3 losses × 2 seeds; then seeds 2, 3 of nce and of the best
    monkeypatch.setattr(runner, "train_all", real)
    assert main(QUICK + out) == 0
    after = pd.read_csv(tmp_path / "results.csv")
    key = ["loss", "seed", "noise", "epoch"]
    assert not after.duplicated(key).any()
    finished = after[after["epoch"] == after["epochs"]]
    seeds = finished.groupby("entry")["seed"].nunique().to_dict()
    assert seeds == {"ce": 4, "nce": 4, "l2:on=scores": 2}
    # every run finished before the kill is there, unchanged (its times included)
    merged = before.merge(after, on=key, suffixes=("", "_after"))
    assert len(merged) == len(before)
    assert (merged["epoch_s"] == merged["epoch_s_after"]).all()


def test_a_cap_below_the_minimum_is_one_line(tmp_path, capsys):
    assert main(QUICK[:-1] + ["--seed-cap", "1", "--out", str(tmp_path)]) == 2
    assert "--seed-cap 1 is below the minimum seeds (2" in capsys.readouterr().err


@pytest.mark.parametrize("metric, expected", [("test_acc", 0.9), ("balanced_acc", 0.7)])
def test_scores_read_the_final_epoch_by_the_metric_and_count_divergence(metric, expected):
    base = {
        "trainer": "lossbench",
        "dataset": "d",
        "model": "m",
        "noise": "none",
        "entry": "gce",
        "loss": "gce:q=0.9",
        "epochs": 2,
        "test_acc": 0.9,
        "balanced_acc": 0.7,
    }
    rows = [
        {**base, "seed": 0, "epoch": 1, "status": "ok"},
        {**base, "seed": 0, "epoch": 2, "status": "ok"},
        {**base, "seed": 1, "epoch": 1, "status": "diverged"},
        {**base, "seed": 5, "epoch": 2, "status": "ok"},  # not planned
        {**base, "trainer": "d2l-textbook", "seed": 0, "epoch": 2, "status": "ok"},
    ]
    got = rounds.scores(rows, {("none", "gce"): 2}, metric)
    assert got[["loss", "seed", "diverged"]].values.tolist() == [
        ["gce", 0, False],
        ["gce", 1, True],
    ]
    assert got["score"].iloc[0] == expected and pd.isna(got["score"].iloc[1])


def test_candidates_for_best_get_seeds_beside_the_undecided():
    # MCB judges an undecided loss against every candidate for best: those get seeds too;
    # an unstable loss (a failed run) and a decided non-candidate get none
    plan = rounds.first(["none"], ["a", "b", "c", "u"], clean=5, noisy=3)

    def judge(scores, margin, looks=1):
        verdict = {"a": "best", "b": "equivalent", "c": "undecided", "u": "unstable"}
        return pd.DataFrame(
            [
                {
                    "noise": "none",
                    "validation": "noisy",
                    "loss": loss,
                    "verdict": v,
                    "candidate": loss in ("a", "b"),
                }
                for loss, v in verdict.items()
            ]
        )

    after = rounds.next_plan(plan, frame(plan), judge, 0.005, step=2, cap=10)
    assert after == {("none", "a"): 7, ("none", "b"): 7, ("none", "c"): 7, ("none", "u"): 5}


def test_the_race_passes_its_looks_margin_and_chance_to_the_verdicts():
    seen = []

    def judge(scores, margin, looks=1):
        seen.append(
            (
                margin,
                looks,
                set(scores["validation"]),
                set(scores["selection"]),
                set(scores["chance"]),
            )
        )
        return stand_in({})(scores, margin)

    def margin_for(n_test, test_per_seed=False):
        return 0.01 if test_per_seed else 0.005

    def train(plan):
        return finished_rows(plan)

    plan = rounds.first(["none", "sym:0.4"], ["a", "b"], clean=5, noisy=3)
    rounds.race(
        train,
        plan,
        metric="test_acc",
        step=2,
        cap=10,
        verdicts=(judge, margin_for),
        n_test=450,
        test_per_seed=True,
        chance=0.1,
    )
    # clean: 5 → 7 → 9 → 10 is 4 looks; noisy: 3 → 5 → 7 → 9 → 10 is 5
    assert seen == [(0.01, {"none": 4, "sym:0.4": 5}, {"noisy"}, {"last"}, {0.1})]
    assert rounds.looks(5, 2, 10) == 4 and rounds.looks(3, 2, 6) == 3
    assert rounds.looks(5, 2, 5) == 1 and rounds.looks(5, 5, 30) == 6


def test_the_race_is_run_per_validation_protocol():
    plan = rounds.first(["none"], ["a", "b"], clean=3, noisy=3)
    scores = frame(plan).assign(validation="trusted:500")
    judged = []

    def judge(scores, margin, looks=1):
        judged.append(set(scores["validation"]))
        table = stand_in({"b": 99})(scores, margin)
        return table.assign(validation="trusted:500")

    after = rounds.next_plan(plan, scores, judge, 0.005, step=2, cap=6)
    assert judged == [{"trusted:500"}] and after[("none", "b")] == 5
