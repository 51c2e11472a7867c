"""The D2L textbook loop, as the book writes it, timed beside lossbench's loop on the same machine.

DataLoader over ``torchvision.datasets.FashionMNIST`` with ``ToTensor``, ``nn.Flatten`` +
``nn.Linear`` (weights N(0, 0.01²)), ``nn.CrossEntropyLoss``, autograd and ``torch.optim.SGD`` at
lr 0.1, batch 256, as in D2L's ``train_ch3`` (chapter 3.7). It yields rows of the same shape as
:func:`bench.train.train`, so the report sets the two side by side.
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

from bench.train import Interrupted, RunConfig, peak_memory_mb

NAME = "d2l-textbook"
LR = 0.1  # the book's rate; the book's schedule is constant
EPOCHS = 10  # the book's train_ch3 call; a shorter study runs fewer
WORKERS = 4  # d2l.get_dataloader_workers()


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
) -> nn.Module:
    """Train as D2L's ``train_ch3`` does (CPU); ``config.loss`` must be ``ce``."""
    if config.loss != "ce" or config.device != "cpu":
        raise ValueError("the textbook loop trains ce on the cpu only")
    torch.manual_seed(config.seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    nn.init.normal_(net[1].weight, std=0.01)
    nn.init.zeros_(net[1].bias)
    loss = nn.CrossEntropyLoss(reduction="none")
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr)
    train_iter, test_iter = loaders(root, config.batch_size, config.seed)
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
        on_epoch(
            {
                **dataclasses.asdict(config),
                "epoch": epoch,
                "status": "ok" if math.isfinite(total_loss) else "diverged",
                "step_mode": "eager",
                "train_loss": total_loss / n,
                "train_acc": correct / n,
                "test_acc": accuracy(net, test_iter),
                "epoch_s": epoch_s,
                "step_ms": step.median().item() * 1e3,
                "step_ms_p90": step.quantile(0.9).item() * 1e3,
                "samples_per_s": n / epoch_s,
                "peak_mem_mb": peak_memory_mb(torch.device("cpu")),
                "grad_norm": float("nan"),
                "active_frac": float("nan"),
                "memorised": float("nan"),
            }
        )
    return net


@torch.no_grad()
def accuracy(net: nn.Module, test_iter: DataLoader) -> float:
    """D2L's ``evaluate_accuracy``."""
    net.eval()
    correct = total = 0
    for x, y in test_iter:
        correct += int((net(x).argmax(1) == y).sum())
        total += y.numel()
    return correct / total
