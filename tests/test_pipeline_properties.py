"""Property tests of the pipeline parser: ``--filter`` specs and pipeline TOML files.

Valid generated specs round-trip to the same typed parameters; generated garbage gives
a :class:`PipelineError` (a StylepipeError) located as ``file:step N:key``, never any
other exception.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stylepipe.errors import ParamError, PipelineError
from stylepipe.filters import ParamSpec, parse_params
from stylepipe.pipeline import parse_pipeline
from stylepipe.pipeline_cli import pipeline_from_filter_specs
from stylepipe.plugins import Catalog, load_plugins

pytestmark = pytest.mark.reliability

CATALOG = Catalog.build(load_plugins(entry_points=False))
# Filters whose parameters are all typed scalars with ranges or choices; free-text
# parameters (model names, colours, aspect ratios) keep their defaults.
BASIC = ("adjust", "autocontrast", "blur", "convert", "crop", "grayscale", "resize", "sharpen")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _value(spec: ParamSpec) -> st.SearchStrategy[Any]:
    if spec.choices:
        return st.sampled_from(spec.choices)
    if spec.type is bool:
        return st.booleans()
    low = spec.min if spec.min is not None else -1000
    high = spec.max if spec.max is not None else 100_000
    if spec.type is int:
        return st.integers(math.ceil(low), math.floor(high))
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def steps(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A filter name and typed values for some of its parameters, valid together."""
    name = draw(st.sampled_from(BASIC))
    cls = CATALOG.filters.get(name)
    specs = [s for s in cls.param_specs() if s.choices or s.type is not str]
    chosen = draw(st.lists(st.sampled_from(specs), unique_by=lambda s: s.name)) if specs else []
    values = {spec.name: draw(_value(spec)) for spec in chosen}
    try:
        parse_params(cls.Params, values)
    except ParamError:
        assume(False)  # a combination the filter's own validate() refuses
    return name, values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # JSON strings are valid TOML basic strings
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _pipeline_toml(chain: list[tuple[str, dict[str, Any]]]) -> str:
    tables = []
    for name, values in chain:
        lines = ["[[step]]", f"filter = {_toml(name)}"]
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
        tables.append("\n".join(lines))
    return "\n\n".join(tables) + "\n"


@SETTINGS
@given(st.lists(steps(), min_size=1, max_size=4))
def test_valid_specs_and_files_round_trip_to_the_same_parameters(chain) -> None:
    specs = [
        name + (":" + ",".join(f"{k}={_text(v)}" for k, v in values.items()) if values else "")
        for name, values in chain
    ]
    from_cli = pipeline_from_filter_specs(specs, CATALOG)
    from_file = parse_pipeline(_pipeline_toml(chain), CATALOG, source="gen.toml")
    for (name, values), a, b in zip(chain, from_cli.steps, from_file.steps, strict=True):
        expected = parse_params(CATALOG.filters.get(name).Params, values)
        assert a.name == b.name == name
        assert a.filter.params == b.filter.params == expected


SCALARS = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=12),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
KEYS = st.one_of(
    st.sampled_from(["radius", "scale", "width", "mode", "cutoff", "depth", "percent"]),
    st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True),
)


@SETTINGS
@given(st.text(max_size=60))
def test_any_filter_spec_text_parses_or_gives_a_located_pipeline_error(spec: str) -> None:
    try:
        pipeline_from_filter_specs([spec], CATALOG)
    except PipelineError as exc:
        assert exc.file == "--filter 1" and exc.step is None
        assert str(exc).startswith("--filter 1")


@SETTINGS
@given(
    st.sampled_from(BASIC + ("style", "nosuch")),
    st.dictionaries(KEYS, st.text(max_size=8), max_size=4),
)
def test_garbage_parameters_on_the_command_line_name_the_key(name: str, params) -> None:
    spec = name + ":" + ",".join(f"{k}={v.replace(',', ';')}" for k, v in params.items())
    try:
        pipeline_from_filter_specs([spec], CATALOG)
    except PipelineError as exc:
        assert exc.file == "--filter 1"
        known = {"filter", *params}
        if name in CATALOG.filters.names():  # validate() may name a missing parameter
            known |= {spec.name for spec in CATALOG.filters.get(name).param_specs()}
        assert exc.key is None or exc.key in known


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_as_a_pipeline_file_gives_a_pipeline_error(text: str) -> None:
    try:
        parse_pipeline(text, CATALOG, source="junk.toml")
    except PipelineError as exc:
        assert exc.file == "junk.toml" and str(exc).startswith("junk.toml")


@st.composite
def garbage_documents(draw: st.DrawFn) -> str:
    """Well-formed TOML with wrong structure, names, keys and value types."""
    lines = []
    if draw(st.booleans()):
        lines.append(f"{draw(KEYS)} = {_toml(draw(VALUES))}")
    for _ in range(draw(st.integers(0, 3))):
        lines.append("[[step]]")
        if draw(st.booleans()):
            lines.append(f"filter = {_toml(draw(st.one_of(st.sampled_from(BASIC), VALUES)))}")
        for key, value in draw(st.dictionaries(KEYS, VALUES, max_size=3)).items():
            lines.append(f"{key} = {_toml(value)}")
    for table in draw(st.lists(st.sampled_from(["output", "runtime"]), unique=True)):
        lines.append(f"[{table}]")
        for key, value in draw(st.dictionaries(KEYS, VALUES, max_size=2)).items():
            lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


@SETTINGS
@given(garbage_documents())
def test_structured_garbage_files_give_located_pipeline_errors(text: str) -> None:
    try:
        parse_pipeline(text, CATALOG, source="bad.toml")
    except PipelineError as exc:
        assert exc.file == "bad.toml" and str(exc).startswith("bad.toml")
        assert exc.step is None or exc.step >= 1


@SETTINGS
@given(st.lists(steps(), min_size=1, max_size=3), st.data())
def test_one_wrong_value_is_located_at_its_step_and_key(chain, data) -> None:
    index = data.draw(st.integers(0, len(chain) - 1))
    name, values = chain[index]
    spec = data.draw(st.sampled_from(CATALOG.filters.get(name).param_specs()))
    wrong = {bool: "yes please", int: "seven", float: [1.5], str: 42}[spec.type]
    broken = list(chain)
    broken[index] = (name, {**values, spec.name: wrong})
    with pytest.raises(PipelineError) as info:
        parse_pipeline(_pipeline_toml(broken), CATALOG, source="p.toml")
    assert (info.value.file, info.value.step, info.value.key) == ("p.toml", index + 1, spec.name)
