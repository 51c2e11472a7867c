"""The registry: names, get, parse and spec strings."""

import pytest

import losses
from losses.base import REGISTRY, Loss


def test_at_least_the_textbook_losses_and_the_zoo_are_registered():
    assert {
        "l2",
        "l1",
        "huber",
        "ce",
        "margin",
        "soft_label",
        "focal",
        "gce",
        "rce",
        "sce",
        "nce",
        "poly1",
        "taylor",
    } <= set(losses.names())
    assert losses.names() == sorted(REGISTRY)
    assert all(issubclass(cls, Loss) for cls in REGISTRY.values())


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("huber", "huber:on=probs:delta=0.1"),
        ("huber:on=scores", "huber:on=scores:delta=1"),
        ("huber:delta=0.05:on=scores", "huber:on=scores:delta=0.05"),
        ("margin:kind=weston_watkins:delta=0.5", "margin:kind=weston_watkins:delta=0.5"),
        ("soft_label:smoothing=0.2", "soft_label:smoothing=0.2"),
        (" ce ", "ce"),
        ("l1:on=scores", "l1:on=scores"),
    ],
)
def test_parse_and_str_round_trip(spec, expected):
    loss = losses.parse(spec)
    assert str(loss) == expected
    assert losses.parse(str(loss)) == loss


def test_get_takes_parameters_by_name():
    assert losses.get("huber", delta=0.1, on="probs") == losses.parse("huber:delta=0.1")


def test_unknown_name_lists_the_registered_names():
    with pytest.raises(ValueError, match="unknown loss 'hinge'; registered losses: ") as e:
        losses.get("hinge")
    assert str(e.value).endswith(", ".join(losses.names()))
    with pytest.raises(ValueError, match="registered losses"):
        losses.parse("hinge:delta=2")


def test_unknown_parameter_lists_the_loss_parameters():
    with pytest.raises(ValueError, match="ce has no parameter smoothing; its parameters are: "):
        losses.parse("ce:smoothing=0.1")
    with pytest.raises(ValueError, match="its parameters are: on, delta"):
        losses.get("huber", width=2)


@pytest.mark.parametrize("spec", ["huber:delta", "huber:=3", "huber:delta=abc"])
def test_bad_spec_strings(spec):
    with pytest.raises(ValueError):
        losses.parse(spec)
