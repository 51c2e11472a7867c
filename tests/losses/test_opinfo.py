"""PyTorch's own OpInfo samples of its losses, run through the lossbench losses that coincide.

``torch.testing._internal.common_methods_invocations.op_db`` holds the sample inputs PyTorch
tests its operators with (a suite nobody here wrote). Each sample runs through the torch op and
through the matching lossbench criterion with the same arguments, mapped explicitly below with
the documented factors; value, input gradient and target gradient (where the target requires
grad) must agree, float64 to 1e-10 and float32 to 1e-5. What cannot match is skipped by name
with its reason, and pytest's ``-ra`` summary counts the skips per reason.

- ``cross_entropy``: ``losses.functional.loss("ce", ...)`` with the same keywords, every sample.
- ``nll_loss``: ce on log-probabilities: ``nll_loss(log_softmax(x), ...)`` = ``loss("ce", x, ...)``.
- ``multi_margin_loss``: Weston–Watkins ``margin``, Σ over rivals where torch averages over the
  C classes (a factor C); torch's weighted ``mean`` divides by N, not by Σ w_y.
- ``binary_cross_entropy_with_logits``: ``bce``, summed over the classes (dim 1) where torch's
  ``mean`` runs over every entry (a factor C).
- ``mse_loss``, ``l1_loss``, ``huber_loss``, ``smooth_l1_loss``: ``l2`` (½Σr², a factor 2),
  ``l1``, ``huber`` and ``huber``/β on the scores, each entry its own one-class row.
"""

import functools

import pytest
import torch
import torch.nn.functional as F

import losses
from losses import functional as LF

pytest.importorskip("expecttest")  # op_db imports it (the dev extra installs it)
from torch.testing._internal.common_methods_invocations import op_db  # noqa: E402

DTYPES = {torch.float64: 1e-10, torch.float32: 1e-5}
OPS = (
    "nn.functional.cross_entropy",
    "nn.functional.nll_loss",
    "nn.functional.multi_margin_loss",
    "nn.functional.binary_cross_entropy_with_logits",
    "nn.functional.mse_loss",
    "nn.functional.l1_loss",
    "nn.functional.huber_loss",
    "nn.functional.smooth_l1_loss",
)
OPINFO = {op.name: op for op in op_db if op.name in OPS and not op.variant_test_name}


@functools.cache
def samples(name, dtype):
    """The op's sample inputs in ``dtype``, drawn with a fixed seed."""
    torch.manual_seed(0)
    return list(OPINFO[name].sample_inputs("cpu", dtype, requires_grad=True))


CASES = [
    pytest.param(name, dtype, index, id=f"{name.split('.')[-1]}-{str(dtype)[6:]}-{index}")
    for name in OPS
    for dtype in DTYPES
    for index in range(len(samples(name, dtype)))
]


def batched(ours):
    """Run ``ours`` on an unbatched (C,) input as a batch of one, and give back torch's shape."""

    def run(scores, target, **kwargs):
        if scores.dim() != 1:
            return ours(scores, target, **kwargs)
        value = ours(scores.unsqueeze(0), target.unsqueeze(0), **kwargs)
        return value.squeeze(0) if kwargs.get("reduction") == "none" else value

    return run


def cross_entropy(kwargs):
    return torch.nn.functional.cross_entropy, batched(lambda s, t, **kw: LF.loss("ce", s, t, **kw))


def nll_loss(kwargs):
    def reference(x, t, **kw):
        return F.nll_loss(F.log_softmax(x, 0 if x.dim() == 1 else 1), t, **kw)

    return reference, batched(lambda s, t, **kw: LF.loss("ce", s, t, **kw))


