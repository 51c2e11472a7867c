"""The D2L textbook loop, as the book writes it, timed beside lossbench's loop on the same machine.

DataLoader over ``torchvision.datasets.FashionMNIST`` with ``ToTensor``, ``nn.CrossEntropyLoss``,
autograd and ``torch.optim.SGD`` at lr 0.1, batch 256, D2L's ``train_ch3``, around the book's
concise network for the run's model:

- ``linear``: chapter 3.7, ``nn.Flatten`` + ``nn.Linear(784, 10)``, weights N(0, 0.01²) and,
  unlike the book (which keeps ``nn.Linear``'s default bias), bias 0, as lossbench starts;
- ``mlp:hidden=256``: chapter 4.3, ``nn.Flatten``, ``nn.Linear(784, 256)``, ``nn.ReLU``,
  ``nn.Linear(256, 10)``; ``init_weights`` draws the weights from N(0, 0.01²) and leaves the
  biases at ``nn.Linear``'s default, U(−1/√fan_in, 1/√fan_in), as the book does. The book
  trains it with the same loop and hyper-parameters (batch 256, lr 0.1, 10 epochs).

It yields rows of the same shape as :func:`bench.training.loop.train`, so the report sets the
two side by side.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from bench import datasets as dataset_parts
from bench import models
from bench.training.config import TRAINER, RunConfig
from bench.training.loop import (
    FLIP_METRICS,
    VAL_METRICS,
    Interrupted,
    class_metrics,
    peak_memory_mb,
)

NAME = "d2l-textbook"
# The book's loop is written for its dataset and models: it runs beside those alone.
DATASET, MODELS = "fashion_mnist", ("linear", "mlp:hidden=256")
SUPPORTED = (
    "the D2L textbook loop is the book's code for Fashion-MNIST: chapter 3's softmax "
    "regression (linear) and chapter 4's MLP with 256 hidden units (mlp:hidden=256)"
)
LR = 0.1  # the book's rate in chapters 3 and 4; the book's schedule is constant
EPOCHS = 10  # the book's train_ch3 calls; a shorter study runs fewer
WORKERS = 4  # d2l.get_dataloader_workers()
INIT_STD = 0.01  # the book's init_weights: nn.init.normal_(m.weight, std=0.01)


def supports(dataset: str, model: str) -> bool:
    """Whether the book has a loop for this dataset and model (canonical specs)."""
    return dataset == DATASET and model in MODELS


def book_net(model: str, inputs: int, classes: int) -> nn.Sequential:
    """The book's concise network for ``model`` (a supported spec), initialised as the book does;
    draws from torch's global generator, as the book's code does."""
    part = models.parse(model)
    if part.linear:  # chapter 3.7
        net = nn.Sequential(nn.Flatten(), nn.Linear(inputs, classes))
        nn.init.normal_(net[1].weight, std=INIT_STD)
        nn.init.zeros_(net[1].bias)
        return net
    # chapter 4.3
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(inputs, part.hidden), nn.ReLU(), nn.Linear(part.hidden, classes)
    )

    def init_weights(m):
        if type(m) is nn.Linear:
            nn.init.normal_(m.weight, std=INIT_STD)

    return net.apply(init_weights)


def loaders(root: Path, batch_size: int, seed: int) -> tuple[DataLoader, DataLoader]:
    """D2L's ``load_data_fashion_mnist``: ToTensor per image, shuffled training batches."""
    # The book asks for 4 workers whatever the machine; torch warns about that on 2 cores.
    warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
    to_tensor = transforms.ToTensor()
    train = datasets.FashionMNIST(root, train=True, transform=to_tensor, download=False)
    test = datasets.FashionMNIST(root, train=False, transform=to_tensor, download=False)
    generator = torch.Generator().manual_seed(seed)
    return (
        DataLoader(
            train,
            batch_size,
            shuffle=True,
            num_workers=WORKERS,
            generator=generator,
            persistent_workers=True,
        ),
        DataLoader(test, batch_size, shuffle=False, num_workers=WORKERS, persistent_workers=True),
    )


