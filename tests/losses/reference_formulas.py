"""Independent reference formulas, written from DESIGN.md's definitions with autograd in mind.

Nothing here imports the library's loss code: these are the second opinion the tests compare
the analytic values and gradients against.
"""

import torch


def probs_target(target, k, dtype):
    if target.is_floating_point():
        return target.to(dtype)
    return torch.nn.functional.one_hot(target, k).to(dtype)


def value(loss, scores, target):
    """The per-example loss as a differentiable function of ``scores`` (N, K) -> (N,)."""
    k = scores.shape[1]
    t = probs_target(target, k, scores.dtype)
    name = loss.name
    if name in ("l2", "l1", "huber"):
        p = torch.softmax(scores, dim=1) if loss.on == "probs" else scores
        r = p - t
        if name == "l2":
            return 0.5 * (r**2).sum(1)
        if name == "l1":
            return r.abs().sum(1)
        a, d = r.abs(), loss.delta
        return torch.where(a <= d, 0.5 * r**2, d * (a - 0.5 * d)).sum(1)
    log_p = scores - torch.logsumexp(scores, dim=1, keepdim=True)
    if name == "ce":
        return -(t * log_p).sum(1)
    if name == "soft_label":
        eps = loss.smoothing
        return -(((1 - eps) * t + eps / k) * log_p).sum(1)
    if name == "margin":
        delta = loss.delta
        if isinstance(delta, torch.Tensor):
            delta = delta.to(scores.dtype)[target]
        true = scores.gather(1, target[:, None])
        violation = delta + scores - true
        rivals = ~torch.nn.functional.one_hot(target, k).bool()
        if loss.kind == "crammer_singer":
            worst = violation.masked_fill(~rivals, float("-inf")).max(1).values
            return worst.clamp_min(0)
        return (violation.clamp_min(0) * rivals).sum(1)
    raise AssertionError(f"no reference for {name}")


def value_and_grad(loss, scores, target):
    """Reference value and autograd gradient, in float64."""
    scores = scores.detach().double().requires_grad_()
    target = target.double() if target.is_floating_point() else target
    v = value(loss, scores, target)
    (grad,) = torch.autograd.grad(v.sum(), scores)
    return v.detach(), grad
