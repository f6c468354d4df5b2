"""Checks of a pipeline document's raw parts, each error a located
:class:`~stylepipe.errors.PipelineError`: the TOML text, its top-level keys, a filter's
name, an ``[output]``/``[runtime]``-style table read by typed parameters, and a device
name. They need none of :mod:`stylepipe.pipeline`'s data model; that module (pipeline
files) and :mod:`stylepipe.pipeline_cli` (``--filter`` steps and command-line options)
build on them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stylepipe.errors import DeviceError, ParamError, PipelineError, UsageError
from stylepipe.filters import Filter, FilterParams, parse_params
from stylepipe.imaging.read import FORMAT_ALIASES
from stylepipe.wording import did_you_mean

if TYPE_CHECKING:
    from stylepipe.plugins import Catalog

DeviceCheck = Callable[[str], object]
"""Checks a device name as ``run`` would use it; raises :class:`DeviceError` if unusable
(see :func:`stylepipe.models.devices.check_device`)."""

PIPELINE_KEYS = ("description", "step", "output", "runtime")


def parse_toml(text: str, source: str) -> dict[str, Any]:
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


def top_level_errors(doc: Mapping[str, Any], source: str) -> list[PipelineError]:
    errors = []
    for key, value in doc.items():
        if key not in PIPELINE_KEYS:
            hint = _suggest(key, PIPELINE_KEYS)
            errors.append(
                PipelineError(f"unknown top-level key {key!r}", file=source, key=key, hint=hint)
            )
        if key == "description" and not isinstance(value, str):
            errors.append(PipelineError("description must be a string", file=source, key=key))
    return errors


def each_error(error: PipelineError) -> list[PipelineError]:
    """The errors a (possibly multiple) pipeline error holds."""
    return list(getattr(error, "errors", [error]))


def filter_class(
    name: str, catalog: Catalog, locate: Callable[[str | None], dict[str, Any]]
) -> type[Filter]:
    """The filter class named ``name``; an unknown or ambiguous name is a
    :class:`PipelineError` at ``locate("filter")``."""
    try:
        return catalog.filters.get(name)
    except UsageError as exc:  # unknown (with "did you mean") or ambiguous name
        raise PipelineError(exc.message, hint=exc.hint, **locate("filter")) from None


def parse_table(
    doc: Mapping[str, Any],
    name: str,
    table_cls: type[FilterParams],
    source: str,
    errors: list[PipelineError],
) -> Any:
    """The checked ``[name]`` table, or ``None`` with its errors added to ``errors``."""
    raw = doc.get(name, {})
    if not isinstance(raw, dict):
        message = f"{name} must be a table written [{name}]"
        errors.append(PipelineError(message, file=source, key=name))
        return None
    try:
        return parse_params(table_cls, normalize_table(raw))
    except ParamError as exc:
        errors += [
            PipelineError(one.message, file=source, key=f"[{name}]:{one.key}", hint=one.hint)
            for one in getattr(exc, "errors", [exc])
        ]
        return None


def raw_device(doc: Mapping[str, Any]) -> str | None:
    """``[runtime] device`` when it is a non-empty string (checked even when other
    ``[runtime]`` keys are wrong, so that every error is reported at once)."""
    table = doc.get("runtime")
    device = table.get("device") if isinstance(table, dict) else None
    return device if isinstance(device, str) and device.strip() else None


def device_errors(
    device: str, device_check: DeviceCheck, file: str, key: str
) -> list[PipelineError]:
    """The error of ``device_check(device)``, located at ``file:key``; none if usable."""
    try:
        device_check(device)
    except DeviceError as exc:
        return [PipelineError(exc.message, file=file, key=key, hint=exc.hint)]
    return []


def normalize_table(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Spelling variants: format names in any case and with their aliases, tile "auto"."""
    values = dict(raw)
    fmt = values.get("format")
    if isinstance(fmt, str):
        values["format"] = FORMAT_ALIASES.get(fmt.lower(), fmt.lower())
    tile = values.get("tile")
    if isinstance(tile, str) and tile.strip().lower() == "auto":
        values["tile"] = None
    return values


def _suggest(key: str, known: Sequence[str]) -> str:
    return did_you_mean(key, known) or "known: " + ", ".join(known)
