"""Output file name templates (``[output] name`` and ``--name``).

Fields: ``{stem}`` the input's name without its extension, ``{ext}`` the output extension
with its dot, ``{filter}`` the step names joined by ``-``, and the fields that steps
supply (:meth:`stylepipe.filters.Filter.name_fields`): ``{model}`` the model of the
``style`` and ``upscale`` steps, ``{scale}`` the factor of the ``upscale`` steps. When
several steps supply one field their values are joined by ``-`` in step order.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping

from stylepipe.errors import ParamError

BASE_FIELDS = ("stem", "ext", "filter")
STEP_FIELDS = ("model", "scale")
TEMPLATE_FIELDS = BASE_FIELDS + STEP_FIELDS
TEMPLATE_HINT = "fields: {stem} {ext} {filter} {model} {scale}, e.g. name = '{stem}_{model}{ext}'"
_SAMPLE = {"stem": "x", "ext": ".png", "filter": "f", "model": "m", "scale": "4"}


def template_fields(template: str) -> list[str]:
    """The field names a template uses, in order; :class:`ParamError` if unparsable."""
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ParamError(
            "name", f"bad name template {template!r}: {exc}", hint=TEMPLATE_HINT
        ) from None


def check_name_template(template: str) -> None:
    """Raise :class:`ParamError` (key ``name``) unless ``template`` is a usable output file
    name: known fields only; ``{stem}`` (one output per input) and ``{ext}`` (the
    extension follows the format) present; no folder separator."""
    fields = template_fields(template)
    unknown = [f for f in fields if f not in TEMPLATE_FIELDS]
    problem = f"unknown field {{{unknown[0]}}}" if unknown else None
    if problem is None:
        try:
            template.format(**_SAMPLE)
        except ValueError as exc:
            problem = str(exc)
    missing = [f for f in ("stem", "ext") if f not in fields]
    if problem is None and missing:
        problem = f"{{{missing[0]}}} is missing"
    if problem is None and ("/" in template or "\\" in template):
        problem = "folder separators are not allowed"
    if problem is not None:
        raise ParamError("name", f"bad name template {template!r}: {problem}", hint=TEMPLATE_HINT)


def join_fields(per_step: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The step fields of a pipeline: each field's values joined by ``-`` in step order."""
    values: dict[str, list[str]] = {}
    for fields in per_step:
        for key, value in fields.items():
            values.setdefault(key, []).append(value)
    return {key: "-".join(parts) for key, parts in values.items()}


def check_fields_supplied(template: str, supplied: Mapping[str, str]) -> None:
    """Raise :class:`ParamError` (key ``name``) if ``template`` uses a step field, such
    as ``{model}``, that no step of the pipeline supplies."""
    for name in template_fields(template):
        if name in STEP_FIELDS and name not in supplied:
            steps = "style or upscale" if name == "model" else "upscale"
            raise ParamError(
                "name",
                f"{{{name}}} needs a step that has a {name} ({steps}); this pipeline has none",
                hint="remove the field or add such a step",
            )
