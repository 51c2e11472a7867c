"""Train your own model with a loss from the library: a small CNN on scikit-learn's 8×8 digits,
40% of its training labels flipped at random, trained with ``losses.nn.GCELoss`` beside
``torch.nn.CrossEntropyLoss`` by an ordinary ``torch.optim`` loop.

    python examples/train_with_criterion.py [EPOCHS] [SEED]

GCE (generalized cross-entropy, Zhang & Sabuncu 2018) is (1 − p_y^q)/q: it gives confidently
misfit labels less weight than CE does, so CE memorises the flipped labels sooner. The criterion
is a ``torch.nn.Module`` like CE's; its backward is the loss's analytic gradient.
"""

import sys

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from losses import nn as LN

EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 0
NOISE = 0.4  # each training label, with this probability, becomes one of the other 9 classes


def small_cnn() -> nn.Module:
    """(N, 1, 8, 8) images -> (N, 10) scores."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 × 4 × 4
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),  # 32 × 2 × 2
        nn.Flatten(),
        nn.Linear(128, 10),
    )


def train(criterion: nn.Module, x, y, test_x, test_y) -> float:
    """Minibatch SGD with momentum under ``criterion``; the test accuracy at the end."""
    torch.manual_seed(SEED)  # the same initial weights and batches for every criterion
    model = small_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(EPOCHS):
        for rows in torch.randperm(len(y)).split(64):
            optimizer.zero_grad()
            criterion(model(x[rows]), y[rows]).backward()
            optimizer.step()
    with torch.no_grad():
        return (model(test_x).argmax(1) == test_y).float().mean().item()


digits = load_digits()
images = torch.tensor(digits.images / 16, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8)
labels = torch.tensor(digits.target)
x, test_x, y, test_y = train_test_split(
    images, labels, test_size=0.25, random_state=0, stratify=labels
)
generator = torch.Generator().manual_seed(SEED)
flip = torch.rand(len(y), generator=generator) < NOISE
noisy = torch.where(flip, (y + torch.randint(1, 10, y.shape, generator=generator)) % 10, y)

torch.set_num_threads(1)  # convolutions this small run fastest on one thread
print(
    f"{len(y)} training images, {flip.float().mean():.0%} of their labels flipped; "
    f"{len(test_y)} clean test images; {EPOCHS} epochs, seed {SEED}"
)
for name, criterion in [("ce", nn.CrossEntropyLoss()), ("gce", LN.GCELoss(q=0.7))]:
    print(f"{name} test accuracy {train(criterion, x, noisy, test_x, test_y):.4f}")
