"""Tests of distill_lib.core.schema: fields declared once give validation, coercion and specs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from distill_lib.core.schema import ParamError, Params, coerce, param, short_repr


@dataclass(frozen=True)
class Toy(Params):
    count: int = param(3, "how many", low=1, high=10)
    rate: float = param(0.5, "a rate", low=0.0, high=1.0, high_open=True)
    name: str = param("a", "a name", choices=("a", "b"))
    flag: bool = param(False, "a flag")
    width: int | None = param(None, "optional width", low=1)
    seeds: list[int] = param([0, 1], "seeds", low=0, unique=True)
    path: str | None = param(None, "a file", path=True)

    def check(self) -> None:
        super().check()
        if self.count > 5 and self.flag:
            raise self.fail("flag", "cannot be set with count > 5")


def test_defaults_types_and_normalisation():
    toy = Toy()
    assert toy.to_dict() == {
        "count": 3,
        "rate": 0.5,
        "name": "a",
        "flag": False,
        "width": None,
        "seeds": [0, 1],
        "path": None,
    }
    assert Toy(rate=0).rate == 0.0 and isinstance(Toy(rate=0).rate, float)
    assert Toy(seeds=(2, 3)).seeds == [2, 3]
    assert Toy().seeds is not Toy().seeds  # list defaults are fresh


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"count": 0}, "count=0: must be in [1, 10]"),
        ({"count": 11}, "count=11: must be in [1, 10]"),
        ({"count": 2.0}, "count=2.0: must be an integer"),
        ({"count": True}, "count=True: must be an integer"),
        ({"rate": 1.0}, "rate=1.0: must be in [0, 1)"),
        ({"rate": float("nan")}, "rate=nan: must be a finite number"),
        ({"rate": "0.5"}, "rate='0.5': must be a finite number"),
        ({"name": "c"}, "name='c': must be one of a, b"),
        ({"flag": 1}, "flag=1: must be true or false"),
        ({"width": 0}, "width=0: must be >= 1"),
        ({"seeds": [0, -1]}, "seeds=[0, -1]: -1 is not allowed; each entry must be >= 0"),
        ({"seeds": [1, 1]}, "seeds=[1, 1]: 1 listed twice"),
        ({"seeds": 3}, "seeds=3: must be a list of integers"),
        ({"count": 6, "flag": True}, "flag=True: cannot be set with count > 5"),
        ({"count": None}, "count=None: null is not allowed (expected integer)"),
    ],
)
def test_bad_values_name_field_value_and_rule_in_one_line(kwargs, message):
    with pytest.raises(ParamError) as err:
        Toy(**kwargs)
    assert str(err.value) == message or str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_a_huge_value_is_cut_in_the_message():
    with pytest.raises(ParamError) as err:
        Toy(seeds=[*range(10_000), -1])
    assert len(str(err.value)) < 200 and "..." in str(err.value)
    assert len(short_repr("x" * 1000)) == 80


def test_from_params_ignores_other_keys_and_specs_describe_every_field():
    assert Toy.from_params({"count": 4, "unrelated": object()}).count == 4
    specs = Toy.specs()
    assert list(specs) == ["count", "rate", "name", "flag", "width", "seeds", "path"]
    assert specs["count"].default == 3 and specs["count"].help == "how many" and specs["count"].owner == "Toy"
    assert specs["rate"].rule.describe() == "in [0, 1)" and specs["path"].rule.path
    assert specs["seeds"].type_name == "list of integer"


def test_choices_read_from_the_machine_are_described_as_on_any_machine():
    machine = ["cpu"]  # what this machine offers; a GPU machine adds "cuda"

    @dataclass(frozen=True)
    class Where(Params):
        device: str = param("cpu", "where", choices=lambda: tuple(machine), said="cpu, or cuda where there is a GPU")

    rule = Where.specs()["device"].rule
    assert rule.describe() == "one of cpu, or cuda where there is a GPU"  # not "one of cpu"
    with pytest.raises(ParamError, match="device='cuda': must be one of cpu, or cuda where there is a GPU"):
        Where(device="cuda")  # the machine's values still decide
    machine.append("cuda")
    assert Where(device="cuda").device == "cuda" and rule.describe() == "one of cpu, or cuda where there is a GPU"


@pytest.mark.parametrize(
    "name, raw, expected",
    [
        ("count", "4", 4),
        ("count", 4.0, 4),
        ("rate", "1e-3", 0.001),  # YAML 1.1 reads 1e-3 as a string
        ("rate", 1, 1.0),
        ("flag", "yes", True),
        ("width", "null", None),
        ("width", None, None),
        ("seeds", "1, 2", [1, 2]),
        ("seeds", 5, [5]),
        ("seeds", [], []),
        ("name", "b", "b"),
    ],
)
def test_coerce_reads_yaml_and_command_line_values(name, raw, expected):
    assert coerce(Toy.specs()[name], raw) == expected


@pytest.mark.parametrize(
    "name, raw, fragment",
    [
        ("count", "ten", "parameter count='ten': expected an integer"),
        ("count", "1e3", "expected an integer"),
        ("count", True, "expected an integer"),
        ("rate", "fast", "parameter rate='fast': expected a number"),
        ("rate", "inf", "expected a finite number"),
        ("flag", "maybe", "expected true or false"),
        ("count", None, "null is not allowed"),
        ("seeds", ["a"], "expected a list of integers"),
    ],
)
def test_coerce_rejects_what_is_not_the_type(name, raw, fragment):
    with pytest.raises(ParamError, match=fragment.replace("(", r"\(")):
        coerce(Toy.specs()[name], raw)
