"""Independent reference formulas, written from DESIGN.md's definitions with autograd in mind.

Nothing here imports the library's loss code: these are the second opinion the tests (and the
speed benchmarks) compare the analytic values and gradients against. ``FORMULAS`` holds one
formula per registered loss name: a new loss needs one line there.
"""

import torch


def random_target(n, k, generator, soft, sharpness=3.0):
    """n targets over k classes: labels, or with ``soft`` the softmax of random scores times
    ``sharpness`` (float64), drawn from ``generator``."""
    if soft:
        return torch.softmax(
            torch.randn(n, k, generator=generator, dtype=torch.float64) * sharpness, 1
        )
    return torch.randint(0, k, (n,), generator=generator)


def probs_target(target, k, dtype):
    if target.is_floating_point():
        return target.to(dtype)
    return torch.nn.functional.one_hot(target, k).to(dtype)


def log_softmax(scores):
    return scores - torch.logsumexp(scores, dim=1, keepdim=True)


def true_prob(scores, labels):
    return torch.softmax(scores, dim=1).gather(1, labels[:, None]).squeeze(1)


def true_log_prob(scores, labels):
    """log p_y from log-sum-exp: finite (and differentiable) where p_y underflows to 0."""
    return log_softmax(scores).gather(1, labels[:, None]).squeeze(1)


def cross_entropy(loss, scores, target):
    return -(probs_target(target, scores.shape[1], scores.dtype) * log_softmax(scores)).sum(1)


def residual(loss, scores, target):
    p = torch.softmax(scores, dim=1) if loss.on == "probs" else scores
    return p - probs_target(target, scores.shape[1], scores.dtype)


def huber(loss, scores, target):
    r = residual(loss, scores, target)
    a, d = r.abs(), loss.delta
    return torch.where(a <= d, 0.5 * r**2, d * (a - 0.5 * d)).sum(1)


def soft_label(loss, scores, target):
    k, eps = scores.shape[1], loss.smoothing
    t = probs_target(target, k, scores.dtype)
    return -(((1 - eps) * t + eps / k) * log_softmax(scores)).sum(1)


def margin(loss, scores, target):
    k, delta = scores.shape[1], loss.delta
    if isinstance(delta, torch.Tensor):
        delta = delta.to(scores.dtype)[target]
    true = scores.gather(1, target[:, None])
    violation = delta + scores - true
    rivals = ~torch.nn.functional.one_hot(target, k).bool()
    if loss.kind == "crammer_singer":
        worst = violation.masked_fill(~rivals, float("-inf")).max(1).values
        return worst.clamp_min(0) ** loss.power
    return (violation.clamp_min(0) ** loss.power * rivals).sum(1)


def reverse_cross_entropy(a, scores, target):
    """−Σ_k p_k log t_k with log 0 := a (Wang et al. 2019)."""
    t = probs_target(target, scores.shape[1], scores.dtype)
    log_t = torch.where(t > 0, t.log(), torch.full_like(t, a))
    return -(torch.softmax(scores, dim=1) * log_t).sum(1)


def exp_t(x, t):
    """The tempered exponential [1 + (1 − t)·x]_+^(1/(1−t)); exp at t = 1."""
    if t == 1:
        return torch.exp(x)
    return (1 + (1 - t) * x).clamp_min(0) ** (1 / (1 - t))


def tempered_normaliser(scores, t):
    """λ with Σ_k exp_t(o_k − λ) = 1: bisection without autograd, then one Newton step with it,
    through which autograd gives the implicit derivative dλ/do = p^t / Σ_k p_k^t."""
    if t == 1:
        return torch.logsumexp(scores, 1, keepdim=True)
    with torch.no_grad():
        low = scores.amax(1, keepdim=True)  # the sum is >= 1 here, and <= 1 at high
        high = low + (scores.shape[1] ** (t - 1) - 1) / (t - 1)
        for _ in range(60):
            mid = (low + high) / 2
            above = exp_t(scores - mid, t).sum(1, keepdim=True) > 1
            low, high = torch.where(above, mid, low), torch.where(above, high, mid)
        lam = (low + high) / 2
        slope = (exp_t(scores - lam, t) ** t).sum(1, keepdim=True)
    return lam + (exp_t(scores - lam, t).sum(1, keepdim=True) - 1) / slope


def tempered_log_prob(scores, lam, t):
    """log p of p = exp_t(o − λ) = log1p((1 − t)(o − λ))/(1 − t): −inf outside the support
    (t < 1), with a zero (not nan) gradient there."""
    if t == 1:
        return scores - lam
    arg = (1 - t) * (scores - lam)
    inside = arg > -1
    safe = torch.where(inside, arg, torch.zeros_like(arg))
    return torch.where(inside, torch.log1p(safe) / (1 - t), torch.full_like(arg, -torch.inf))


