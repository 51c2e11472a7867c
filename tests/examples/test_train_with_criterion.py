"""examples/train_with_criterion.py, run as a user (and CI) runs it: a CNN on noisy digits trained
by torch.optim with losses.nn.GCELoss beside torch.nn.CrossEntropyLoss."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gce_and_ce_train_a_cnn_under_label_noise_and_gce_resists_it():
    done = subprocess.run(
        [sys.executable, "examples/train_with_criterion.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    accuracy = {
        name: float(value)
        for name, value in re.findall(
            r"^(ce|gce) test accuracy ([0-9.]+)$", done.stdout, re.MULTILINE
        )
    }
    assert set(accuracy) == {"ce", "gce"}, done.stdout
    # both learn (chance is 0.1); with 40% of labels flipped, ce memorises them and gce does
    # not: gce led by 5 to 25 points at seeds 0-3 (30 epochs) and by 10 and 17 at seeds 1 and 0
    # (40 epochs, the default: 0.96 against 0.79 at seed 0)
    assert 0.5 < accuracy["ce"] <= 1 and 0.5 < accuracy["gce"] <= 1
    assert accuracy["gce"] > accuracy["ce"]
