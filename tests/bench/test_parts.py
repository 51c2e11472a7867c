"""Parts by spec string: registration, canonical specs, one-line errors."""

import dataclasses

import pytest

from bench.parts import Part, split_spec


class Widget(Part):
    kind = "widget"
    registry = {}


@dataclasses.dataclass(frozen=True)
class Gear(Widget, name="gear"):
    teeth: int = 12
    ratio: float = 0.5

    def validate_params(self):
        if self.teeth < 1:
            raise ValueError(f"teeth must be at least 1, got {self.teeth}")


def test_a_subclass_registers_itself_in_its_kinds_registry():
    assert Widget.names() == ["gear"] and "gear" not in Part.__dict__.get("registry", {})
    assert Widget.parse("gear:teeth=30") == Gear(teeth=30)


def test_spec_round_trips_with_every_parameter_in_order():
    assert str(Gear()) == "gear:teeth=12:ratio=0.5"
    assert Widget.parse(str(Gear(7, 2.0))) == Gear(7, 2.0)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("cog", "unknown widget 'cog'; registered widgets: gear"),
        ("gear:size=3", "widget gear has no parameter size; its parameters are: teeth, ratio"),
        ("gear:teeth", "expected name:key=value"),
        ("gear:teeth=0", "teeth must be at least 1"),
        (":teeth=3", "has no name"),
    ],
)
def test_bad_specs_are_one_line_value_errors(spec, words):
    with pytest.raises(ValueError, match=words) as info:
        Widget.parse(spec)
    assert "\n" not in str(info.value)


def test_values_are_read_as_numbers_where_they_look_like_numbers():
    assert split_spec("npz:path=my.npz:scale=standard:k=3:x=1e-3") == (
        "npz",
        {"path": "my.npz", "scale": "standard", "k": 3, "x": 1e-3},
    )
