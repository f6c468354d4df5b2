"""The command-line half of pipelines: a :class:`~stylepipe.pipeline.Pipeline` from
repeated ``--filter`` values, and command-line options laid over a pipeline's
``[output]`` and ``[runtime]`` tables (what ``stylepipe run`` does with both).

Errors keep :mod:`stylepipe.pipeline`'s contract: each is a
:class:`~stylepipe.errors.PipelineError`, located as ``--filter N:key`` for a
command-line step and ``command line:--key`` for an option, and all of them are raised
at once, before any image is touched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stylepipe.errors import ParamError, PipelineError, combine, raise_all
from stylepipe.filter_specs import parse_filter_spec, spec_params, split_filter_spec
from stylepipe.filters import parse_params
from stylepipe.pipeline import OutputTable, Pipeline, RuntimeTable, Step, build_step, field_errors
from stylepipe.pipeline_checks import (
    DeviceCheck,
    device_errors,
    each_error,
    filter_class,
    normalize_table,
)

if TYPE_CHECKING:
    from stylepipe.plugins import Catalog

__all__ = [
    "parse_filter_spec",
    "pipeline_from_filter_specs",
    "with_overrides",
]

CLI_SOURCE = "command line"


def pipeline_from_filter_specs(specs: Sequence[str], catalog: Catalog) -> Pipeline:
    """A pipeline from repeated ``--filter`` values (see :mod:`stylepipe.filter_specs`);
    values are converted from text; errors (all of them) are located as
    ``--filter N:key``."""
    if not specs:
        raise PipelineError(
            "no filters given", file=CLI_SOURCE, hint="use --filter NAME[:key=value,...]"
        )
    steps, errors = [], []
    for index, spec in enumerate(specs, start=1):
        try:
            steps.append(_spec_step(index, spec, catalog))
        except PipelineError as exc:
            errors += each_error(exc)
    raise_all(errors)
    return Pipeline(tuple(steps))


def _spec_step(index: int, spec: str, catalog: Catalog) -> Step:
    label = f"--filter {index}"

    def locate(key: str | None) -> dict[str, Any]:
        return {"file": label, "key": key}

    try:
        name, rest = split_filter_spec(spec)
        filter_cls = filter_class(name, catalog, locate)
        params = spec_params(rest, filter_cls)
    except ParamError as exc:
        raise PipelineError(exc.message, hint=exc.hint, **locate(exc.key or None)) from None
    raw = {"filter": name, **params}
    return build_step(index, filter_cls, params, raw, catalog, True, locate)


def with_overrides(
    pipeline: Pipeline,
    *,
    output: Mapping[str, Any] | None = None,
    runtime: Mapping[str, Any] | None = None,
    from_text: bool = False,
    device_check: DeviceCheck | None = None,
) -> Pipeline:
    """A copy of ``pipeline`` whose ``[output]``/``[runtime]`` values are replaced by
    command-line ones, checked like the file's (a given device by ``device_check``).
    ``None`` values (option not given) are ignored. Errors are located as
    ``command line:--key``."""
    output, runtime = output or {}, runtime or {}
    changed = dataclasses.replace(
        pipeline,
        output=_override(pipeline.output, output, OutputTable, from_text),
        runtime=_override(pipeline.runtime, runtime, RuntimeTable, from_text),
    )
    errors = []
    if runtime.get("device") is not None and device_check is not None:
        errors += device_errors(changed.runtime.device, device_check, CLI_SOURCE, "--device")
    if output.get("name") is not None:
        errors += field_errors(changed.output.name, changed.steps, CLI_SOURCE, "--name")
    raise_all(errors)
    return changed


def _override(current: Any, overrides: Mapping[str, Any], table: type, from_text: bool) -> Any:
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return current
    merged = {f.name: getattr(current, f.name) for f in dataclasses.fields(table)}
    merged.update(normalize_table(given))
    try:
        checked = parse_params(table, merged, from_text=from_text)
    except ParamError as exc:
        raise combine(
            [
                PipelineError(one.message, file=CLI_SOURCE, key=_option(one.key), hint=one.hint)
                for one in getattr(exc, "errors", [exc])
            ]
        ) from None
    return dataclasses.replace(current, **dataclasses.asdict(checked))


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")
