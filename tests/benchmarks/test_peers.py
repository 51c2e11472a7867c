"""Each peer library's copy of a loss equals the criterion the timing puts beside it (value and
gradient, float64), so ``make microbench``'s peer table compares like with like. A peer that is
not installed is skipped (the optional ``peers`` extra installs them)."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import peers  # noqa: E402


@pytest.mark.parametrize("peer", peers.PEERS, ids=lambda p: p.name)
@pytest.mark.parametrize("shape", [(7, 5), (3, 10)])
def test_peer_equals_the_criterion(peer, shape):
    if not peer.installed:
        pytest.skip(f"{peer.module} is not installed (pip install -e '.[peers]')")
    data = peers.batch(shape, torch.float64, soft=peer.soft)
    theirs = peers.value_and_grad(peer.peer, *data)
    ours = peers.value_and_grad(peer.ours, *data)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    assert theirs[1].abs().sum() > 0
