"""The D2L textbook loop, as the book writes it: rows of results.csv's shape."""

import dataclasses

import pytest
import torch
from torch import nn

from bench import schema
from bench.peers import textbook
from bench.study import grid


def test_textbook_run_is_ce_on_cpu_at_the_books_rate():
    config = grid.textbook_run(epochs=30, batch_size=256)
    assert (config.loss, config.device, config.lr, config.schedule, config.trainer) == (
        "ce",
        "cpu",
        0.1,
        "constant",
        textbook.NAME,
    )


def test_the_book_has_loops_for_softmax_regression_and_its_mlp_on_fashion_mnist():
    assert textbook.supports("fashion_mnist", "linear")
    assert textbook.supports("fashion_mnist", "mlp:hidden=256")
    assert not textbook.supports("fashion_mnist", "mlp:hidden=128")  # the book's is 256 wide
    assert not textbook.supports("digits", "linear")
    assert "chapter 3" in textbook.SUPPORTED and "chapter 4" in textbook.SUPPORTED


def test_chapter_3_net_is_one_linear_layer_with_the_books_init():
    torch.manual_seed(0)
    net = textbook.book_net("linear", 784, 10)
    assert [type(m) for m in net] == [nn.Flatten, nn.Linear]
    assert abs(net[1].weight.std().item() - 0.01) < 1e-3 and (net[1].bias == 0).all()


def test_chapter_4_net_is_the_books_concise_mlp_with_its_init():
    torch.manual_seed(0)
    net = textbook.book_net("mlp:hidden=256", 784, 10)
    assert [type(m) for m in net] == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear]
    assert (net[1].in_features, net[1].out_features, net[3].out_features) == (784, 256, 10)
    for layer in (net[1], net[3]):
        assert abs(layer.weight.std().item() - 0.01) < 1e-3
        # init_weights leaves nn.Linear's bias init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), alone
        bound = layer.in_features**-0.5
        assert layer.bias.abs().max().item() <= bound and layer.bias.std().item() > bound / 4
    assert net(torch.rand(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize(
    "field, value", [("model", "mlp:hidden=64"), ("dataset", "digits"), ("loss", "margin")]
)
def test_train_refuses_what_the_book_does_not_have_before_reading_data(field, value, tmp_path):
    config = dataclasses.replace(grid.textbook_run(epochs=1, batch_size=256), **{field: value})
    with pytest.raises(ValueError, match="textbook loop"):
        textbook.train(config, tmp_path / "no-data")


@pytest.mark.realdata
@pytest.mark.parametrize(
    "model, accuracy",
    [
        ("linear", (0.70, 0.84)),  # D2L 3.7 reaches ~0.78 after one epoch at lr 0.1
        ("mlp:hidden=256", (0.55, 0.84)),  # D2L 4.3: the small init starts slower, ~0.7
    ],
)
def test_textbook_loop_trains_like_the_book(model, accuracy, fashion_mnist):
    from bench.api import ROOT

    rows = []
    config = dataclasses.replace(grid.textbook_run(epochs=1, batch_size=256), model=model)
    textbook.train(config, ROOT / "data", on_epoch=rows.append)
    (row,) = rows
    assert set(schema.RESULTS) - {"floor_s", "concurrent"} <= set(row)
    assert accuracy[0] < row["test_acc"] < accuracy[1]
    assert row["balanced_acc"] == pytest.approx(row["test_acc"], abs=1e-9)  # a balanced test set
    assert row["epoch_s"] > 0 and row["trainer"] == textbook.NAME
    assert (row["model"], row["grad"]) == (model, "autograd")


@pytest.mark.parametrize("model", ["linear", "mlp:hidden=256"])
def test_side_by_side_times_one_lossbench_epoch_after_each_of_the_books(
    model, make_data, monkeypatch
):
    from bench.training import loop

    trained = []
    train = loop.train
    monkeypatch.setattr(
        loop, "train", lambda config, *a, **k: trained.append(config) or train(config, *a, **k)
    )
    config = grid.textbook_run(epochs=2, batch_size=64, model=model)
    beside, pairs = textbook.side_by_side(config, make_data(n_train=300))
    assert len(trained) == 1  # one untimed epoch first
    for epoch, seconds in ((1, 2.5), (2, 2.25)):
        beside({"epoch": epoch, "epoch_s": seconds})
    assert [(p["epoch"], p["textbook_s"]) for p in pairs] == [(1, 2.5), (2, 2.25)]
    assert all(p["lossbench_s"] > 0 for p in pairs)
    assert len(trained) == 3
    ours = trained[-1]
    assert (ours.trainer, ours.loss, ours.epochs, ours.model, ours.batch_size, ours.lr) == (
        "lossbench",
        "ce",
        1,
        model,
        64,
        textbook.LR,
    )
