"""The typed filter-parameter system: types, text conversion, ranges, choices, errors."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stylepipe import Filter, FilterParams, ParamError, param
from stylepipe.filters import param_specs, parse_params


@dataclass(frozen=True)
class DemoParams(FilterParams):
    amount: float = param(1.0, help="how much", min=0.0, max=10.0)
    count: int = param(3, help="how many", min=1)
    mode: str = param("soft", help="how", choices=("soft", "hard"))
    enabled: bool = param(True, help="whether")
    limit: int | None = param(None, help="optional cap", max=100)
    label: str | None = param(None, help="optional text")


@dataclass(frozen=True)
class RequiredParams(FilterParams):
    target: str = param(help="what to use")
    low: float = param(0.0, help="lower bound")
    high: float = param(1.0, help="upper bound")

    def validate(self) -> None:
        if self.low > self.high:
            raise ParamError("low", "low must not exceed high")


def test_defaults() -> None:
    params = parse_params(DemoParams, {})
    assert params == DemoParams()
    assert (params.amount, params.count, params.mode, params.enabled) == (1.0, 3, "soft", True)


def test_typed_values_from_a_file() -> None:
    params = parse_params(DemoParams, {"amount": 2, "count": 5, "enabled": False, "limit": 7})
    assert params.amount == 2.0 and isinstance(params.amount, float)  # int accepted for float
    assert params.count == 5 and params.enabled is False and params.limit == 7


@pytest.mark.parametrize(
    ("raw", "key", "fragment"),
    [
        ({"amount": "2"}, "amount", "must be a number, got the text '2'"),
        ({"count": 2.5}, "count", "must be a whole number, got 2.5"),
        ({"count": True}, "count", "must be a whole number, got true"),  # bool is no number
        ({"amount": True}, "amount", "must be a number"),
        ({"enabled": 1}, "enabled", "must be true or false, got 1"),
        ({"label": 3}, "label", "must be text, got 3"),
        ({"amount": 10.5}, "amount", "out of range (0.0 to 10.0)"),
        ({"count": 0}, "count", "out of range (>= 1)"),
        ({"limit": 101}, "limit", "out of range (<= 100)"),
        ({"mode": "medium"}, "mode", "must be one of soft, hard, got 'medium'"),
        ({"amount": [1, 2]}, "amount", "got a list [1, 2]"),
    ],
)
def test_bad_typed_values_name_the_key(raw: dict, key: str, fragment: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_params(DemoParams, raw)
    assert info.value.key == key
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        ({"amount": "2"}, "write it without quotes"),
        ({"enabled": "yes"}, "write true or false, without quotes"),  # TOML has no yes
        ({"enabled": "true"}, "write true or false, without quotes"),
        ({"enabled": "maybe"}, None),
    ],
)
def test_a_quoted_value_gets_a_hint_that_toml_takes(raw: dict, hint: str | None) -> None:
    with pytest.raises(ParamError) as info:
        parse_params(DemoParams, raw)
    assert info.value.hint == hint


def test_messages_name_no_python_type() -> None:
    """Users read "a whole number", not "an int | None"."""
    bad = {"amount": "x", "count": "3.5", "enabled": "maybe", "limit": "many"}
    for key, text in bad.items():
        with pytest.raises(ParamError) as info:
            parse_params(DemoParams, {key: text}, from_text=True)
        message = str(info.value)
        assert not any(word in message for word in ("int", "float", "bool", "None", "str ")), (
            message
        )
    with pytest.raises(ParamError, match="limit must be a whole number, got 'many'"):
        parse_params(DemoParams, {"limit": "many"}, from_text=True)


def test_every_wrong_key_is_reported_at_once() -> None:
    from stylepipe.errors import ParamErrors

    with pytest.raises(ParamErrors) as info:
        parse_params(DemoParams, {"amout": 1, "count": "x", "mode": "medium"})
    assert [e.key for e in info.value.errors] == ["amout", "count", "mode"]
    assert info.value.key == "amout"  # the first one fills the error itself


def test_unknown_key_suggests_the_close_one() -> None:
    with pytest.raises(ParamError) as info:
        parse_params(DemoParams, {"amout": 1.0})
    assert info.value.key == "amout"
    assert info.value.hint == "did you mean 'amount'?"
    with pytest.raises(ParamError) as far:
        parse_params(DemoParams, {"zzz": 1})
    assert far.value.hint == "known: amount, count, mode, enabled, limit, label"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ({"amount": "2.5"}, {"amount": 2.5}),
        ({"count": " 7 "}, {"count": 7}),
        ({"enabled": "no"}, {"enabled": False}),
        ({"enabled": "ON"}, {"enabled": True}),
        ({"limit": "none"}, {"limit": None}),
        ({"limit": ""}, {"limit": None}),
        ({"label": "null"}, {"label": None}),
        ({"mode": "hard"}, {"mode": "hard"}),
    ],
)
def test_values_from_text(text: dict, expected: dict) -> None:
    params = parse_params(DemoParams, text, from_text=True)
    for key, value in expected.items():
        assert getattr(params, key) == value


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ({"count": "3.5"}, "count"),
        ({"amount": "lots"}, "amount"),
        ({"enabled": "maybe"}, "enabled"),
    ],
)
def test_bad_text_names_the_key(text: dict, key: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_params(DemoParams, text, from_text=True)
    assert info.value.key == key
    assert repr(text[key]) in str(info.value)


def test_none_for_a_non_optional_parameter() -> None:
    with pytest.raises(ParamError, match="got nothing"):
        parse_params(DemoParams, {"count": None})


def test_required_parameter_and_cross_field_validation() -> None:
    with pytest.raises(ParamError) as info:
        parse_params(RequiredParams, {})
    assert info.value.key == "target" and "required" in str(info.value)
    with pytest.raises(ParamError, match="low must not exceed high"):
        parse_params(RequiredParams, {"target": "x", "low": 2.0})
    assert parse_params(RequiredParams, {"target": "x"}).target == "x"


def test_param_specs_describe_each_parameter() -> None:
    specs = {s.name: s for s in param_specs(DemoParams)}
    assert list(specs) == ["amount", "count", "mode", "enabled", "limit", "label"]
    assert specs["amount"].describe_range() == "0.0 to 10.0"
    assert specs["count"].describe_range() == ">= 1"
    assert specs["limit"].describe_range() == "<= 100"
    assert specs["mode"].describe_range() == "one of soft, hard"
    assert specs["label"].describe_range() == ""
    assert specs["limit"].type_name == "int | None" and specs["count"].type_name == "int"
    assert specs["amount"].help == "how much"
    required = param_specs(RequiredParams)[0]
    assert required.required and required.default is None


def test_unsupported_field_type_is_a_plugin_bug() -> None:
    @dataclass(frozen=True)
    class BadParams(FilterParams):
        sizes: list = param(None, help="not supported")  # type: ignore[assignment]

    with pytest.raises(TypeError, match="unsupported parameter type"):
        param_specs(BadParams)


def test_filter_uses_its_params_class() -> None:
    class Demo(Filter):
        name = "demo"
        summary = "demo"
        Params = DemoParams

    assert Demo().params == DemoParams()
    assert Demo.from_raw({"count": "9"}, from_text=True).params.count == 9  # type: ignore[attr-defined]
    assert [s.name for s in Demo.param_specs()][:2] == ["amount", "count"]


@given(st.integers(min_value=1, max_value=10**12))
def test_int_text_round_trip(value: int) -> None:
    assert parse_params(DemoParams, {"count": str(value)}, from_text=True).count == value


@given(st.floats(min_value=0.0, max_value=10.0, allow_nan=False))
def test_float_text_round_trip(value: float) -> None:
    assert parse_params(DemoParams, {"amount": repr(value)}, from_text=True).amount == value


@given(st.floats(allow_nan=False).filter(lambda v: not 0.0 <= v <= 10.0))
def test_floats_outside_range_are_rejected(value: float) -> None:
    with pytest.raises(ParamError, match="out of range"):
        parse_params(DemoParams, {"amount": value})
