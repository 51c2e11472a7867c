# my_losses.py
import dataclasses

import torch
import torch.nn.functional as F

import losses


@dataclasses.dataclass(frozen=True)
class Cauchy(losses.Loss, name="cauchy"):
    c: float = 1.0

    def value(self, scores, target):  # (N, K), (N,) -> (N,); the gradient comes from autograd
        r = scores.softmax(1) - F.one_hot(target, scores.shape[1]).to(scores.dtype)
        return (0.5 * self.c**2 * torch.log1p((r / self.c) ** 2)).sum(1)
