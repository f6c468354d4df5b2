"""Pipeline files and --filter specs: parsing, validation and error locations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stylepipe import Filter, FilterParams, Frame, ParamError, PipelineError, hookimpl, param
from stylepipe.filters import RuntimeOptions
from stylepipe.pipeline import (
    OutputOptions,
    check_name_template,
    describe_pipeline,
    load_pipeline,
    parse_pipeline,
)
from stylepipe.pipeline_cli import parse_filter_spec, pipeline_from_filter_specs, with_overrides
from stylepipe.plugins import Catalog, load_plugins


@dataclass(frozen=True)
class TagParams(FilterParams):
    text: str = param("", help="free text (may hold '=' and ',')")
    model: str | None = param(None, help="a model that must exist")


class Tag(Filter):
    """Test filter: a free-text parameter and a model checked against the catalog."""

    name = "tag"
    summary = "test filter"
    Params = TagParams
    params: TagParams

    def check(self, catalog: Catalog) -> None:
        if self.params.model is not None and self.params.model not in catalog.models:
            raise ParamError("model", f"unknown model {self.params.model!r}")

    def apply(self, frame: Frame) -> Frame:
        return frame


class TagPlugin:
    @hookimpl
    def register_filters(self, register):  # type: ignore[no-untyped-def]
        register(Tag)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    plugins = load_plugins(entry_points=False)
    plugins.pm.register(TagPlugin(), name="tag_plugin")
    return Catalog.build(plugins)


GOOD = """\
description = "web previews"

[[step]]
filter = "resize"
longest = 1024

[[step]]
filter = "sharpen"
percent = 80

[output]
format = "JPG"
quality = 85
name = "{stem}_{filter}{ext}"