def train(
    config: RunConfig,
    root: Path,
    *,
    on_epoch: Callable[[dict], None] = lambda row: None,
    should_stop: Callable[[], bool] = lambda: False,
    beside: Callable[[dict], None] | None = None,
) -> nn.Module:
    """Train ``config.model``'s book network as D2L's ``train_ch3`` does (CPU); ``config.loss``
    must be ``ce`` and the dataset and model ones the book has (:func:`supports`).

    ``beside(row)``, if given, is called after each epoch's ``on_epoch`` with the same row: the
    place to time one epoch of another loop right after each of the book's, so that the two
    alternate and see the same moment of a machine whose speed drifts (:func:`side_by_side`).
    """
    if config.loss != "ce" or config.device != "cpu":
        raise ValueError("the textbook loop trains ce on the cpu only")
    model = models.canonical(config.model)
    if not supports(dataset_parts.canonical(config.dataset), model):
        raise ValueError(f"no textbook loop for {config.dataset} and {model}: {SUPPORTED}")
    train_iter, test_iter = loaders(root, config.batch_size, config.seed)
    torch.manual_seed(config.seed)
    inputs, classes = train_iter.dataset.data[0].numel(), len(train_iter.dataset.classes)
    net = book_net(model, inputs, classes)
    loss = nn.CrossEntropyLoss(reduction="none")
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr)
    n = len(train_iter.dataset)

    for epoch in range(1, config.epochs + 1):
        net.train()
        total_loss, correct, step_s = 0.0, 0, []
        started = time.perf_counter()
        step_started = started
        for x, y in train_iter:
            y_hat = net(x)
            value = loss(y_hat, y)
            optimizer.zero_grad()
            value.mean().backward()
            optimizer.step()
            total_loss += value.detach().sum().item()
            correct += int((y_hat.argmax(1) == y).sum())
            now = time.perf_counter()  # the book's step includes fetching the batch
            step_s.append(now - step_started)
            step_started = now
            if should_stop():
                raise Interrupted(f"stopped in epoch {epoch} of the textbook loop")
        epoch_s = time.perf_counter() - started
        step = torch.tensor(step_s, dtype=torch.float64)
        row = {
            **dataclasses.asdict(config),
            "epoch": epoch,
            "status": "ok" if math.isfinite(total_loss) else "diverged",
            "step_mode": "eager",
            "grad": "autograd",
            "train_loss": total_loss / n,
            "train_acc": correct / n,
            **evaluate(net, test_iter, classes),
            "epoch_s": epoch_s,
            "step_ms": step.median().item() * 1e3,
            "step_ms_p90": step.quantile(0.9).item() * 1e3,
            "samples_per_s": n / epoch_s,
            "peak_mem_mb": peak_memory_mb(torch.device("cpu")),
            "grad_norm": float("nan"),
            "active_frac": float("nan"),
            # the textbook's loops train clean labels and hold nothing out
            **dict.fromkeys((*FLIP_METRICS, *VAL_METRICS), float("nan")),
        }
        on_epoch(row)
        if beside is not None:
            beside(row)
    return net


def side_by_side(
    config: RunConfig, data, step_mode: str = "auto"
) -> tuple[Callable[[dict], None], list[dict]]:
    """``(beside, pairs)`` for :func:`train`: after each of the book's epochs, ``beside`` times
    one epoch of lossbench's own loop on the same task (``ce``, the run's model, batch size,
    rate and seed; a fresh run of one epoch on ``data``, the run's dataset in memory) and
    appends ``{"epoch", "textbook_s", "lossbench_s"}`` to ``pairs``. The two loops alternate,
    epoch for epoch, so their ratio is not the drift of the machine's speed between two moments.
    One untimed epoch of lossbench's loop runs here first, so that no timed epoch pays for the
    allocator and the GEMM library setting up (the book's first epoch, timed as the book runs
    it, pays for starting its loader's workers; the medians the report reads leave both out).
    """
    from bench.training import loop

    ours = dataclasses.replace(config, trainer=TRAINER, epochs=1)
    pairs: list[dict] = []
    loop.train(ours, data, step_mode=step_mode, train_metrics=False)

    def beside(row: dict) -> None:
        timed = []
        loop.train(ours, data, on_epoch=timed.append, step_mode=step_mode, train_metrics=False)
        pairs.append(
            {
                "epoch": row["epoch"],
                "textbook_s": row["epoch_s"],
                "lossbench_s": timed[-1]["epoch_s"],
            }
        )

    return beside, pairs


@torch.no_grad()
def evaluate(net: nn.Module, test_iter: DataLoader, classes: int) -> dict[str, float]:
    """D2L's ``evaluate_accuracy`` (``test_acc``), with the trainer's metrics of imbalance from
    the same predictions."""
    net.eval()
    predicted, labels = [], []
    for x, y in test_iter:
        predicted.append(net(x).argmax(1))
        labels.append(y)
    predicted, labels = torch.cat(predicted), torch.cat(labels)
    return {
        "test_acc": (predicted == labels).double().mean().item(),
        **class_metrics(predicted, labels, classes),
    }