def bi_tempered(loss, scores, target):
    """Σ_k [t_k (log_t1 t_k − log_t1 p_k) − (t_k^(2−t1) − p_k^(2−t1)) / (2 − t1)],
    p = exp_t2(o − λ) (Amid et al. 2019), log_t(x) = (x^(1−t) − 1)/(1 − t)."""
    t1, t2 = loss.t1, loss.t2
    t = probs_target(target, scores.shape[1], scores.dtype)
    log_p = tempered_log_prob(scores, tempered_normaliser(scores, t2), t2)
    p_power = torch.exp((2 - t1) * log_p)
    if t1 == 1:  # log_1 = log; the last term is Σ(p − t) = 0
        return (torch.xlogy(t, t) - t * log_p - t + p_power).sum(1)
    u = 1 - t1  # x^u − 1 = expm1(u·log x), exact also for u near 0
    log_t_target, log_t_p = torch.expm1(u * torch.log(t)) / u, torch.expm1(u * log_p) / u
    return (t * (log_t_target - log_t_p) - (t ** (2 - t1) - p_power) / (2 - t1)).sum(1)


def sparsemax_loss(loss, scores, target):
    """−⟨t, o⟩ + ½ Σ_{j∈S} (o_j² − τ²) + ½‖t‖² (Martins & Astudillo 2016), S and τ without
    sorting: j is in S iff 1 + r_j·o_j > Σ_{i: o_i >= o_j} o_i, r_j = #{i: o_i >= o_j}."""
    t = probs_target(target, scores.shape[1], scores.dtype)
    with torch.no_grad():
        above = scores[:, None, :] >= scores[:, :, None]  # [n, j, i]: o_i >= o_j
        mass = (above * scores[:, None, :]).sum(2)
        support = (1 + above.sum(2) * scores > mass).to(scores.dtype)
    tau = ((support * scores).sum(1, keepdim=True) - 1) / support.sum(1, keepdim=True)
    return 0.5 * (support * (scores**2 - tau**2)).sum(1) - (t * scores).sum(1) + 0.5 * (t**2).sum(1)


def hui_belkin(loss, scores, labels):
    """(1/K)·[k·(o_y − m)² + Σ_{j≠y} o_j²] (Hui & Belkin 2021): squares against m·e_y,
    weighted k on the true class."""
    one_hot = torch.nn.functional.one_hot(labels, scores.shape[1]).to(scores.dtype)
    weight = 1 + (loss.k - 1) * one_hot
    return (weight * (scores - loss.m * one_hot) ** 2).sum(1) / scores.shape[1]


def jensen_shannon(loss, scores, labels):
    """π1·KL(e_y‖m) + (1 − π1)·KL(p‖m), m = π1·e_y + (1 − π1)·p, over −(1 − π1)·ln(1 − π1)."""
    pi1, log_p = loss.pi1, log_softmax(scores)
    one_hot = torch.nn.functional.one_hot(labels, scores.shape[1]).bool()
    log_label = torch.where(one_hot, 0.0, -torch.inf).to(scores.dtype)
    log_m = torch.logaddexp(
        log_label + torch.log(torch.tensor(pi1, dtype=scores.dtype)),
        log_p + torch.log(torch.tensor(1 - pi1, dtype=scores.dtype)),
    )
    js = -pi1 * log_m.gather(1, labels[:, None]).squeeze(1) + (1 - pi1) * (
        log_p.exp() * (log_p - log_m)
    ).sum(1)
    return js / (-(1 - pi1) * torch.log(torch.tensor(1 - pi1, dtype=scores.dtype)))


def nnce(loss, scores, labels):
    floor = torch.log(torch.tensor(loss.min_prob, dtype=scores.dtype))
    u = torch.clamp(log_softmax(scores), min=floor) - floor
    return 1 - u.gather(1, labels[:, None]).squeeze(1) / u.sum(1)


def ldam(loss, scores, labels):
    """ce of s·(o − Δ_y e_y), Δ_j = max_margin·(n_j/n_min)^(−1/4), from the bound log prior."""
    k = scores.shape[1]
    if loss.adjust is None:
        margins = torch.full((k,), loss.max_margin, dtype=scores.dtype)
    else:
        counts = loss.adjust[1].to(scores.dtype).exp()
        margins = loss.max_margin * (counts.min() / counts) ** 0.25
    one_hot = torch.nn.functional.one_hot(labels, k).to(scores.dtype)
    return cross_entropy(loss, loss.s * (scores - margins[labels][:, None] * one_hot), labels)