[runtime]
device = "cpu"
precision = "bf16"
tile = 256
"""


STEP = '[[step]]\nfilter = "blur"\n'


def parse(text: str, catalog: Catalog) -> object:
    return parse_pipeline(text, catalog, source="p.toml")


def error_of(text: str, catalog: Catalog) -> PipelineError:
    with pytest.raises(PipelineError) as info:
        parse_pipeline(text, catalog, source="p.toml")
    return info.value


def test_valid_file(catalog: Catalog) -> None:
    pipeline = parse_pipeline(GOOD, catalog, source="p.toml")
    assert [s.name for s in pipeline.steps] == ["resize", "sharpen"]
    assert [s.index for s in pipeline.steps] == [1, 2]
    assert pipeline.steps[0].filter.params.longest == 1024  # type: ignore[attr-defined]
    assert pipeline.steps[1].raw == {"filter": "sharpen", "percent": 80}
    assert pipeline.output == OutputOptions("jpeg", 85, 6, "{stem}_{filter}{ext}")
    assert pipeline.runtime == RuntimeOptions(device="cpu", precision="bf16", tile=256)
    assert pipeline.source == "p.toml" and pipeline.description == "web previews"
    assert pipeline.filter_label == "resize-sharpen"
    assert describe_pipeline(pipeline) == "resize(longest=1024) -> sharpen(percent=80)"


def test_defaults_when_tables_are_absent(catalog: Catalog) -> None:
    pipeline = parse('[[step]]\nfilter = "grayscale"\n', catalog)
    assert pipeline.output == OutputOptions()
    assert pipeline.runtime == RuntimeOptions()


def test_load_from_file_with_bom(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    pipeline = load_pipeline(path, catalog)
    assert pipeline.source == str(path) and len(pipeline.steps) == 2


def test_unreadable_files(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(PipelineError, match="cannot read the pipeline file") as missing:
        load_pipeline(tmp_path / "nope.toml", catalog)
    assert missing.value.location == str(tmp_path / "nope.toml")
    with pytest.raises(PipelineError, match="cannot read"):
        load_pipeline(tmp_path, catalog)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'description = "caf\xe9"\n')
    with pytest.raises(PipelineError, match="not UTF-8"):
        load_pipeline(latin, catalog)


def test_syntax_error_names_the_line(catalog: Catalog) -> None:
    err = error_of('[[step]]\nfilter = "resize"\nscale 0.5\n', catalog)
    assert err.location == "p.toml"
    assert "invalid TOML: line 3, column" in err.message


@pytest.mark.parametrize(
    ("text", "location", "fragment", "hint"),
    [
        ('[[step]]\nfilter = "resise"\n', "p.toml:step 1:filter", "unknown filter", "'resize'"),
        (
            '[[step]]\nfilter = "blur"\n[[step]]\nfilter = "resize"\nscael = 2\n',
            "p.toml:step 2:scael",
            "resize: unknown parameter 'scael'",
            "did you mean 'scale'?",
        ),
        (
            '[[step]]\nfilter = "resize"\nscale = "half"\n',
            "p.toml:step 1:scale",
            "scale must be a number, got the text 'half'",
            None,
        ),
        ('[[step]]\nfilter = "blur"\nradius = -1\n', "p.toml:step 1:radius", "out of range", None),
        (
            '[[step]]\nfilter = "resize"\nscale = 0.5\nwidth = 10\n',
            "p.toml:step 1:scale",
            "resize takes one mode",
            None,
        ),
        ('[[step]]\nfilter = "resize"\n', "p.toml:step 1:scale", "resize needs", "scale=0.5"),
        ("[[step]]\nscale = 2\n", "p.toml:step 1:filter", "filter name is missing", "filters"),
        ("[[step]]\nfilter = 3\n", "p.toml:step 1:filter", "must be a non-empty string", None),
        ('[[steps]]\nfilter = "blur"\n', "p.toml:steps", "unknown top-level key", "'step'"),
        ('[step]\nfilter = "blur"\n', "p.toml:step", "[[step]]", None),
        ('step = ["blur"]\n', "p.toml:step 1", "a step must be a table", None),
        ("", "p.toml", "no steps", "[[step]]"),
        ('[output]\nformat = "png"\n', "p.toml", "no steps", None),
        ("description = 3\n", "p.toml:description", "must be a string", None),
        ('output = "png"\n' + STEP, "p.toml:output", "must be a table", None),
        ('[[step]]\nfilter = "tag"\nmodel = "nope"\n', "p.toml:step 1:model", "tag: unknown", None),
    ],
)
def test_step_errors_are_located(
    catalog: Catalog, text: str, location: str, fragment: str, hint: str | None
) -> None:
    err = error_of(text, catalog)
    assert err.location == location
    assert fragment in err.message
    if hint is not None:
        assert err.hint is not None and hint in err.hint
    assert str(err).startswith(location + ": ")


@pytest.mark.parametrize(
    ("table", "location", "fragment"),
    [
        ('[output]\nformat = "gif"\n', "p.toml:[output]:format", "one of png, jpeg, webp, tiff"),
        ("[output]\nquality = 0\n", "p.toml:[output]:quality", "out of range"),
        ("[output]\ncompression = 10\n", "p.toml:[output]:compression", "out of range"),
        ("[output]\nqualty = 5\n", "p.toml:[output]:qualty", "unknown parameter"),
        ('[output]\nname = "out{ext}"\n', "p.toml:[output]:name", "{stem} is missing"),
        ('[output]\nname = "{stem}.png"\n', "p.toml:[output]:name", "{ext} is missing"),
        ('[output]\nname = "{stem}{size}{ext}"\n', "p.toml:[output]:name", "unknown field {size}"),
        ('[output]\nname = "{stem.upper}{ext}"\n', "p.toml:[output]:name", "unknown field"),
        ('[output]\nname = "{}{stem}{ext}"\n', "p.toml:[output]:name", "unknown field {}"),
        ('[output]\nname = "{stem{ext}"\n', "p.toml:[output]:name", "bad name template"),
        ('[output]\nname = "{stem:d}{ext}"\n', "p.toml:[output]:name", "bad name template"),
        ('[output]\nname = "x/{stem}{ext}"\n', "p.toml:[output]:name", "folder separators"),
        ('[runtime]\nprecision = "fp64"\n', "p.toml:[runtime]:precision", "one of auto, fp32"),
        ("[runtime]\ntile = -1\n", "p.toml:[runtime]:tile", "out of range"),
        ('[runtime]\ntile = "big"\n', "p.toml:[runtime]:tile", "must be a whole number"),
        ('[runtime]\ndevise = "cpu"\n', "p.toml:[runtime]:devise", "unknown parameter"),
        ('[runtime]\ndevice = " "\n', "p.toml:[runtime]:device", "must not be empty"),
        ('[runtime]\ncompile = "yes"\n', "p.toml:[runtime]:compile", "must be true or false"),
        ("[runtime]\ncompile = 1\n", "p.toml:[runtime]:compile", "must be true or false"),
    ],
)
def test_output_and_runtime_errors_are_located(
    catalog: Catalog, table: str, location: str, fragment: str
) -> None:
    err = error_of(STEP + table, catalog)
    assert err.location == location
    assert fragment in err.message


def test_output_and_runtime_spellings(catalog: Catalog) -> None:
    text = STEP + '[output]\nformat = "TIF"\n[runtime]\ntile = "Auto"\n'
    pipeline = parse(text, catalog)
    assert pipeline.output.format == "tiff"
    assert pipeline.runtime.tile is None
    assert parse(STEP + "[runtime]\ntile = 0\n", catalog).runtime.tile == 0


def test_runtime_compile(catalog: Catalog) -> None:
    assert parse(STEP, catalog).runtime.compile is False
    pipeline = parse(STEP + "[runtime]\ncompile = true\n", catalog)
    assert pipeline.runtime == RuntimeOptions(compile=True)
    err = error_of(STEP + '[runtime]\ncompile = "yes"\n', catalog)
    assert err.location == "p.toml:[runtime]:compile"
    assert err.message == "compile must be true or false, got the text 'yes'"
    assert err.hint == "write true or false, without quotes"
    for flag, expected in ((True, True), (False, False), (None, True)):
        changed = with_overrides(pipeline, runtime={"compile": flag}, from_text=True)
        assert changed.runtime.compile is expected


def test_name_template_accepts_all_fields_and_format_specs() -> None:
    check_name_template("{stem}_{filter}{ext}")
    check_name_template("{stem:>8}-x4{ext}")
    with pytest.raises(ParamError) as info:
        check_name_template("{ext}")
    assert info.value.key == "name"


def test_filter_specs(catalog: Catalog) -> None:
    pipeline = pipeline_from_filter_specs(
        ["resize:longest=64,resample=bicubic", "grayscale", "blur:"], catalog
    )
    assert [s.name for s in pipeline.steps] == ["resize", "grayscale", "blur"]
    resize = pipeline.steps[0]
    assert resize.filter.params.longest == 64  # type: ignore[attr-defined]
    assert resize.raw == {"filter": "resize", "longest": "64", "resample": "bicubic"}
    assert pipeline.source is None and pipeline.output == OutputOptions()


def test_filter_spec_values_may_hold_equals_colons_and_commas(catalog: Catalog) -> None:
    pipeline = pipeline_from_filter_specs(["tag:text=a=b:c,d,e", "crop:aspect=16:9"], catalog)
    assert pipeline.steps[0].filter.params.text == "a=b:c,d,e"  # type: ignore[attr-defined]
    assert pipeline.steps[1].filter.params.aspect == "16:9"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("specs", "location", "fragment"),
    [
        (["blur", "resize:scale=big"], "--filter 2:scale", "must be a number, got 'big'"),
        (["blurr"], "--filter 1:filter", "unknown filter 'blurr'"),
        (["resize:scale=1,scale=2"], "--filter 1:scale", "given twice"),
        (["grayscale:0.5"], "--filter 1:keep_rgb", "must be true or false, got '0.5'"),
        (["resize:0.5,0.7"], "--filter 1:scale", "must be a number, got '0.5,0.7'"),
        (["resize:=0.5"], "--filter 1", "missing parameter name"),
        ([":scale=2"], "--filter 1", "no filter name"),
        (["blur:sigma=2"], "--filter 1:sigma", "unknown parameter 'sigma'"),
        ([], "command line", "no filters given"),
    ],
)
def test_filter_spec_errors_are_located(
    catalog: Catalog, specs: list[str], location: str, fragment: str
) -> None:
    with pytest.raises(PipelineError) as info:
        pipeline_from_filter_specs(specs, catalog)
    assert info.value.location == location
    assert fragment in info.value.message


_KEY = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_VALUE = st.text(alphabet="abc019.:=/-+#", min_size=1, max_size=12)


@given(st.dictionaries(_KEY, _VALUE, min_size=0, max_size=5))
def test_filter_spec_round_trip(params: dict[str, str]) -> None:
    spec = "name:" + ",".join(f"{k}={v}" for k, v in params.items())
    assert parse_filter_spec(spec) == ("name", params)


def test_overrides_replace_and_check(catalog: Catalog) -> None:
    pipeline = parse(GOOD, catalog)
    changed = with_overrides(
        pipeline,
        output={"quality": "70", "format": "png", "name": None},
        runtime={"tile": "auto", "device": None},
        from_text=True,
    )
    assert changed.output == OutputOptions("png", 70, 6, "{stem}_{filter}{ext}")
    assert changed.runtime == RuntimeOptions(device="cpu", precision="bf16", tile=None)
    assert changed.steps == pipeline.steps
    assert with_overrides(pipeline, output={"quality": None}) == pipeline
    with pytest.raises(PipelineError) as info:
        with_overrides(pipeline, output={"quality": 101})
    assert info.value.location == "command line:--quality"
    with pytest.raises(PipelineError) as name:
        with_overrides(pipeline, output={"name": "fixed.png"})
    assert name.value.location == "command line:--name"


def test_check_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stylepipe.cli import main

    monkeypatch.setenv("COLUMNS", "400")  # long tmp paths: no wrapping by rich
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[step]]\nfilter = "resize"\nscale = 0\n')
    assert main(["check", str(good)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"OK {good}: 2 steps: resize(longest=1024) -> sharpen(percent=80)\n"

    assert main(["check", str(good), str(bad), str(tmp_path / "missing.toml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"OK {good}")
    assert err[1] == f"error: {bad}:step 1:scale: resize: scale=0.0 is out of range (0.001 to 64.0)"
    assert err[2].startswith(f"error: {tmp_path / 'missing.toml'}: cannot read the pipeline file")
