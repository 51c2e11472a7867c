"""The micro-benchmarks' summary, from pytest-benchmark's JSON."""

import json

from bench.reporting import microbench


def test_microbench_summary_pairs_ours_with_torch(tmp_path):
    def bench(name, param, group, median):
        return {
            "name": f"{name}[{param}]",
            "param": param,
            "group": group,
            "stats": {"median": median},
        }

    saved = {
        "datetime": "2026-11-25T00:00:00",
        "machine_info": {"cpu": {"brand_raw": "CPU X"}},
        "benchmarks": [
            bench("test_lossbench_value_and_grad", "ce", "ce, 512×7", 1e-3),
            bench("test_torch_builtin_forward_backward", "ce", "ce, 512×7", 4e-3),
            bench("test_training_step", "ce", "training step, batch 32", 2e-4),
        ],
    }
    path = tmp_path / "microbench.json"
    path.write_text(json.dumps(saved))
    text = microbench.section(path)
    assert "CPU X" in text and "| ce | 1,000 | 4,000 | 4.00 |" in text and "| ce | 200 |" in text
    # the shapes and the batch are the benchmarks' own, as their group names record them
    assert "Value and gradient on 512×7 (median µs)" in text
    assert "One training step, batch 32 (median µs):" in text
    assert microbench.section(tmp_path / "absent.json") == ""
