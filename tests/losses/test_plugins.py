"""Users' losses: files, modules and entry points, and the check before training."""

import dataclasses
import textwrap

import numpy as np
import pytest
import torch

import losses
from losses import plugins
from losses.base import REGISTRY, Loss

# The user's file of the plug-in issue, exactly as the README shows it.
CAUCHY = """\
# my_losses.py
import dataclasses
import torch
import losses

@dataclasses.dataclass(frozen=True)
class Cauchy(losses.Loss, name="cauchy"):
    c: float = 1.0

    def value(self, scores, target):  # (N, K), (N,) -> (N,); the gradient comes from autograd
        r = scores.softmax(1) - torch.nn.functional.one_hot(target, scores.shape[1]).to(scores.dtype)
        return (0.5 * self.c**2 * torch.log1p((r / self.c) ** 2)).sum(1)
"""  # noqa: E501 — the user's file, verbatim


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_the_users_cauchy_file_works_unchanged(tmp_path, clean_registry):
    path = write(tmp_path, "my_losses.py", CAUCHY)
    assert plugins.load(str(path)) == ["cauchy"]
    assert plugins.load(str(path)) == ["cauchy"]  # loading again registers the same
    loss = losses.parse("cauchy:c=0.5")
    assert str(loss) == "cauchy:c=0.5" and loss.grad_source == "autograd"
    plugins.check(loss)
    g = torch.Generator().manual_seed(0)
    scores, labels = torch.randn(8, 4, generator=g, dtype=torch.float64), torch.arange(8) % 4
    with torch.no_grad():  # as the trainer calls it
        value, grad = loss.value_and_grad(scores, labels)
    # the closed form: r = p − e_y, dl/dr = r / (1 + (r/c)²), through the softmax Jacobian
    p = torch.softmax(scores, 1)
    r = p - torch.nn.functional.one_hot(labels, 4).double()
    dr = r / (1 + (r / 0.5) ** 2)
    want_grad = p * (dr - (p * dr).sum(1, keepdim=True))
    torch.testing.assert_close(value, (0.125 * torch.log1p((r / 0.5) ** 2)).sum(1))
    torch.testing.assert_close(grad, want_grad)
    description = loss.describe()
    assert description["family"] == "user loss" and description["gradient"] == "autograd"
    assert description["applied to"] == "not declared"


