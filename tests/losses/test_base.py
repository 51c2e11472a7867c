"""The loss contract: declarations, describe(), value-only losses and autograd, registration."""

import dataclasses

import pytest
import torch

import losses
from losses.base import APPLIED_TO, FAMILIES, REGISTRY, Loss, format_value

KEYS = ["family", "applied to", "target", "margin", "reduction", "gradient"]


def case(n=6, k=4, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = (torch.randn(n, k, generator=g, dtype=torch.float64) * 2).to(dtype)
    return scores, torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("name", losses.names())
def test_every_registered_loss_declares_what_the_report_reads(name):
    loss = losses.get(name)
    assert loss.family in FAMILIES and loss.family != "user"
    assert loss.applied_to in APPLIED_TO
    assert loss.target_encoding
    assert isinstance(loss.accepts_soft_targets, bool)
    assert loss.grad_source == "analytic"
    description = loss.describe()
    assert list(description) == KEYS
    assert "not declared" not in description.values() and description["gradient"] == "analytic"


@pytest.mark.parametrize(
    "spec, family, applied",
    [
        ("ce", "textbook", "log-softmax of the scores"),
        ("l2", "textbook", "softmax probabilities"),
        ("huber:on=scores", "square", "raw scores"),
        ("l1:on=scores", "square", "raw scores"),
        ("soft_label", "ce-variant", "log-softmax of the scores"),
        ("margin", "margin-sparse", "raw scores"),
        ("focal", "ce-variant", None),
        ("poly1", "ce-variant", None),
        ("gce", "noise-robust", "softmax probabilities"),
        ("rce", "noise-robust", None),
        ("sce", "noise-robust", None),
        ("nce", "noise-robust", None),
        ("taylor", "noise-robust", "softmax probabilities"),
    ],
)
def test_families_and_where_each_loss_is_applied(spec, family, applied):
    description = losses.parse(spec).describe()
    assert description["family"] == family
    if applied:
        assert description["applied to"] == applied


@dataclasses.dataclass(frozen=True)
class Tilted(Loss):
    """A value-only loss (not registered): softplus of the rivals' mean score over the true one."""

    c: float = 1.0

    def value(self, scores, target):
        true = scores.gather(1, target[:, None]).squeeze(1)
        return torch.nn.functional.softplus(self.c * (scores.mean(1) - true))


def test_a_value_only_loss_gets_its_gradient_from_autograd_and_says_so():
    loss = Tilted(c=2.0)
    assert loss.grad_source == "autograd"
    scores, labels = case()
    value, grad = loss.value_and_grad(scores, labels)
    leaf = scores.clone().requires_grad_()
    true = leaf.gather(1, labels[:, None])[:, 0]
    want = torch.nn.functional.softplus(2.0 * (leaf.mean(1) - true))
    (want_grad,) = torch.autograd.grad(want.sum(), leaf)
    torch.testing.assert_close(value, want.detach(), rtol=0, atol=1e-14)
    torch.testing.assert_close(grad, want_grad, rtol=0, atol=1e-14)
    assert not value.requires_grad and not grad.requires_grad
    description = loss.describe()
    assert description["gradient"] == "autograd" and description["family"] == "user loss"
    assert description["applied to"] == "not declared" and description["target"] == "not declared"


def test_a_value_only_loss_works_under_no_grad_and_keeps_dtype_and_device():
    scores, labels = case(dtype=torch.float32)
    with torch.no_grad():
        value, grad = Tilted().value_and_grad(scores, labels)
    assert value.dtype == grad.dtype == torch.float32 and grad.shape == scores.shape
    assert grad.abs().sum() > 0


def test_a_user_loss_takes_labels_only_unless_it_declares_soft_targets():
    scores, _ = case()
    with pytest.raises(ValueError, match="needs integer class labels"):
        Tilted()(scores, torch.softmax(scores, 1))


def test_a_loss_writing_neither_value_nor_compute_is_refused_at_construction():
    @dataclasses.dataclass(frozen=True)
    class Nothing(Loss):
        pass

    with pytest.raises(ValueError, match="writes neither value.*nor compute"):
        Nothing()


def test_a_value_of_the_wrong_shape_or_without_a_graph_is_a_clear_error():
    @dataclasses.dataclass(frozen=True)
    class Mean(Loss):
        def value(self, scores, target):
            return scores.logsumexp(1).mean()

    @dataclasses.dataclass(frozen=True)
    class Detached(Loss):
        def value(self, scores, target):
            return scores.detach().logsumexp(1)

    scores, labels = case()
    with pytest.raises(ValueError, match=r"must return shape \(N,\) = \(6,\), got \(\)"):
        Mean()(scores, labels)
    with pytest.raises(ValueError, match="without an autograd graph"):
        Detached()(scores, labels)


def test_value_of_an_analytic_loss_is_its_computed_value():
    scores, labels = case()
    loss = losses.get("focal")
    assert torch.equal(loss.value(scores, labels), loss(scores, labels))


@pytest.mark.parametrize("declaration, value", [("family", "robust"), ("applied_to", "logits")])
def test_a_declaration_outside_its_vocabulary_is_refused(declaration, value):
    with pytest.raises(ValueError, match=f"Odd.{declaration} must be one of .*got '{value}'"):
        type("Odd", (Tilted,), {declaration: value})


def test_a_name_taken_by_another_class_is_refused(clean_registry):
    with pytest.raises(ValueError, match="loss name 'ce' is already registered by losses"):

        @dataclasses.dataclass(frozen=True)
        class Impostor(Loss, name="ce"):
            def value(self, scores, target):
                return scores.sum(1)

    assert REGISTRY["ce"].__module__ == "losses.cross_entropy"


@pytest.mark.parametrize(
    "number, text",
    [
        (0.1, "0.1"),
        (2.0, "2"),
        (1e-05, "1e-05"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e16, "1e+16"),
    ],
)
def test_floats_are_written_in_their_shortest_exact_form(number, text):
    assert format_value(number) == text
    assert losses.parse(f"huber:delta={text}").delta == number


def test_the_loss_protocol_does_not_import_the_figures():
    import subprocess
    import sys

    code = "import sys, losses; losses.parse('1*nce+1*rce'); print('losses.plots' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", losses.names())
