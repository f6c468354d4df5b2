"""Pipeline files: TOML ``[[step]]`` tables -> a validated :class:`Pipeline`.

Contract shared by the engine and the CLI: every error is a :class:`PipelineError`
whose location reads ``FILE:step N:key``, ``FILE:[output]:key`` or ``FILE:[runtime]:key``
(``--filter N:key`` for command-line steps, ``command line:--key`` for options), raised
before any image is touched. Every error of a file is reported at once: several come as
one :class:`~stylepipe.errors.PipelineErrors` listing each. A pipeline file looks like::

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
    name = "{stem}_{filter}{ext}"     # also {model} and {scale}, see stylepipe.engine.naming

    [runtime]                         # optional
    device = "auto"
    precision = "auto"                # auto, fp32, bf16, fp16
    tile = "auto"                     # or input pixels per tile; 0: whole image
    threads = 4                       # torch threads per process (default: torch's own)
    engine = "local"                  # or "ray:actors=4,num_gpus=1" (stylepipe[ray])
    compile = false                   # torch.compile whole-frame passes (for CUDA)

The key ``filter`` is reserved in a step table; every other key is a parameter of that
filter, typed as ``stylepipe filters NAME`` shows.

The command-line half (steps from ``--filter`` values, options that override a
pipeline's tables) is :mod:`stylepipe.pipeline_cli`; it builds on the checks below that
have no leading underscore (``build_step``, ``OutputTable``, ``field_errors``, ...) and
on those of :mod:`stylepipe.pipeline_checks` (TOML text, tables, filter names, devices).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.engine.naming import (
    TEMPLATE_FIELDS,
    check_fields_supplied,
    check_name_template,
    join_fields,
)
from stylepipe.errors import ParamError, PipelineError, UsageError, combine, raise_all
from stylepipe.filters import Filter, FilterParams, RuntimeOptions, param
from stylepipe.imaging.read import FORMATS
from stylepipe.models.devices import PRECISIONS as DEVICE_PRECISIONS
from stylepipe.pipeline_checks import (
    DeviceCheck,
    device_errors,
    each_error,
    filter_class,
    parse_table,
    parse_toml,
    raw_device,
    top_level_errors,
)

if TYPE_CHECKING:
    from stylepipe.plugins import Catalog

__all__ = [
    "TEMPLATE_FIELDS",
    "OutputOptions",
    "Pipeline",
    "Step",
    "check_name_template",
    "describe_pipeline",
    "describe_step",
    "load_pipeline",
    "parse_pipeline",
    "pipeline_from_dict",
    "pipeline_to_dict",
]


@dataclass(frozen=True)
class Step:
    """One validated pipeline step: 1-based ``index``, the filter instance, its raw table
    and the output-name fields it supplies (``{"model": "mosaic"}``)."""

    index: int
    filter: Filter
    raw: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.filter.name


@dataclass(frozen=True)
class OutputOptions:
    """``[output]``: format (png, jpeg, webp, tiff; None keeps the input's), JPEG/WebP
    quality, PNG compression level and the output name template (fields: see
    :mod:`stylepipe.engine.naming`)."""

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

    @property
    def name_fields(self) -> dict[str, str]:
        """The ``{model}``/``{scale}`` values the steps supply, for output names."""
        return join_fields(step.fields for step in self.steps)


OUTPUT_FORMATS = tuple(FORMATS)
PRECISIONS = DEVICE_PRECISIONS
_STEP_HINT = 'add a step such as: [[step]] filter = "resize" scale = 0.5'
_DEFAULT_OUTPUT = OutputOptions()
_DEFAULT_RUNTIME = RuntimeOptions()


@dataclass(frozen=True)
class OutputTable(FilterParams):
    """``[output]`` keys, checked by the same typed-parameter code as filter parameters."""

    format: str | None = param(None, help="output format", choices=OUTPUT_FORMATS)
    quality: int = param(
        _DEFAULT_OUTPUT.quality, help="JPEG/WebP/AVIF/HEIC quality", min=1, max=100
    )
    compression: int = param(_DEFAULT_OUTPUT.compression, help="PNG level", min=0, max=9)
    name: str = param(_DEFAULT_OUTPUT.name, help="output file name template")

    def validate(self) -> None:
        check_name_template(self.name)


@dataclass(frozen=True)
class RuntimeTable(FilterParams):
    """``[runtime]`` keys. Whether the device exists is checked by a :data:`DeviceCheck`
    (the ``select_device`` hooks, since a plugin may accept names the core does not
    know), when the caller passes one."""

    device: str = param(_DEFAULT_RUNTIME.device, help="auto, cpu, cuda, cuda:N or mps")
    precision: str = param(_DEFAULT_RUNTIME.precision, help="dtype", choices=PRECISIONS)
    tile: int | None = param(_DEFAULT_RUNTIME.tile, help="input pixels per tile", min=0)
    threads: int | None = param(
        _DEFAULT_RUNTIME.threads, help="torch threads per process", min=1, max=4096
    )
    engine: str = param(_DEFAULT_RUNTIME.engine, help="local, or ray[:key=value,...]")
    compile: bool = param(
        _DEFAULT_RUNTIME.compile, help="torch.compile whole-frame passes (meant for CUDA)"
    )

    def validate(self) -> None:
        if not self.device.strip():
            raise ParamError("device", "device must not be empty", hint="use auto or cpu")
        if not self.engine.strip():
            raise ParamError("engine", "engine must not be empty", hint="use local or ray")


def load_pipeline(
    path: Path, catalog: Catalog, *, device_check: DeviceCheck | None = None
) -> Pipeline:
    """Read and validate a pipeline file (UTF-8 TOML); ``device_check`` also checks
    ``[runtime] device`` against this machine, as ``run`` would."""
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
    return parse_pipeline(text, catalog, source=source, device_check=device_check)


def parse_pipeline(
    text: str, catalog: Catalog, *, source: str, device_check: DeviceCheck | None = None
) -> Pipeline:
    """Validate pipeline TOML ``text``; ``source`` names it in errors. Raises every
    error found at once (see the module docs)."""
    return _parse_doc(parse_toml(text, source), catalog, source, device_check)


def pipeline_to_dict(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline as plain data in the layout of a pipeline file (``step``, ``output``,
    ``runtime``), every parameter typed: what a worker process rebuilds it from with
    :func:`pipeline_from_dict`, using its own plugins."""
    steps = [{"filter": s.name, **dataclasses.asdict(s.filter.params)} for s in pipeline.steps]
    return {
        "step": steps,
        "output": dataclasses.asdict(pipeline.output),
        "runtime": dataclasses.asdict(pipeline.runtime),
    }


def pipeline_from_dict(doc: Mapping[str, Any], catalog: Catalog, *, source: str) -> Pipeline:
    """A pipeline from :func:`pipeline_to_dict`'s data, checked like a pipeline file
    against ``catalog`` (so an unknown filter or model is a :class:`PipelineError`)."""
    return _parse_doc(doc, catalog, source, None)


def _parse_doc(
    doc: Mapping[str, Any], catalog: Catalog, source: str, device_check: DeviceCheck | None
) -> Pipeline:
    errors = top_level_errors(doc, source)
    steps = _parse_steps(doc.get("step"), catalog, source, errors)
    output = parse_table(doc, "output", OutputTable, source, errors)
    runtime = parse_table(doc, "runtime", RuntimeTable, source, errors)
    device = raw_device(doc)
    if device is not None and device_check is not None:
        errors += device_errors(device, device_check, source, "[runtime]:device")
    if output is not None and steps is not None:
        errors += field_errors(output.name, steps, source, "[output]:name")
    raise_all(errors)
    assert steps is not None and output is not None and runtime is not None
    return Pipeline(
        steps,
        output=OutputOptions(**dataclasses.asdict(output)),
        runtime=RuntimeOptions(**dataclasses.asdict(runtime)),
        source=source,
        description=doc.get("description"),
    )


def _parse_steps(
    raw: Any, catalog: Catalog, source: str, errors: list[PipelineError]
) -> tuple[Step, ...] | None:
    """The steps, or ``None`` with their errors added to ``errors``."""
    if isinstance(raw, dict) or (raw is not None and not isinstance(raw, list)):
        message = "steps must be tables written [[step]] (double brackets)"
        errors.append(PipelineError(message, file=source, key="step"))
        return None
    if not raw:
        errors.append(PipelineError("the pipeline has no steps", file=source, hint=_STEP_HINT))
        return None
    steps, found = [], len(errors)
    for index, table in enumerate(raw, start=1):
        try:
            steps.append(_file_step(index, table, catalog, source))
        except PipelineError as exc:
            errors += each_error(exc)
    return tuple(steps) if len(errors) == found else None


def _file_step(index: int, table: Any, catalog: Catalog, source: str) -> Step:
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

    def locate(key: str | None) -> dict[str, Any]:
        return {"file": source, "step": index, "key": key}

    filter_cls = filter_class(name, catalog, locate)
    return build_step(index, filter_cls, params, dict(table), catalog, False, locate)


def build_step(
    index: int,
    filter_cls: type[Filter],
    params: Mapping[str, Any],
    raw: dict[str, Any],
    catalog: Catalog,
    from_text: bool,
    locate: Callable[[str | None], dict[str, Any]],
) -> Step:
    """Step ``index`` of ``filter_cls`` with ``params`` (converted from text when
    ``from_text``), checked against ``catalog``; its errors (all of them) are located by
    ``locate(key)``."""
    try:
        instance = filter_cls.from_raw(params, from_text=from_text)
        instance.check(catalog)
        fields = instance.name_fields(catalog)
    except ParamError as exc:
        raise combine(
            [
                PipelineError(
                    f"{filter_cls.name}: {one.message}", hint=one.hint, **locate(one.key or None)
                )
                for one in getattr(exc, "errors", [exc])
            ]
        ) from None
    except UsageError as exc:
        message = f"{filter_cls.name}: {exc.message}"
        raise PipelineError(message, hint=exc.hint, **locate(None)) from None
    return Step(index, instance, raw, fields)


def field_errors(template: str, steps: Sequence[Step], file: str, key: str) -> list[PipelineError]:
    """The error of a name ``template`` using a field no step supplies, at ``file:key``."""
    try:
        check_fields_supplied(template, join_fields(step.fields for step in steps))
    except ParamError as exc:
        return [PipelineError(exc.message, file=file, key=key, hint=exc.hint)]
    return []


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
