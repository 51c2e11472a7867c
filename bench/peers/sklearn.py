"""Peers on the same machine and data: scikit-learn's SGDClassifier and LogisticRegression.

An optional extra (``pip install '.[peers]'``): SGDClassifier with its losses that match ours
(log_loss ~ ce, hinge ~ Weston–Watkins-like one-vs-rest margin, modified_huber, squared_hinge,
squared_error ~ L2 on scores, huber ~ Huber on scores), trained for the study's epochs, and
LogisticRegression (lbfgs, C = 1) run to convergence as the regularised convex optimum.
Linear models: they are peers of softmax regression only (``part.linear``).
"""

from __future__ import annotations

import time
import warnings

SGD_LOSSES = ("log_loss", "hinge", "modified_huber", "squared_hinge", "squared_error", "huber")


class PeersUnavailable(RuntimeError):
    """scikit-learn is not installed."""


def _sklearn():
    try:
        import sklearn.exceptions
        from sklearn.linear_model import LogisticRegression, SGDClassifier
    except ImportError:
        raise PeersUnavailable(
            "the peers need scikit-learn: pip install '.[peers]' (or make peers)"
        ) from None
    return SGDClassifier, LogisticRegression, sklearn.exceptions.ConvergenceWarning


def available() -> bool:
    try:
        _sklearn()
    except PeersUnavailable:
        return False
    return True


def estimators(*, epochs: int, seed: int = 0, logistic_max_iter: int = 1000) -> list[tuple]:
    """(peer, loss, unfitted scikit-learn estimator) for every peer, in a fixed order."""
    sgd_classifier, logistic_regression, _ = _sklearn()
    models = [
        (
            "SGDClassifier",
            loss,
            sgd_classifier(loss=loss, max_iter=epochs, tol=None, random_state=seed),
        )
        for loss in SGD_LOSSES
    ]
    models.append(
        ("LogisticRegression", "lbfgs, C=1", logistic_regression(max_iter=logistic_max_iter))
    )
    return models


def fit(peer: str, loss: str, model, data, *, epochs: int, seed: int = 0) -> dict:
    """Fit one peer on ``data`` (CPU tensors); its row, with accuracy and fit seconds."""
    _, _, convergence_warning = _sklearn()
    train_x, train_y = data.train_x.cpu().numpy(), data.train_y.cpu().numpy()
    test_x, test_y = data.test_x.cpu().numpy(), data.test_y.cpu().numpy()
    started = time.perf_counter()
    with warnings.catch_warnings():
        # a fixed epoch budget is the point of the comparison, not a defect
        warnings.simplefilter("ignore", convergence_warning)
        model.fit(train_x, train_y)
    fit_s = time.perf_counter() - started
    return {
        "dataset": getattr(data, "spec", ""),
        "peer": peer,
        "loss": loss,
        "epochs": epochs if peer == "SGDClassifier" else int(max(model.n_iter_)),
        "seed": seed,
        "train_acc": float(model.score(train_x, train_y)),
        "test_acc": float(model.score(test_x, test_y)),
        "fit_s": fit_s,
        "concurrent": False,  # a study that fits it beside other work says so
    }


def run(data, *, epochs: int, seed: int = 0, logistic_max_iter: int = 1000, on_row=lambda r: None):
    """Fit every peer on ``data`` (CPU tensors); return rows with accuracy and fit seconds."""
    rows = []
    for peer, loss, model in estimators(
        epochs=epochs, seed=seed, logistic_max_iter=logistic_max_iter
    ):
        row = fit(peer, loss, model, data, epochs=epochs, seed=seed)
        rows.append(row)
        on_row(row)
    return rows
