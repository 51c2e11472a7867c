"""The default suite: every loss the bench trains when no --losses is given, and its built-in rate.

The suite's entries are bare (``gce``, ``nce+rce``): tuning chooses each one's own
hyperparameters with its rate; a parameter an entry writes (``margin:kind=crammer_singer``) is
kept (bench.study.sweeps). The rates are the best of the tuning grid by validation accuracy
(50,000/10,000 split of Fashion-MNIST's training set, 10 epochs, cosine, batch 256, softmax
regression), each for the entry's untuned setting (``sweeps.default_setting``: its class's
defaults, a sum's first weight pair); ``--no-tune`` uses them, tuning replaces them. A loss
without an entry here has no built-in rate: ``--no-tune`` refuses it. The suite is grouped by
family (``Loss.family``), in the order of ``FAMILY_ORDER``.
"""

from __future__ import annotations

import losses
from bench.study import sweeps

DEFAULT_LRS = {
    # textbook: the D2L losses
    "ce": 1.0,
    "l2": 1.0,
    "l1": 1.0,
    "huber": 10.0,
    # cross-entropy variants
    "soft_label": 0.3,
    "focal": 0.3,
    "poly1": 1.0,
    "bi_tempered": 3.0,
    "logit_adjusted": 1.0,  # = ce on balanced data; for long-tailed data (fashion_mnist_lt)
    # noise-robust, and the active–passive sums of Ma et al. 2020, bare: their weights are
    # tuned over the papers' pairs (bench.study.sweeps.SUM_WEIGHTS); the rate here is for the
    # first pair, the MNIST weights α = 1, β = 100 (their MAE is 1 − p_y, half of l1 on
    # probabilities)
    "gce": 1.0,
    "rce": 0.3,
    "sce": 10.0,
    "nce": 30.0,
    "taylor": 0.3,
    "nce+rce": 0.003,
    "nce+l1": 0.01,
    # the 2021–2023 noise-robust losses; ANL-CE (Ye et al. 2023), its rate for its MNIST
    # weights 1 + 1 (best at the grid's top rate, 30)
    "js": 1.0,
    "agce": 0.3,
    "aul": 0.03,
    "ael": 1.0,
    "nce+nnce": 30.0,
    # long-tail margins: for long-tailed data with its prior, like logit_adjusted (rates tuned on
    # balanced Fashion-MNIST, where the prior is uniform)
    "ldam": 0.003,  # s = 30 scales the raw scores 30-fold
    "vs": 1.0,
    # calibration
    "mbls": 1.0,
    "logitnorm": 0.003,
    "dual_focal": 0.3,
    # margin and sparse
    "margin:kind=crammer_singer": 0.3,
    "margin:kind=weston_watkins": 0.1,
    "margin:kind=crammer_singer:power=2": 0.01,
    "margin:kind=weston_watkins:power=2": 0.003,
    "sparsemax": 0.3,
    # square losses on raw scores
    "l2:on=scores": 0.01,
    "huber:on=scores": 0.03,
    "hui_belkin": 0.03,
    # one-vs-all sigmoid BCE on raw scores
    "bce": 1.0,
}


def default_specs() -> list[str]:
    """The suite's entries as written (``sweeps.entry_form``: bare, canonical spelling), in
    order."""
    return list(dict.fromkeys(sweeps.entry_form(spec) for spec in DEFAULT_LRS))


def built_in_rate(spec: str) -> float | None:
    """The suite's rate for ``spec``: its own entry's, else the rate of the entry whose untuned
    setting it is (``1*nce+100*rce`` is ``nce+rce``'s), else its name's; None when the suite has
    none of them (a user's loss, a sum not in the suite)."""
    entries = {sweeps.entry_form(s): rate for s, rate in DEFAULT_LRS.items()}
    if (entry := sweeps.entry_form(spec)) in entries:
        return entries[entry]
    settings = {sweeps.default_setting(e): rate for e, rate in entries.items()}
    loss = losses.parse(spec)
    if str(loss) in settings:
        return settings[str(loss)]
    try:
        base = str(losses.get(loss.name))
    except (ValueError, TypeError, AttributeError):
        return None
    return settings.get(base)


FAMILY_ORDER = (
    "textbook",
    "ce-variant",
    "noise-robust",
    "long-tail",
    "calibration",
    "margin-sparse",
    "square",
    "user",
)


def family(spec: str) -> str:
    """The family a loss declares ("user" for a loss that declares none)."""
    return losses.parse(spec).family or "user"


def by_family(specs) -> dict[str, list[str]]:
    """``specs`` grouped by family, families in FAMILY_ORDER, specs in their given order."""
    groups = {name: [] for name in FAMILY_ORDER}
    for spec in specs:
        groups.setdefault(family(spec), []).append(spec)
    return {name: members for name, members in groups.items() if members}