def test_calling_a_loss_on_scores_that_require_grad_backpropagates_its_analytic_gradient(name):
    loss = losses.get(name)
    scores, labels = case()
    leaf = scores.clone().requires_grad_()
    value = loss(leaf, labels)
    value.mean().backward()
    assert value.shape == (6,) and value.grad_fn.name() == "AnalyticLossBackward"
    expected_value, expected_grad = loss.value_and_grad(scores, labels)
    torch.testing.assert_close(value.detach(), expected_value, rtol=0, atol=0)
    torch.testing.assert_close(leaf.grad, expected_grad / 6, rtol=1e-15, atol=0)
    with torch.no_grad():
        assert loss(leaf, labels).grad_fn is None


def test_calling_a_value_only_loss_keeps_its_autograd_graph():
    scores, labels = case()
    leaf = scores.clone().requires_grad_()
    value = Tilted(c=2.0)(leaf, labels)
    assert value.grad_fn is not None and value.grad_fn.name() != "AnalyticLossBackward"
    (grad,) = torch.autograd.grad(value.sum(), leaf, create_graph=True)
    torch.testing.assert_close(grad, Tilted(c=2.0).grad(scores, labels), rtol=0, atol=1e-14)
    assert grad.requires_grad  # its own graph: second derivatives are there


def test_a_value_only_loss_without_a_graph_is_a_clear_error_on_scores_that_require_grad():
    @dataclasses.dataclass(frozen=True)
    class Detached(Loss):
        def value(self, scores, target):
            return scores.detach().logsumexp(1)

    scores, labels = case()
    with pytest.raises(ValueError, match="without an autograd graph"):
        Detached()(scores.requires_grad_(), labels)
