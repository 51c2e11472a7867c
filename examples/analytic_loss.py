"""A loss with its analytic gradient: cross-entropy at a temperature, value and gradient side by
side. lossbench checks the gradient against autograd once before training.

    python -m bench --import examples/analytic_loss.py --losses ce,tempered_ce:temperature=2
"""

import dataclasses

import torch

import losses


@dataclasses.dataclass(frozen=True)
class TemperedCE(losses.Loss, name="tempered_ce"):
    """−log softmax(o / T)_y;  gradient (softmax(o / T) − e_y) / T."""

    temperature: float = 2.0
    applied_to = "log_probs"  # what the report says it is applied to
    family = "ce-variant"

    def validate_params(self):
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")

    def compute(self, scores, target):
        log_probs = torch.log_softmax(scores / self.temperature, dim=1)
        value = -log_probs.gather(1, target[:, None]).squeeze(1)
        grad = log_probs.exp()
        grad[torch.arange(len(target)), target] -= 1
        return value, grad / self.temperature
