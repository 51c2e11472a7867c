"""A study's options checked and made canonical before any work: one-line errors for bad input.

Every function raises :class:`UsageError` (a ValueError), which the CLI prints as one line with
exit status 2 and the Python API raises as it is.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch

import losses
from bench import suite
from bench.datasets import noise, validation
from bench.peers import sklearn as sklearn_peers
from bench.study import sweeps, tune
from bench.training import optimizers
from bench.training.config import SCHEDULES, STEP_MODES


class UsageError(ValueError):
    """Bad input to a study: printed as one line by the CLI, exit status 2."""


def check_counts(study) -> None:
    """The numbers of a study: counts at least 1, a positive rate, known choices."""
    for flag, value in (
        ("--epochs", study.epochs),
        ("--seeds", study.seeds),
        ("--batch-size", study.batch_size),
        ("--tune-epochs", study.tune_epochs),
        ("--tune-screen-epochs", study.tune_screen_epochs),
        ("--noise-seeds", study.noise_seeds),
        ("--textbook-epochs", study.textbook_epochs),
        ("--tune-budget", study.tune_budget),
        ("--seed-round", study.seed_round),
    ):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, got {value}")
    least = max(study.seeds, study.noise_seeds)
    if study.seed_cap is not None and study.seed_cap < least:
        raise UsageError(
            f"--seed-cap {study.seed_cap} is below the minimum seeds ({least}, "
            "--seeds / --noise-seeds): give a cap at least that large"
        )
    if study.lr is not None and not (study.lr > 0 and math.isfinite(study.lr)):
        raise UsageError(f"--lr must be positive, got {study.lr}")
    if study.lr is not None and study.no_tune:
        raise UsageError("--lr and --no-tune exclude each other: give one")
    if study.tune_rates is not None:
        try:
            tune.rate_decades(*study.tune_rates)
        except (TypeError, ValueError) as error:
            raise UsageError(f"--tune-rates: {error}") from None
    try:
        validation.parse(study.validation)
    except ValueError as error:
        raise UsageError(f"--validation: {error}") from None
    try:
        optimizers.parse(study.optimizer)
    except ValueError as error:
        raise UsageError(f"--optimizer: {error}") from None
    if study.workers is not None and study.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {study.workers}")
    if study.workers is not None and study.scheduler is not None:
        raise UsageError("--workers and --scheduler exclude each other: give one")
    if study.reference_iters < 0:
        raise UsageError(f"--reference-iters must be 0 or more, got {study.reference_iters}")
    if study.schedule not in SCHEDULES:
        raise UsageError(
            f"--schedule must be one of {', '.join(SCHEDULES)}, got {study.schedule!r}"
        )
    if study.step_mode not in STEP_MODES:
        raise UsageError(
            f"--step-mode must be one of {', '.join(STEP_MODES)}, got {study.step_mode!r}"
        )
    if study.peers and not sklearn_peers.available():
        raise UsageError("--peers needs scikit-learn: pip install '.[peers]' (or make peers)")


def resolve_devices(text: str) -> tuple[list[str], list[str]]:
    """Devices to run on, and notes for the report (a missing GPU under auto is a note)."""
    names = [d.strip() for d in text.split(",") if d.strip()]
    if names == ["auto"]:
        if torch.cuda.is_available():
            return ["cpu", "cuda"], []
        return ["cpu"], ["No CUDA device was available (--devices auto): only CPU runs were made."]
    if not names:
        raise UsageError("--devices is empty: use auto, cpu, cuda or cpu,cuda")
    for name in names:
        if name not in ("cpu", "cuda"):
            raise UsageError(f"unknown device {name!r}: use auto, cpu, cuda or cpu,cuda")
        if name == "cuda" and not torch.cuda.is_available():
            raise UsageError(
                "--devices asks for cuda but no CUDA device is available: use --devices cpu or auto"
            )
    return list(dict.fromkeys(names)), []


def resolve_losses(specs) -> list[str]:
    """The requested losses as suite entries (``sweeps.entry_form``: as written, in canonical
    spelling, so ``gce`` tunes q and ``gce:q=0.7`` keeps it), in order; the default suite when
    none is given."""
    specs = [s.strip() for s in specs if s.strip()] if specs else suite.default_specs()
    chosen = []
    for spec in specs:
        try:
            chosen.append(sweeps.entry_form(spec))
        except (ValueError, KeyError, TypeError) as error:
            raise UsageError(f"--losses {spec}: {error}") from None
    if not chosen:
        raise UsageError("--losses is empty: give at least one loss spec")
    return list(dict.fromkeys(chosen))


def resolve_part(kind, spec: str, flag: str) -> str:
    try:
        return kind.canonical(spec)
    except ValueError as error:
        raise UsageError(f"{flag} {spec}: {error}") from None


def resolve_noise(levels) -> list[str]:
    chosen = []
    for spec in (s.strip() for s in levels if s.strip()):
        try:
            chosen.append(noise.canonical(spec))
        except ValueError as error:
            raise UsageError(f"--noise: {error}") from None
    return list(dict.fromkeys(chosen or ["none"]))


def built_in_rates(specs: list[str]) -> dict[str, float]:
    """Each loss's built-in rate (``--no-tune``); a loss without one is an error naming it."""
    rates = {spec: suite.built_in_rate(spec) for spec in specs}
    missing = [spec for spec, rate in rates.items() if rate is None]
    if missing:
        raise UsageError(
            f"--no-tune: {', '.join(missing)} has no built-in rate: tune it (drop --no-tune) "
            "or give one rate with --lr"
        )
    return rates


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out):
            pass
    except OSError as error:
        raise UsageError(
            f"--out {out} is not writable ({error.strerror}): choose a folder you can write to"
        ) from None


def import_plugins(sources) -> list[str]:
    """Import users' loss files or modules (``--import``) and installed entry points."""
    from losses import plugins

    names = plugins.load_entry_points()
    for source in sources:
        try:
            names += plugins.load(source)
        except ValueError as error:
            raise UsageError(f"--import {source}: {error}") from None
    return names


def check_losses(specs: list[str], num_classes: int, prior=None) -> None:
    """Every loss, once on a random valid batch, before any training: one that raises, returns
    the wrong shape or a non-finite value, or whose analytic gradient disagrees with autograd is
    a one-line error naming it (``losses.plugins.check``)."""
    from losses import plugins

    for spec in specs:
        try:
            loss = losses.parse(spec)
            plugins.check(loss if prior is None else loss.with_prior(prior), num_classes)
        except ValueError as error:
            raise UsageError(str(error)) from None
