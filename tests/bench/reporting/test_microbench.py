"""The micro-benchmarks' summary, from pytest-benchmark's JSON."""

import json

import pytest

from bench.reporting import microbench


def bench(name, param, group, median):
    return {"name": f"{name}[{param}]", "param": param, "group": group, "stats": {"median": median}}


SAVED = {
    "datetime": "2026-11-25T00:00:00",
    "machine_info": {"cpu": {"brand_raw": "CPU X"}},
    "benchmarks": [
        bench("test_lossbench_value_and_grad", "ce", "ce, 512×7", 1e-3),
        bench("test_torch_builtin_forward_backward", "ce", "ce, 512×7", 4e-3),
        bench("test_lossbench_value_and_grad", "l2", "l2, 512×7", 2e-3),  # no torch twin
        bench("test_training_step", "ce", "training step, batch 32", 2e-4),
    ],
}


def test_microbench_summary_pairs_ours_with_torch():
    facts = microbench.summary(SAVED)
    assert (facts["date"], facts["cpu"]) == ("2026-11-25", "CPU X")
    # medians in µs; only the cases timed both ways are set side by side
    versus = facts["versus"].set_index("loss")
    assert list(versus.index) == ["ce"]
    assert versus.loc["ce", "lossbench_us"] == pytest.approx(1000)
    assert versus.loc["ce", "torch_us"] == pytest.approx(4000)
    assert versus.loc["ce", "ratio"] == pytest.approx(4.0)
    assert facts["steps"].to_dict("records") == [{"loss": "ce", "step_us": pytest.approx(200)}]
    # the shapes and the batch are the benchmarks' own, as their group names record them
    assert facts["shape"] == "512×7" and facts["step_group"] == "training step, batch 32"


def test_microbench_without_a_shared_shape_or_a_file():
    saved = {
        **SAVED,
        "benchmarks": [
            bench("test_lossbench_value_and_grad", "ce", "ce, 512×7", 1e-3),
            bench("test_lossbench_value_and_grad", "l2", "l2, 64×3", 1e-3),
        ],
    }
    facts = microbench.summary(saved)
    assert facts["shape"] is None and facts["versus"].empty and facts["step_group"] is None
    assert microbench.summary({**SAVED, "benchmarks": []}) is None


def test_microbench_section_renders_its_facts(tmp_path):
    path = tmp_path / "microbench.json"
    path.write_text(json.dumps(SAVED))
    assert microbench.section(path).startswith("### Micro-benchmarks")
    assert microbench.section(tmp_path / "absent.json") == ""
    path.write_text(json.dumps({**SAVED, "benchmarks": []}))
    assert microbench.section(path) == ""
