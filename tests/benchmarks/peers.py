"""The same losses in the libraries users reach for, beside the criterion that equals each.

Each case names the peer's call and the lossbench call with the same value and gradient (the
factor between them written out), so the timing compares like with like:

- ``kornia.losses.focal_loss(alpha=None, gamma=2, reduction="mean")`` = ``focal:gamma=2`` / C
  (kornia's mean runs over the N·C entries of its one-hot product);
- ``torchvision.ops.sigmoid_focal_loss`` coincides with lossbench only at γ = 0 without α
  (``alpha=-1``): elementwise BCE, so its sum over classes, over N, is ``bce``;
- timm: ``LabelSmoothingCrossEntropy(0.1)`` = ``soft_label:smoothing=0.1``;
  ``SoftTargetCrossEntropy`` = ``ce`` on probability rows; ``BinaryCrossEntropy(smoothing=0.1)``
  (mean over the N·C entries) = ``bce:smoothing=0.1`` / C;
- ``segmentation_models_pytorch.losses.FocalLoss("multiclass")`` is a one-vs-rest sigmoid focal
  loss, averaged per class then over classes: at γ = 0 that is ``bce`` / C. It loops over the
  classes in Python, so it is timed at C = 10 only.

The peers' own one-hot or probability targets are built outside the timed call (in their favour).
A peer that is not installed is left out (``pip install -e '.[peers]'`` installs them).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable

import torch
import torch.nn.functional as F

from losses import functional as LF


@dataclasses.dataclass(frozen=True)
class Peer:
    """One peer loss and the lossbench call equal to it; ``max_classes`` bounds the shapes."""

    name: str
    module: str
    peer: Callable  # (scores, labels, targets) -> scalar
    ours: Callable  # (scores, labels, targets) -> scalar
    soft: bool = False  # the targets are probability rows (else one-hot of the labels)
    max_classes: int | None = None

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


def _kornia_focal(s, y, t):
    from kornia.losses import focal_loss

    return focal_loss(s, y, alpha=None, gamma=2.0, reduction="mean")


def _torchvision_focal(s, y, t):
    from torchvision.ops import sigmoid_focal_loss

    return sigmoid_focal_loss(s, t, alpha=-1, gamma=0.0, reduction="sum") / s.shape[0]


_TIMM = {}


def _timm(name, **kwargs):
    """A timm criterion, built once."""
    key = (name, tuple(sorted(kwargs.items())))
    if key not in _TIMM:
        import timm.loss

        _TIMM[key] = getattr(timm.loss, name)(**kwargs)
    return _TIMM[key]


def _smp_focal(s, y, t):
    from segmentation_models_pytorch.losses import FocalLoss

    key = ("smp", "focal")
    if key not in _TIMM:
        _TIMM[key] = FocalLoss("multiclass", gamma=0.0)
    return _TIMM[key](s, y)


PEERS = (
    Peer(
        "kornia focal_loss, γ=2",
        "kornia",
        _kornia_focal,
        lambda s, y, t: LF.loss("focal:gamma=2", s, y) / s.shape[1],
    ),
    Peer(
        "torchvision sigmoid_focal_loss, γ=0 (BCE)",
        "torchvision",
        _torchvision_focal,
        lambda s, y, t: LF.loss("bce", s, y),
    ),
    Peer(
        "timm LabelSmoothingCrossEntropy(0.1)",
        "timm",
        lambda s, y, t: _timm("LabelSmoothingCrossEntropy", smoothing=0.1)(s, y),
        lambda s, y, t: LF.loss("soft_label:smoothing=0.1", s, y),
    ),
    Peer(
        "timm SoftTargetCrossEntropy",
        "timm",
        lambda s, y, t: _timm("SoftTargetCrossEntropy")(s, t),
        lambda s, y, t: LF.loss("ce", s, t),
        soft=True,
    ),
    Peer(
        "timm BinaryCrossEntropy(0.1)",
        "timm",
        lambda s, y, t: _timm("BinaryCrossEntropy", smoothing=0.1)(s, y),
        lambda s, y, t: LF.loss("bce:smoothing=0.1", s, y) / s.shape[1],
    ),
    Peer(
        "smp FocalLoss(multiclass), γ=0",
        "segmentation_models_pytorch",
        _smp_focal,
        lambda s, y, t: LF.loss("bce", s, y) / s.shape[1],
        max_classes=10,
    ),
)


def batch(shape, dtype=torch.float32, soft=False, seed=0):
    """Scores, labels and the peers' targets (one-hot of the labels, or probability rows)."""
    g = torch.Generator().manual_seed(seed)
    n, k = shape
    scores = (torch.randn(n, k, generator=g, dtype=torch.float64) * 2).to(dtype)
    labels = torch.randint(0, k, (n,), generator=g)
    if soft:
        targets = torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64) * 3, 1)
    else:
        targets = F.one_hot(labels, k).double()
    return scores, labels, targets.to(dtype)


def value_and_grad(fn, scores, labels, targets):
    leaf = scores.detach().requires_grad_()
    value = fn(leaf, labels, targets)
    value.backward()
    return value.detach(), leaf.grad
