"""LeNet-5 as in D2L chapter 7.6, the book's next model after the MLP, for image datasets."""

from __future__ import annotations

import dataclasses

from torch import nn

from bench.models.module import ModulePart

# The smallest image side LeNet takes: a 5×5 convolution (padded), 2×2 pooling, a 5×5
# convolution (unpadded) and 2×2 pooling leave ((side // 2) - 4) // 2 pixels, at least 1.
MIN_SIDE = 12


@dataclasses.dataclass(frozen=True)
class LeNet(ModulePart, name="lenet"):
    """D2L's LeNet (chapter 7.6), for images (C, H, W) and K classes:

    conv 6@5×5 (padding 2), sigmoid, avgpool 2×2 (stride 2); conv 16@5×5, sigmoid, avgpool 2×2;
    flatten; dense 120, sigmoid; dense 84, sigmoid; dense K. Sigmoid and average pooling as the
    book (and LeCun et al. 1998), not ReLU and max pooling. Init as the book's ``init_cnn``:
    Xavier-uniform weights of the convolutions and dense layers; biases as PyTorch's default.
    Trained through ``torch.optim.SGD`` from the score gradient (:class:`ModuleModel`).
    Shape: images (N, C, H, W), H, W >= MIN_SIDE -> scores (N, K); 16·5·5 = 400 features
    after the convolutions for 28×28.
    """

    def check_input_shape(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                "model lenet needs an image dataset (one with an image shape, such as "
                f"fashion_mnist); this one has flat rows of {input_shape[0]} inputs"
            )
        if min(input_shape[1:]) < MIN_SIDE:
            raise ValueError(
                f"model lenet needs images of at least {MIN_SIDE}×{MIN_SIDE} pixels, got "
                f"{input_shape[1]}×{input_shape[2]}; use --model mlp for smaller images"
            )

    def build(self, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
        channels, height, width = input_shape
        features = 16 * ((height // 2 - 4) // 2) * ((width // 2 - 4) // 2)
        net = nn.Sequential(
            nn.Conv2d(channels, 6, kernel_size=5, padding=2),
            nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(features, 120),
            nn.Sigmoid(),
            nn.Linear(120, 84),
            nn.Sigmoid(),
            nn.Linear(84, num_classes),
        )
        for layer in net:
            if isinstance(layer, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
        return net

    def describe(self) -> str:
        return (
            "LeNet (D2L chapter 7.6: two 5×5 sigmoid convolutions of 6 and 16 channels with "
            "2×2 average pooling, then dense 120-84-K with sigmoids), trained by "
            "torch.optim.SGD from the loss's analytic score gradient"
        )
