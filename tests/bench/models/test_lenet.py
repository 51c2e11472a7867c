"""The built-in ``lenet`` part, D2L's LeNet (chapter 7.6): its layers, init, errors on data it
cannot take, seeded weights, state, and a short run through the trainer."""

import dataclasses
import math

import pytest
import torch
from torch import nn

import losses
from bench import models
from bench.training.config import RunConfig
from bench.training.loop import sgd_step, train

K = 10


@pytest.fixture
def images(make_data):
    """A small dataset of 28×28 one-channel images, 10 classes (Fashion-MNIST's shapes)."""
    return dataclasses.replace(make_data(n_train=64, n_test=32), image_shape=(28, 28))


def test_layers_are_the_books_with_lenet_5s_61706_parameters(images):
    model = models.parse("lenet").init_for(0, images)
    layers = list(model.module)
    kinds = [type(layer).__name__ for layer in layers]
    assert kinds == [
        "Conv2d",
        "Sigmoid",
        "AvgPool2d",
        "Conv2d",
        "Sigmoid",
        "AvgPool2d",
        "Flatten",
        "Linear",
        "Sigmoid",
        "Linear",
        "Sigmoid",
        "Linear",
    ]
    conv1, conv2, fc1, fc2, fc3 = (layers[i] for i in (0, 3, 7, 9, 11))
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size, conv1.padding) == (
        1,
        6,
        (5, 5),
        (2, 2),
    )
    assert (conv2.out_channels, conv2.kernel_size, conv2.padding) == (16, (5, 5), (0, 0))
    assert [(f.in_features, f.out_features) for f in (fc1, fc2, fc3)] == [
        (400, 120),
        (120, 84),
        (84, K),
    ]
    # LeCun et al.'s LeNet-5 on 28×28 padded inputs with a 10-way dense output layer
    assert sum(p.numel() for p in model.module.parameters()) == 61_706


def test_weights_are_xavier_uniform_and_seeded(images):
    part = models.parse("lenet")
    model = part.init_for(0, images)
    for layer in model.module:
        if isinstance(layer, nn.Conv2d | nn.Linear):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(layer.weight)
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert layer.weight.abs().max() <= bound
            assert layer.weight.abs().max() > 0.9 * bound  # uniform over the whole range
    same, other = part.init_for(0, images).state_dict(), part.init_for(1, images).state_dict()
    state = model.state_dict()
    assert all(torch.equal(state[key], same[key]) for key in state)
    assert not torch.equal(state["0.weight"], other["0.weight"])


def test_flat_data_and_small_images_are_one_line_errors(images):
    part = models.parse("lenet")
    for data, words in [
        (dataclasses.replace(images, image_shape=None), "needs an image dataset"),
        (
            dataclasses.replace(
                images,
                train_x=images.train_x[:, :64],
                test_x=images.test_x[:, :64],
                image_shape=(8, 8),
            ),
            "at least 12×12 pixels, got 8×8",
        ),
    ]:
        with pytest.raises(ValueError, match=words) as raised:
            part.init_for(0, data)
        assert "\n" not in str(raised.value)


def test_colour_images_of_the_smallest_side_give_scores(make_data):
    data = dataclasses.replace(
        make_data(n_train=8, n_test=8, features=3 * 12 * 12), image_shape=(3, 12, 12)
    )
    model = models.parse("lenet").init_for(0, data)
    assert model.module[0].in_channels == 3 and model.module[7].in_features == 16
    assert model.scores(data.test_x).shape == (8, K)


def test_from_state_round_trips(images):
    part = models.parse("lenet")
    model = part.init_for(0, images)
    sgd_step(model, losses.parse("ce"), images.train_x[:16], images.train_y[:16], 0.5)
    loaded = part.from_state(model.state_dict())
    assert torch.equal(loaded.scores(images.test_x), model.scores(images.test_x))


def test_sgd_steps_equal_autograd_through_ce_and_torch_sgd(images):
    part = models.parse("lenet")
    ours, reference = part.init_for(4, images), part.init_for(4, images)
    optimizer = torch.optim.SGD(reference.module.parameters(), lr=0.5)
    x, y = images.train_x[:16], images.train_y[:16]
    for _ in range(3):
        sgd_step(ours, losses.parse("ce"), x, y, lr=0.5)
        optimizer.zero_grad()
        with torch.enable_grad():
            nn.functional.cross_entropy(reference.module(x.view(16, 1, 28, 28)), y).backward()
        optimizer.step()
    for a, b in zip(ours.module.parameters(), reference.module.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_steps_on_one_batch_lower_its_loss_and_the_trainer_runs_it(images):
    model = models.parse("lenet").init_for(0, images)
    x, y = images.train_x[:32], images.train_y[:32]
    values = [sgd_step(model, losses.parse("ce"), x, y, 0.5).mean().item() for _ in range(10)]
    # from 2.46 to the entropy of the batch's labels (2.21), where sigmoid LeNet's first
    # plateau lies (it leaves it after many more steps, as in the book's first epoch)
    assert values[-1] < values[0] - 0.2
    config = RunConfig(
        loss="ce", lr=0.5, epochs=2, batch_size=16, dataset="synthetic", model="lenet"
    )
    rows = []
    train(config, images, on_epoch=rows.append)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert all(0 <= r["test_acc"] <= 1 and math.isfinite(r["train_loss"]) for r in rows)