def vector_scaling(loss, scores, target):
    if loss.adjust is None:
        return cross_entropy(loss, scores, target)
    log_prior = loss.adjust[1].to(scores.dtype)
    scale = torch.exp(loss.gamma * (log_prior - log_prior.max()))
    return cross_entropy(loss, scale * scores + loss.tau * log_prior, target)


def bce(loss, scores, target):
    t = probs_target(target, scores.shape[1], scores.dtype)
    t = (1 - loss.smoothing) * t + loss.smoothing / scores.shape[1]
    return torch.nn.functional.binary_cross_entropy_with_logits(scores, t, reduction="none").sum(1)


def mbls(loss, scores, target):
    top = scores.max(1, keepdim=True).values
    penalty = torch.relu(top - scores - loss.margin).mean(1)
    return cross_entropy(loss, scores, target) + loss.lam * penalty


def logitnorm(loss, scores, target):
    norms = torch.norm(scores, p=2, dim=1, keepdim=True) + 1e-7
    return cross_entropy(loss, scores / norms / loss.t, target)


def dual_focal(loss, scores, labels):
    p = torch.softmax(scores, 1)
    p_y = p.gather(1, labels[:, None])
    p_j = (p * (p < p_y)).max(1).values
    return -((1 - p_y.squeeze(1) + p_j) ** loss.gamma) * true_log_prob(scores, labels)


def logit_adjusted(loss, scores, target):
    shifted = scores if loss.log_prior is None else scores + loss.tau * loss.log_prior.to(scores)
    return cross_entropy(loss, shifted, target)


# One independent formula per registered name: (loss, scores, target) -> (N,), autograd-able.
FORMULAS = {
    "l2": lambda loss, s, t: 0.5 * (residual(loss, s, t) ** 2).sum(1),
    "l1": lambda loss, s, t: residual(loss, s, t).abs().sum(1),
    "huber": huber,
    "ce": cross_entropy,
    "soft_label": soft_label,
    "margin": margin,
    "bi_tempered": bi_tempered,
    "sparsemax": sparsemax_loss,
    "hui_belkin": hui_belkin,
    "focal": lambda loss, s, y: -((1 - true_prob(s, y)) ** loss.gamma) * true_log_prob(s, y),
    "gce": lambda loss, s, y: (1 - torch.exp(loss.q * true_log_prob(s, y))) / loss.q,  # p_y^q
    "rce": lambda loss, s, y: reverse_cross_entropy(loss.a, s, y),
    "sce": lambda loss, s, y: (
        loss.alpha * cross_entropy(loss, s, y) + loss.beta * reverse_cross_entropy(loss.a, s, y)
    ),
    "poly1": lambda loss, s, y: cross_entropy(loss, s, y) + loss.epsilon * (1 - true_prob(s, y)),
    "taylor": lambda loss, s, y: sum((1 - true_prob(s, y)) ** k / k for k in range(1, loss.t + 1)),
    "nce": lambda loss, s, t: cross_entropy(loss, s, t) / -log_softmax(s).sum(1),
    "logit_adjusted": logit_adjusted,
    "balanced_softmax": logit_adjusted,
    "js": jensen_shannon,
    "nnce": nnce,
    "agce": lambda loss, s, y: (
        ((loss.a + 1) ** loss.q - (loss.a + true_prob(s, y)) ** loss.q) / loss.q
    ),
    "aul": lambda loss, s, y: (
        ((loss.a - true_prob(s, y)) ** loss.q - (loss.a - 1) ** loss.q) / loss.q
    ),
    "ael": lambda loss, s, y: torch.exp(-true_prob(s, y) / loss.a),
    "ldam": ldam,
    "vs": vector_scaling,
    "bce": bce,
    "mbls": mbls,
    "logitnorm": logitnorm,
    "dual_focal": dual_focal,
}


def value(loss, scores, target):
    """The per-example loss as a differentiable function of ``scores`` (N, K) -> (N,)."""
    if hasattr(loss, "terms"):  # a weighted sum "W*SPEC+W*SPEC"
        return sum(weight * value(term, scores, target) for weight, term in loss.terms)
    if loss.name not in FORMULAS:
        raise AssertionError(f"no reference for {loss.name}: add one line to FORMULAS")
    return FORMULAS[loss.name](loss, scores, target)


def value_and_grad(loss, scores, target):
    """Reference value and autograd gradient, in float64."""
    scores = scores.detach().double().requires_grad_()
    target = target.double() if target.is_floating_point() else target
    v = value(loss, scores, target)
    (grad,) = torch.autograd.grad(v.sum(), scores)
    return v.detach(), grad