def multi_margin_loss(kwargs):
    if kwargs.get("margin", 1.0) <= 0:
        pytest.skip("multi_margin_loss: a margin <= 0 (lossbench's margin delta is positive)")
    margin, power = kwargs.get("margin", 1.0), kwargs.get("p", 1)
    spec = f"margin:kind=weston_watkins:delta={margin}:power={power}"

    def ours(s, t, margin=None, p=None, weight=None, reduction="mean"):
        if s.dim() == 0:
            pytest.skip("multi_margin_loss: a 0-d score (one class) is no classifier's output")
        s2, t2 = (s.unsqueeze(0), t.reshape(1)) if s.dim() == 1 else (s, t)
        total = LF.loss(spec, s2, t2, weight=weight, reduction="none") / s2.shape[1]
        if reduction == "none":
            return total.reshape(t.shape)
        return total.sum() if reduction == "sum" else total.mean()

    return F.multi_margin_loss, ours


def binary_cross_entropy_with_logits(kwargs):
    if kwargs.get("weight") is not None or kwargs.get("pos_weight") is not None:
        pytest.skip(
            "bce_with_logits: torch's weight and pos_weight scale entries; lossbench's class "
            "weights act as F.cross_entropy's, inside the target row"
        )
    return F.binary_cross_entropy_with_logits, elementwise("bce", 1.0)


def elementwise(spec, factor):
    """A per-example loss summed over classes, on each entry as its own one-class row: equal to
    torch's elementwise loss times ``factor``, reduced as torch reduces."""
    the_loss = losses.parse(spec)

    def ours(s, t, reduction="mean", **_):
        rows = the_loss(s.reshape(-1, 1), t.reshape(-1, 1), check=False) * factor
        if reduction == "none":
            return rows.reshape(s.shape)
        return rows.sum() if reduction == "sum" else rows.mean()

    return ours


def mse_loss(kwargs):
    return F.mse_loss, elementwise("l2:on=scores", 2.0)


def l1_loss(kwargs):
    return F.l1_loss, elementwise("l1:on=scores", 1.0)


def huber_loss(kwargs):
    return F.huber_loss, elementwise(f"huber:on=scores:delta={kwargs.get('delta', 1.0)}", 1.0)


def smooth_l1_loss(kwargs):
    beta = kwargs.get("beta", 1.0)
    if beta == 0:  # smooth_l1 with β = 0 is l1
        return F.smooth_l1_loss, elementwise("l1:on=scores", 1.0)
    return F.smooth_l1_loss, elementwise(f"huber:on=scores:delta={beta}", 1.0 / beta)


MAPPINGS = {name: globals()[name.split(".")[-1]] for name in OPS}


def with_grads(fn, tensors, kwargs):
    """fn's value and its gradients, against a fixed cotangent, at the tensors that require
    grad (fresh leaves, so the two sides share nothing)."""
    leaves = [t.detach().clone().requires_grad_(t.requires_grad) for t in tensors]
    value = fn(*leaves, **kwargs)
    wanted = [leaf for leaf in leaves if leaf.requires_grad]
    cotangent = torch.linspace(-1.0, 1.5, value.numel(), dtype=value.dtype).reshape(value.shape)
    grads = torch.autograd.grad(value, wanted, cotangent, allow_unused=True)
    return [value.detach()] + [
        torch.zeros_like(w) if g is None else g for g, w in zip(grads, wanted, strict=True)
    ]


@pytest.mark.parametrize("name, dtype, index", CASES)
def test_opinfo_sample_matches_torch(name, dtype, index):
    sample = samples(name, dtype)[index]
    kwargs = dict(sample.kwargs)
    reference, ours = MAPPINGS[name](kwargs)
    tensors = (sample.input, *sample.args)
    expected = with_grads(reference, tensors, kwargs)
    got = with_grads(ours, tensors, kwargs)
    tolerance = DTYPES[dtype]
    assert len(got) == len(expected) >= 2
    for ours_part, torch_part in zip(got, expected, strict=True):
        assert ours_part.shape == torch_part.shape
        torch.testing.assert_close(
            ours_part, torch_part, rtol=tolerance, atol=tolerance, equal_nan=True
        )
