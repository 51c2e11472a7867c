"""A model of your own for the bench: any torch.nn.Module that maps inputs to (N, K) scores.

    python -m bench --model module:path=docs/examples/my_model.py:name=Net:width=32 \
        --dataset digits --losses ce,gce:q=0.7 --epochs 10 --seeds 2

On a dataset with an image shape the module receives (N, 1, H, W); otherwise (N, D). The spec's
other keys (``width=32``) are keyword arguments of the constructor.
"""

from __future__ import annotations

import torch
from torch import nn


class Net(nn.Module):
    """A small CNN: conv 3×3 to ``width`` channels, ReLU, average-pooled to 4×4, then linear.

    Shape: input (N, 1, H, W) -> scores (N, num_classes).
    """

    def __init__(self, width: int = 16, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(1, width, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Linear(width * 4 * 4, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.pool(torch.relu(self.conv(images)))
        return self.head(features.flatten(1))
