"""The report's templates and the filters that word their numbers."""

import math

import jinja2
import pytest

from bench.reporting import prose


def test_counts_and_plurals():
    assert (prose.count(1, "run"), prose.count(3, "run"), prose.count(1200, "run")) == (
        "1 run",
        "3 runs",
        "1,200 runs",
    )
    assert prose.count(2, "loss", "losses") == "2 losses"
    assert (prose.plural(1, "class", "classes"), prose.plural(0, "class", "classes")) == (
        "class",
        "classes",
    )


def test_lists_numbers_ratios_and_durations():
    assert [prose.join_and(x) for x in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b and c",
    ]
    assert (prose.number(1234.567, 2), prose.number(None), prose.number(math.nan)) == (
        "1,234.57",
        "—",
        "—",
    )
    assert prose.accuracy(0.84449) == "0.8445"
    assert (prose.times(9.96), prose.times(9.5), prose.times(46.4)) == ("10.0×", "9.5×", "46×")
    assert (prose.duration(45), prose.duration(192)) == ("45 s", "3.2 min")


def test_every_template_parses():
    names = sorted(p.name.removesuffix(".md.j2") for p in prose.TEMPLATES.glob("*.md.j2"))
    assert {"header", "accuracy", "tuning", "noise", "learning", "speed"} <= set(names)
    for name in names:
        prose.environment().get_template(f"{name}.md.j2")  # a syntax error raises here


def test_a_missing_template_or_fact_is_an_error_not_a_blank():
    with pytest.raises(ValueError, match="no report template 'nothing'"):
        prose.render("nothing")
    with pytest.raises(jinja2.UndefinedError):
        prose.render("provenance")  # version and commit not given
    assert (
        prose.render("provenance", version="0.1.0", commit="abc1234")
        == "lossbench 0.1.0 (commit abc1234)"
    )


def test_counts_of_one_and_tiny_costs_read_right_in_the_header_and_the_cost():
    header = prose.render(
        "header",
        finished=3,
        unfinished=0,
        what="x",
        protocol="y",
        speed_only=False,
        provenance="lossbench 0.1.0",
        cpu="a CPU",
        threads=1,
        cuda="no CUDA device",
        torch="2.14.1",
    )
    assert "1 thread," in header and "1 threads" not in header
    full = {
        "seeds": 5,
        "symmetric": ["sym:0.2"],
        "pairs": ["pairs:0.2"],
        "workloads": [("toy · linear", 1)],
        "core_seconds": 90.0,
        "cores": 1,
        "workers": 64,
        "command": "make study-full",
    }
    cost = prose.render("cost", commands="", seconds=1.0, runs=1, grid=None, full=full)
    assert "about 2 core-minutes" in cost and "0.0 core-hours" not in cost
    assert "with the 1 thread these runs used" in cost and "1-core" not in cost
    assert "1 runs" not in cost


def test_the_protocol_names_each_optimiser_the_runs_used():
    def said(*optimizers):
        return prose.render(
            "protocol",
            grid=False,
            optimizers=list(optimizers),
            epochs=60,
            batch_size=[128],
            schedule="cosine",
            rates="tuned",
            lr=None,
            seeds=3,
            noise=["none"],
        )

    assert said({"name": "sgd", "params": {}}).startswith("minibatch SGD, batch 128")
    both = said(
        {"name": "sgd", "params": {}},
        {"name": "momentum", "params": {"beta": "0.9", "wd": "0.0005"}},
    )
    assert "minibatch SGD or minibatch SGD with momentum 0.9 and weight decay 0.0005" in both
    assert "(per workload" in both


def test_the_header_names_every_noise_level_the_runs_trained_at():
    """run.json's config is the last command's: the levels come from the runs themselves."""
    from types import SimpleNamespace

    import pandas as pd

    from bench.reporting import header

    runs = [
        SimpleNamespace(final=pd.DataFrame({"noise": ["sym:0.8", "idn:0.4", "none"]})),
        SimpleNamespace(final=pd.DataFrame({"noise": ["pairs:0.4", "sym:0.4"]})),
    ]
    assert header.levels(runs) == ["none", "idn:0.4", "pairs:0.4", "sym:0.4", "sym:0.8"]
    assert header.levels([]) == []
    text = header.protocol({"noise": ["sym:0.8"], "seeds": [0, 1, 2]}, ran=runs[:1])
    assert text.endswith("label noise: none, idn:0.4, sym:0.8")


def test_the_header_counts_the_seeds_the_runs_trained_not_the_first_round():
    """The race gives some losses more seeds than --seeds: the header says the range."""
    from types import SimpleNamespace

    import pandas as pd

    from bench.reporting import header

    raced = pd.DataFrame(
        {"noise": ["sym:0.4"] * 7, "loss": ["ce"] * 3 + ["gce"] * 4, "seed": [0, 1, 2, 0, 1, 2, 3]}
    )
    even = raced[raced.seed < 3]
    assert header.seed_counts([SimpleNamespace(final=raced)]) == [3, 4]
    assert header.seed_counts([SimpleNamespace(final=even)]) == [3]
    assert header.seed_counts([]) == []


def test_the_header_takes_each_workload_s_batch_size_from_its_runs():
    from types import SimpleNamespace

    import pandas as pd

    from bench.reporting import header

    memo = SimpleNamespace(final=pd.DataFrame({"batch_size": [128, 128]}))
    linear = SimpleNamespace(final=pd.DataFrame({"batch_size": [256]}))
    assert header.batch_sizes([linear, memo]) == [128, 256]
    assert header.batch_sizes([]) == []