def test_a_dotted_module_and_its_submodules(tmp_path, monkeypatch, clean_registry):
    package = tmp_path / "lossbench_test_pkg"
    package.mkdir()
    write(package, "__init__.py", "from lossbench_test_pkg import extra  # noqa\n")
    write(
        package,
        "extra.py",
        """
        import dataclasses
        import losses

        @dataclasses.dataclass(frozen=True)
        class Zero(losses.Loss, name="test_zero"):
            def value(self, scores, target):
                return 0 * scores.sum(1)
    """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plugins.load("lossbench_test_pkg") == ["test_zero"]
    assert plugins.load("lossbench_test_pkg") == ["test_zero"]


@pytest.mark.parametrize(
    "text, words",
    [
        ("def broken(:\n", r"cannot import loss file .*bad\.py: SyntaxError: "),
        ("x = 1 / 0\n", r"cannot import loss file .*bad\.py: ZeroDivisionError: division by zero"),
        ("import numpy\n", r"bad\.py registers no loss: define a subclass of losses\.Loss"),
    ],
)
def test_a_file_that_cannot_be_imported_or_registers_nothing(tmp_path, text, words):
    path = write(tmp_path, "bad.py", text)
    with pytest.raises(ValueError, match=words) as error:
        plugins.load(str(path))
    assert "\n" not in str(error.value)


def test_a_missing_file_or_module(tmp_path):
    with pytest.raises(ValueError, match=r"cannot import loss file .*nowhere\.py: .*no such file"):
        plugins.load(str(tmp_path / "nowhere.py"))
    with pytest.raises(
        ValueError, match="cannot import loss module no_such_pkg_xyz: ModuleNotFoundError"
    ):
        plugins.load("no_such_pkg_xyz")


def test_a_file_that_fails_halfway_leaves_the_registry_as_it_was(tmp_path, clean_registry):
    before = dict(REGISTRY)
    path = write(tmp_path, "half.py", CAUCHY.replace('"cauchy"', '"test_half"') + "1 / 0\n")
    with pytest.raises(ValueError, match="ZeroDivisionError"):
        plugins.load(str(path))
    assert REGISTRY == before


def test_a_file_taking_a_registered_name_is_refused(tmp_path, clean_registry):
    path = write(tmp_path, "clash.py", CAUCHY.replace('"cauchy"', '"ce"'))
    with pytest.raises(ValueError, match="ValueError: loss name 'ce' is already registered"):
        plugins.load(str(path))
    assert REGISTRY["ce"].__module__ == "losses.cross_entropy"


def entry_point_distribution(tmp_path, entry_points):
    info = tmp_path / "lossbench_test_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lossbench-test-plugin\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text("[lossbench.test_losses]\n" + entry_points)
    write(tmp_path, "lossbench_test_ep.py", CAUCHY.replace('"cauchy"', '"test_ep_cauchy"'))


def test_entry_points_are_loaded_by_group(tmp_path, monkeypatch, clean_registry):
    entry_point_distribution(tmp_path, "mine = lossbench_test_ep\ncls = lossbench_test_ep:Cauchy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plugins.load_entry_points("lossbench.test_losses") == ["test_ep_cauchy"]
    assert plugins.load_entry_points("lossbench.no_such_group") == []


def test_a_broken_entry_point_is_named(tmp_path, monkeypatch, clean_registry):
    entry_point_distribution(tmp_path, "broken = lossbench_no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        ValueError,
        match="entry point broken = lossbench_no_such_module_xyz "
        r"\(group lossbench.test_losses\) cannot be loaded: "
        "ModuleNotFoundError",
    ):
        plugins.load_entry_points("lossbench.test_losses")


# -- the check before training ------------------------------------------------------------------
def softmax_residual(scores, target):
    probs = torch.softmax(scores, 1)
    return probs - torch.nn.functional.one_hot(target, scores.shape[1]).to(scores.dtype)


@dataclasses.dataclass(frozen=True)
class GoodSquare(Loss):
    """½‖softmax(o) − e_y‖², value and analytic gradient (the user writes compute)."""

    def compute(self, scores, target):
        probs, r = torch.softmax(scores, 1), softmax_residual(scores, target)
        return 0.5 * (r * r).sum(1), probs * (r - (probs * r).sum(1, keepdim=True))


@dataclasses.dataclass(frozen=True)
class WrongGradient(GoodSquare):
    def compute(self, scores, target):
        value, grad = super().compute(scores, target)
        return value, 2 * grad


@dataclasses.dataclass(frozen=True)
class WrongGradientViaNumpy(GoodSquare):
    """Its value is computed in NumPy: no autograd graph, so differences judge it."""

    def compute(self, scores, target):
        r = softmax_residual(scores.detach(), target).numpy()
        value = torch.from_numpy(0.5 * np.square(r).sum(1))
        return value, torch.zeros_like(scores) + 0.1


@dataclasses.dataclass(frozen=True)
class GoodViaNumpy(GoodSquare):
    def compute(self, scores, target):
        _, grad = super().compute(scores.detach(), target)
        r = softmax_residual(scores.detach(), target).numpy()
        return torch.from_numpy(0.5 * np.square(r).sum(1)), grad


@dataclasses.dataclass(frozen=True)
class Raises(Loss):
    def value(self, scores, target):
        raise RuntimeError("boom\nsecond line")


@dataclasses.dataclass(frozen=True)
class WrongShape(GoodSquare):
    def compute(self, scores, target):
        value, grad = super().compute(scores, target)
        return value[:, None], grad


@dataclasses.dataclass(frozen=True)
class NonFinite(Loss):
    def value(self, scores, target):
        return torch.log(scores.softmax(1) * 0).sum(1)


@dataclasses.dataclass(frozen=True)
class NanGradient(GoodSquare):
    def compute(self, scores, target):
        value, grad = super().compute(scores, target)
        return value, grad * float("nan")


@dataclasses.dataclass(frozen=True)
class FailsOnSoftRows(Loss):
    accepts_soft_targets = True

    def value(self, scores, target):
        return softmax_residual(scores, target).abs().sum(1)  # one_hot of probability rows


@pytest.mark.parametrize("loss", [GoodSquare(), GoodViaNumpy(), losses.parse("1*ce+1*l2")], ids=str)
def test_a_sound_loss_passes(loss):
    plugins.check(loss)


@pytest.mark.parametrize("spec", losses.names())
def test_every_registered_loss_passes(spec):
    plugins.check(losses.get(spec), num_classes=3)


@pytest.mark.parametrize(
    "loss, words",
    [
        (Raises(), "loss Raises raises on a valid batch of labels: RuntimeError: boom$"),
        (
            WrongShape(),
            r"loss WrongShape returns value of shape \(16, 1\) and gradient of shape "
            r"\(16, 10\) on a batch of labels; expected \(N,\) = \(16,\)",
        ),
        (NonFinite(), "loss NonFinite returns 16 non-finite values on a valid batch of labels"),
        (NanGradient(), "loss NanGradient returns 160 non-finite gradients"),
        (
            WrongGradient(),
            "loss WrongGradient: its analytic gradient disagrees with autograd "
            r"through its value on a batch of labels: max error 0\.\d+",
        ),
        (WrongGradientViaNumpy(), "disagrees with finite differences through its value"),
        (FailsOnSoftRows(), "raises on a valid batch of probability rows: RuntimeError"),
    ],
)
def test_a_faulty_loss_gets_one_line_naming_it_and_the_problem(loss, words):
    with pytest.raises(ValueError, match=words) as error:
        plugins.check(loss)
    assert "\n" not in str(error.value)


def test_a_faulty_term_of_a_sum_is_named(clean_registry):
    @dataclasses.dataclass(frozen=True)
    class Wrong(WrongGradient, name="test_wrong_gradient"):
        pass

    with pytest.raises(ValueError, match="loss test_wrong_gradient: its analytic gradient"):
        plugins.check(losses.parse("1*ce+0.5*test_wrong_gradient"))
