"""The command line: python -m bench — train a classifier under each loss, and report.

    python -m bench                                  # the default suite, CPU (+ CUDA if present)
    python -m bench --losses ce,huber:delta=0.05 --epochs 5 --seeds 1 --out /tmp/quick

Bad input ends with one line on stderr and exit status 2; Ctrl-C stops after the current step,
keeps every finished epoch, and the same command resumes. Argument parsing only: the work is
``bench.api.run``, the code path that ``bench.compare`` also takes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import losses
from bench import api, datasets, models, suite
from bench.datasets import DataError
from bench.peers import textbook
from bench.schema import SchemaError
from bench.study import tune
from bench.study.lock import LockedError
from bench.study.results import RunsError
from bench.training.config import SCHEDULES, STEP_MODES
from bench.training.graphs import CaptureError


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors, one line too
        raise api.UsageError(f"{message} (see python -m bench --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--losses",
        default="",
        metavar="SPEC,...",
        help="loss specs name:key=value:..., comma-separated; a loss runs as written: a "
        "parameter you write is kept and only the rate is tuned (gce:q=0.7, 1*nce+1*rce), one "
        "you leave out is tuned with the rate (gce tunes q, nce+rce its weights) "
        f"(registered: {', '.join(losses.names())}; default: the suite, "
        f"{', '.join(suite.default_specs())})",
    )
    parser.add_argument(
        "--dataset",
        default=datasets.DEFAULT,
        metavar="SPEC",
        help=f"dataset spec (registered: {', '.join(datasets.names())}; default "
        f"{datasets.DEFAULT})",
    )
    parser.add_argument(
        "--model",
        default=models.DEFAULT,
        metavar="SPEC",
        help=f"model spec (registered: {', '.join(models.names())}; default {models.DEFAULT})",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="FILE_OR_MODULE",
        help="a .py file or a dotted module that registers losses; repeatable",
    )
    parser.add_argument(
        "--devices",
        default="auto",
        help="auto, cpu, cuda or cpu,cuda (default auto: cpu, and cuda when available)",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        help="seeds 0..N-1 on clean labels, the minimum with --seed-cap (default 3)",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument(
        "--lr",
        type=float,
        default=None,
        help="one learning rate for every loss (default: tuned per loss)",
    )
    rate.add_argument(
        "--no-tune",
        action="store_true",
        help="use each loss's built-in rate instead of tuning it (a loss without one is an error)",
    )
    parser.add_argument(
        "--retune", action="store_true", help="tune again even where OUT/tuning.csv has the answer"
    )
    parser.add_argument(
        "--tune-epochs",
        type=int,
        default=None,
        help="epochs per trial of the learning-rate search (default: --epochs, so the rate is "
        "chosen for the schedule it will run)",
    )
    parser.add_argument(
        "--tune-screen-epochs",
        type=int,
        default=None,
        metavar="N",
        help="successive halving: every trial (setting × rate) for N epochs first, then the "
        f"{tune.KEEP} best for --tune-epochs (default: every trial for --tune-epochs)",
    )
    parser.add_argument(
        "--tune-keep",
        type=int,
        default=tune.KEEP,
        metavar="N",
        help=f"with --tune-screen-epochs: how many of the screened trials go on to --tune-epochs "
        f"(default {tune.KEEP})",
    )
    parser.add_argument(
        "--tune-budget",
        type=int,
        default=tune.BUDGET,
        metavar="N",
        help="trials per loss and noise level, the same for every loss: a loss with H settings "
        "of its own hyperparameters (its paper's sweep) tries each at N // H rates, one with "
        f"none tries N rates (default {tune.BUDGET}); chosen on the --validation split, by "
        "balanced accuracy on long-tailed data, accuracy elsewhere",
    )
    parser.add_argument(
        "--tune-rates",
        type=_rate_range,
        default=None,
        metavar="LOW,HIGH",
        help="the range the tuning grid's rates are log-spaced over (default "
        f"{10 ** tune.RATES[0]:g},{10 ** tune.RATES[1]:.0f}); a narrower one spends a small "
        "--tune-budget where rates can win, e.g. 0.003,0.3 for momentum SGD",
    )
    parser.add_argument(
        "--validation",
        default="noisy",
        metavar="PROTOCOL",
        help="what tuning (and --early-stop) select on: noisy (default: a stratified sixth of "
        "the training set held out, labels as noisy as training) or trusted:N (N training "
        "examples held out with their true labels and excluded from training); runs of both "
        "protocols live side by side in one --out",
    )
    parser.add_argument("--schedule", choices=SCHEDULES, default="cosine")
    parser.add_argument(
        "--optimizer",
        default="sgd",
        metavar="SPEC",
        help="how a step turns gradients into an update, tuning and training alike: sgd "
        "(default: plain minibatch SGD), momentum:beta=0.9:wd=0.0005 (torch.optim.SGD with "
        "momentum and weight decay) or adamw:wd=0.01 (torch.optim.AdamW; also beta1, beta2, "
        "eps); a GPU's CUDA-graph step and the linear stacks carry plain SGD only",
    )
    parser.add_argument(
        "--step-mode",
        choices=STEP_MODES,
        default="auto",
        help="how training steps run: auto (default) replays each step as a CUDA graph on a GPU, "
        "falling back to eager with a warning, and runs eager on the CPU; eager; device (the "
        "graph's step, not captured); cuda-graph (an error if capture fails)",
    )
    parser.add_argument(
        "--noise",
        default="none",
        metavar="SPEC,...",
        help="label noise levels: none, sym:RATE, pairs:RATE (datasets with class pairs), "
        "comma-separated",
    )
    parser.add_argument(
        "--noise-seeds",
        type=int,
        default=1,
        help="seeds per noisy level, the minimum with --seed-cap (default 1; clean runs use "
        "--seeds)",
    )
    parser.add_argument(
        "--early-stop",
        action="store_true",
        help="final runs hold out the validation split (--validation's protocol) from training "
        "and record its accuracy every epoch, so the report scores each run twice: at its last "
        "epoch and at the first epoch with the best validation accuracy; tuning then scores "
        "each trial at its best epoch too (default: off, the whole training set trains)",
    )
    parser.add_argument(
        "--seed-cap",
        type=int,
        default=None,
        metavar="N",
        help="race the seeds: after the minimum, add --seed-round seeds per round to the losses "
        "whose verdict against the best is still undecided (and to the best), up to N seeds "
        "(default: no rounds)",
    )
    parser.add_argument(
        "--seed-round",
        type=int,
        default=2,
        metavar="N",
        help="seeds added per round of the race (default 2)",
    )
    parser.add_argument(
        "--batch-sizes",
        default="",
        metavar="N,...",
        help="also sweep these batch sizes for speed (ce, 1 seed, 2 epochs), "
        "e.g. 64,256,1024,4096; rows go to OUT/speed.csv",
    )
    parser.add_argument(
        "--reference-iters",
        type=int,
        default=100,
        metavar="N",
        help="L-BFGS iterations for the convex losses' full-batch optimum "
        "(default 100; 0 skips it; linear model only); cached in OUT/reference.csv",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also fit scikit-learn's SGDClassifier losses and LogisticRegression "
        "(needs pip install '.[peers]'; linear model only); rows in OUT/peers.csv",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=api.ROOT / "data",
        help="data folder for datasets kept in files (Fashion-MNIST in torchvision's layout; "
        "default: data/ in the checkout)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=api.DEFAULT_OUT,
        help=f"results folder (default: {api.DEFAULT_OUT.relative_to(api.ROOT)}/ in the "
        "checkout, git-ignored)",
    )
    parser.add_argument(
        "--no-textbook",
        action="store_true",
        help="skip the D2L textbook loop (DataLoader + autograd) run beside ce",
    )
    parser.add_argument(
        "--textbook-epochs",
        type=int,
        default=textbook.EPOCHS,
        help=f"epochs of the textbook loop (default {textbook.EPOCHS}, the book's)",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="train only; skip README.md and figures"
    )
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="run the runs and tuning trials on a local Dask cluster of N single-threaded "
        "worker processes (default: one process, no Dask)",
    )
    cluster.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run them on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (workers need "
        "this checkout and the --data files at the same paths)",
    )
    parser.add_argument(
        "--no-stack",
        action="store_true",
        help="with --workers or --scheduler, train each run of a linear model as its own task "
        "(default: the runs of one seed and noise level, all losses, train as one stack of "
        "weights: same rows, several times faster, times read from the serial timing phase)",
    )
    return parser


def study_from(args: argparse.Namespace) -> api.Study:
    """The Study a parsed command line asks for."""
    sizes = []
    for item in filter(None, (s.strip() for s in args.batch_sizes.split(","))):
        if not item.isdigit() or int(item) < 1:
            raise api.UsageError(f"--batch-sizes: {item!r} is not a positive whole number")
        sizes.append(int(item))
    return api.Study(
        losses=tuple(s for s in args.losses.split(",") if s.strip()),
        dataset=args.dataset,
        model=args.model,
        imports=tuple(args.imports),
        devices=args.devices,
        epochs=args.epochs,
        seeds=args.seeds,
        batch_size=args.batch_size,
        lr=args.lr,
        no_tune=args.no_tune,
        retune=args.retune,
        tune_epochs=args.tune_epochs,
        tune_screen_epochs=args.tune_screen_epochs,
        tune_budget=args.tune_budget,
        tune_keep=args.tune_keep,
        tune_rates=args.tune_rates,
        seed_cap=args.seed_cap,
        seed_round=args.seed_round,
        schedule=args.schedule,
        step_mode=args.step_mode,
        noise=tuple(args.noise.split(",")),
        noise_seeds=args.noise_seeds,
        early_stop=args.early_stop,
        validation=args.validation,
        optimizer=args.optimizer,
        batch_sizes=tuple(dict.fromkeys(sizes)),
        reference_iters=args.reference_iters,
        peers=args.peers,
        data=args.data,
        out=args.out,
        textbook=not args.no_textbook,
        textbook_epochs=args.textbook_epochs,
        report=not args.no_report,
        workers=args.workers,
        scheduler=args.scheduler,
        stack=not args.no_stack,
    )


def _rate_range(text: str) -> tuple[float, float]:
    """``LOW,HIGH`` -> (low, high) for --tune-rates; argparse turns the error into one line."""
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not two rates LOW,HIGH: e.g. --tune-rates 0.003,0.3"
        ) from None
    try:
        tune.rate_decades(low, high)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return (low, high)


ERRORS = (api.UsageError, RunsError, DataError, CaptureError, LockedError, SchemaError)


def _errors() -> tuple[type[Exception], ...]:
    """The errors printed as one line: ERRORS, and the cluster's when Dask was imported."""
    parallel = sys.modules.get("bench.study.parallel")
    return ERRORS + ((parallel.ClusterError,) if parallel else ())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return api.run(study_from(build_parser().parse_args(argv)), api.command_line(argv))
    except _errors() as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
