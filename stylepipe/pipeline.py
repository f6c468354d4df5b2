"""Pipeline files: TOML ``[[step]]`` tables -> a validated :class:`Pipeline`.

Contract shared by the engine and the CLI: every error is a :class:`PipelineError`
whose location reads ``FILE:step N:key`` (``--filter N:key`` for command-line steps),
raised before any image is touched. A pipeline file looks like::

    description = "web previews"      # optional

    [[step]]
    filter = "resize"
    longest = 1024

    [[step]]
    filter = "sharpen"
    percent = 80

    [output]                          # optional
    format = "jpeg"                   # png, jpeg (jpg), webp, tiff (tif); default: the input's
    quality = 90
    name = "{stem}_{filter}{ext}"

    [runtime]                         # optional
    device = "auto"
    precision = "auto"                # auto, fp32, bf16, fp16
    tile = "auto"                     # or input pixels per tile; 0: whole image

The key ``filter`` is reserved in a step table; every other key is a parameter of that
filter, typed as ``stylepipe filters NAME`` shows.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import string
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ParamError, PipelineError, UsageError
from .filters import Filter, FilterParams, RuntimeOptions, param, parse_params

if TYPE_CHECKING:
    from .plugins import Catalog


@dataclass(frozen=True)
class Step:
    """One validated pipeline step: 1-based ``index``, the filter instance and its raw table."""

    index: int
    filter: Filter
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.filter.name


@dataclass(frozen=True)
class OutputOptions:
    """``[output]``: format (png, jpeg, webp, tiff; None keeps the input's), JPEG/WebP
    quality, PNG compression level and the output name template. Template fields:
    ``{stem}`` input name without extension, ``{ext}`` output extension with its dot,
    ``{filter}`` the step names joined by ``-``."""

    format: str | None = None
    quality: int = 92
    compression: int = 6
    name: str = "{stem}{ext}"


@dataclass(frozen=True)
class Pipeline:
    """Steps in order plus output and runtime options; ``source`` is the file it came from
    (``None`` for ``--filter`` steps); ``description`` the file's optional top-level text."""

    steps: tuple[Step, ...]
    output: OutputOptions = field(default_factory=OutputOptions)
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    source: str | None = None
    description: str | None = None

    @property
    def filter_label(self) -> str:
        return "-".join(step.name for step in self.steps)


PIPELINE_KEYS = ("description", "step", "output", "runtime")
OUTPUT_FORMATS = ("png", "jpeg", "webp", "tiff")
FORMAT_ALIASES = {"jpg": "jpeg", "tif": "tiff"}
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TEMPLATE_FIELDS = ("stem", "ext", "filter")
CLI_SOURCE = "command line"
_TEMPLATE_HINT = "fields: {stem} {ext} {filter}, e.g. name = '{stem}_{filter}{ext}'"
_STEP_HINT = 'add a step such as: [[step]] filter = "resize" scale = 0.5'
_DEFAULT_OUTPUT = OutputOptions()
_DEFAULT_RUNTIME = RuntimeOptions()


@dataclass(frozen=True)
class _OutputTable(FilterParams):
    """``[output]`` keys, checked by the same typed-parameter code as filter parameters."""

    format: str | None = param(None, help="output format", choices=OUTPUT_FORMATS)
    quality: int = param(_DEFAULT_OUTPUT.quality, help="JPEG/WebP quality", min=1, max=100)
    compression: int = param(_DEFAULT_OUTPUT.compression, help="PNG level", min=0, max=9)
    name: str = param(_DEFAULT_OUTPUT.name, help="output file name template")

    def validate(self) -> None:
        check_name_template(self.name)


@dataclass(frozen=True)
class _RuntimeTable(FilterParams):
    """``[runtime]`` keys. Device names are checked when the batch starts, because a
    plugin's ``select_device`` may accept names the core does not know."""

    device: str = param(_DEFAULT_RUNTIME.device, help="auto, cpu, cuda, cuda:N or mps")
    precision: str = param(_DEFAULT_RUNTIME.precision, help="dtype", choices=PRECISIONS)
    tile: int | None = param(_DEFAULT_RUNTIME.tile, help="input pixels per tile", min=0)

    def validate(self) -> None:
        if not self.device.strip():
            raise ParamError("device", "device must not be empty", hint="use auto or cpu")


def load_pipeline(path: Path, catalog: Catalog) -> Pipeline:
    """Read and validate a pipeline file (UTF-8 TOML)."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PipelineError(
            f"cannot read the pipeline file: {exc.strerror or exc}", file=source
        ) from None
    try:
        text = data.decode("utf-8-sig")  # tolerate the BOM some Windows editors add
    except UnicodeDecodeError as exc:
        raise PipelineError(
            f"not UTF-8 text (bad byte at offset {exc.start})", file=source, hint="save as UTF-8"
        ) from None
    return parse_pipeline(text, catalog, source=source)


def parse_pipeline(text: str, catalog: Catalog, *, source: str) -> Pipeline:
    """Validate pipeline TOML ``text``; ``source`` names it in errors."""
    doc = _parse_toml(text, source)
    for key, value in doc.items():
        if key not in PIPELINE_KEYS:
            raise PipelineError(
                f"unknown top-level key {key!r}",
                file=source,
                key=key,
                hint=_suggest(key, PIPELINE_KEYS),
            )
        if key == "description" and not isinstance(value, str):
            raise PipelineError("description must be a string", file=source, key=key)
    steps = _parse_steps(doc.get("step"), catalog, source)
    output = _parse_table(doc, "output", _OutputTable, source)
    runtime = _parse_table(doc, "runtime", _RuntimeTable, source)
    return Pipeline(
        steps,
        output=OutputOptions(**dataclasses.asdict(output)),
        runtime=RuntimeOptions(**dataclasses.asdict(runtime)),
        source=source,
        description=doc.get("description"),
    )


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        # Python 3.11 puts the position at the end: "... (at line 3, column 7)".
        found = re.match(r"(?s)(.*) \(at line (\d+), column (\d+)\)$", message)
        if found:
            message = f"line {found[2]}, column {found[3]}: {found[1]}"
        raise PipelineError(
            f"invalid TOML: {message}", file=source, hint="see https://toml.io for the syntax"
        ) from None


def _parse_steps(raw: Any, catalog: Catalog, source: str) -> tuple[Step, ...]:
    if isinstance(raw, dict) or (raw is not None and not isinstance(raw, list)):
        raise PipelineError(
            "steps must be tables written [[step]] (double brackets)", file=source, key="step"
        )
    if not raw:
        raise PipelineError("the pipeline has no steps", file=source, hint=_STEP_HINT)
    steps = []
    for index, table in enumerate(raw, start=1):
        if not isinstance(table, dict):
            raise PipelineError("a step must be a table", file=source, step=index)
        name = table.get("filter")
        if not isinstance(name, str) or not name:
            what = "is missing" if name is None else "must be a non-empty string"
            raise PipelineError(
                f"the filter name {what}",
                file=source,
                step=index,
                key="filter",
                hint='add filter = "NAME"; `stylepipe filters` lists the names',
            )
        params = {k: v for k, v in table.items() if k != "filter"}

        def locate(key: str | None, index: int = index) -> dict[str, Any]:
            return {"file": source, "step": index, "key": key}

        steps.append(_build_step(index, name, params, dict(table), catalog, False, locate))
    return tuple(steps)


def _build_step(
    index: int,
    name: str,
    params: Mapping[str, Any],
    raw: dict[str, Any],
    catalog: Catalog,
    from_text: bool,
    locate: Callable[[str | None], dict[str, Any]],
) -> Step:
    try:
        filter_cls = catalog.filters.get(name)
    except UsageError as exc:  # unknown (with "did you mean") or ambiguous name
        raise PipelineError(exc.message, hint=exc.hint, **locate("filter")) from None
    try:
        instance = filter_cls.from_raw(params, from_text=from_text)
        instance.check(catalog)
    except ParamError as exc:
        message = f"{filter_cls.name}: {exc.message}"
        raise PipelineError(message, hint=exc.hint, **locate(exc.key or None)) from None
    except UsageError as exc:
        message = f"{filter_cls.name}: {exc.message}"
        raise PipelineError(message, hint=exc.hint, **locate(None)) from None
    return Step(index, instance, raw)


def _parse_table(
    doc: Mapping[str, Any], name: str, table_cls: type[FilterParams], source: str
) -> Any:
    raw = doc.get(name, {})
    if not isinstance(raw, dict):
        raise PipelineError(f"{name} must be a table written [{name}]", file=source, key=name)
    try:
        return parse_params(table_cls, _normalize(raw))
    except ParamError as exc:
        key = f"{name}.{exc.key}"
        raise PipelineError(exc.message, file=source, key=key, hint=exc.hint) from None


def _normalize(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Spelling variants: format names in any case and with their aliases, tile "auto"."""
    values = dict(raw)
    fmt = values.get("format")
    if isinstance(fmt, str):
        values["format"] = FORMAT_ALIASES.get(fmt.lower(), fmt.lower())
    tile = values.get("tile")
    if isinstance(tile, str) and tile.strip().lower() == "auto":
        values["tile"] = None
    return values


def check_name_template(template: str) -> None:
    """Raise :class:`ParamError` (key ``name``) unless ``template`` is a usable output file
    name: fields among ``{stem}``, ``{ext}``, ``{filter}``; ``{stem}`` (one output per
    input) and ``{ext}`` (the extension follows the format) present; no folder separator."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ParamError(
            "name", f"bad name template {template!r}: {exc}", hint=_TEMPLATE_HINT
        ) from None
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    problem = f"unknown field {{{unknown[0]}}}" if unknown else None
    if problem is None:
        try:
            template.format(stem="x", ext=".png", filter="f")
        except ValueError as exc:
            problem = str(exc)
    missing = [f for f in ("stem", "ext") if f not in fields]
    if problem is None and missing:
        problem = f"{{{missing[0]}}} is missing"
    if problem is None and ("/" in template or "\\" in template):
        problem = "folder separators are not allowed"
    if problem is not None:
        raise ParamError("name", f"bad name template {template!r}: {problem}", hint=_TEMPLATE_HINT)


def parse_filter_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split a command-line step ``NAME[:key=value[,key=value...]]`` into its name and
    its parameters as text. A value may contain ``=`` (split at the first one) and
    commas: a comma-separated piece without ``=`` continues the previous value, so
    ``style:model=a,b`` gives ``model="a,b"``. Empty pieces are ignored. Raises
    :class:`ParamError` (key ``""`` when no key is known)."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise ParamError("", f"no filter name in {spec!r}", hint="write NAME or NAME:key=value")
    params: dict[str, str] = {}
    last: str | None = None
    for piece in rest.split(","):
        if not piece.strip():
            continue
        key, eq, value = piece.partition("=")
        if not eq:
            if last is None:
                raise ParamError("", f"expected key=value, got {piece.strip()!r}")
            params[last] += "," + piece.strip()
            continue
        key = key.strip()
        if not key:
            raise ParamError("", f"missing parameter name before '=' in {piece.strip()!r}")
        if key in params:
            raise ParamError(key, f"parameter {key!r} is given twice")
        params[key], last = value.strip(), key
    return name, params


def pipeline_from_filter_specs(specs: Sequence[str], catalog: Catalog) -> Pipeline:
    """A pipeline from repeated ``--filter`` values (see :func:`parse_filter_spec`);
    values are converted from text; errors are located as ``--filter N:key``."""
    if not specs:
        raise PipelineError(
            "no filters given", file=CLI_SOURCE, hint="use --filter NAME[:key=value,...]"
        )
    steps = []
    for index, spec in enumerate(specs, start=1):
        label = f"--filter {index}"

        def locate(key: str | None, label: str = label) -> dict[str, Any]:
            return {"file": label, "key": key}

        try:
            name, params = parse_filter_spec(spec)
        except ParamError as exc:
            raise PipelineError(exc.message, hint=exc.hint, **locate(exc.key or None)) from None
        raw = {"filter": name, **params}
        steps.append(_build_step(index, name, params, raw, catalog, True, locate))
    return Pipeline(tuple(steps))


def with_overrides(
    pipeline: Pipeline,
    *,
    output: Mapping[str, Any] | None = None,
    runtime: Mapping[str, Any] | None = None,
    from_text: bool = False,
) -> Pipeline:
    """A copy of ``pipeline`` whose ``[output]``/``[runtime]`` values are replaced by
    command-line ones, checked like the file's. ``None`` values (option not given) are
    ignored. Errors are located as ``command line:--key``."""
    return dataclasses.replace(
        pipeline,
        output=_override(pipeline.output, output or {}, _OutputTable, from_text),
        runtime=_override(pipeline.runtime, runtime or {}, _RuntimeTable, from_text),
    )


def _override(current: Any, overrides: Mapping[str, Any], table: type, from_text: bool) -> Any:
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return current
    merged = {f.name: getattr(current, f.name) for f in dataclasses.fields(table)}
    merged.update(_normalize(given))
    try:
        checked = parse_params(table, merged, from_text=from_text)
    except ParamError as exc:
        key = "--" + exc.key.replace("_", "-")
        raise PipelineError(exc.message, file=CLI_SOURCE, key=key, hint=exc.hint) from None
    return dataclasses.replace(current, **dataclasses.asdict(checked))


def describe_step(step: Step) -> str:
    """``name(key=value, ...)`` with the parameters that differ from their defaults."""
    changed = [
        f"{spec.name}={json.dumps(getattr(step.filter.params, spec.name))}"
        for spec in step.filter.param_specs()
        if getattr(step.filter.params, spec.name) != spec.default or spec.required
    ]
    return f"{step.name}({', '.join(changed)})" if changed else step.name


def describe_pipeline(pipeline: Pipeline) -> str:
    """The steps in order, e.g. ``resize(longest=1024) -> sharpen``."""
    return " -> ".join(describe_step(step) for step in pipeline.steps)


def _suggest(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(known)
