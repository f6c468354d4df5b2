"""The page's settings are a pipeline document: the TOML of a pipeline file as JSON
(``{"step": [{"filter": "style", "model": "mosaic", "strength": 0.8}], "output":
{"format": "jpeg"}}``). Here it becomes TOML text, is checked by the pipeline parser of
``stylepipe run`` (so its errors are the CLI's own, with their "did you mean" and
ranges), and becomes the equivalent ``stylepipe run`` command line.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.errors import PipelineError

if TYPE_CHECKING:
    from stylepipe.pipeline import DeviceCheck, Pipeline
    from stylepipe.plugins import Catalog

PAGE = "page"
"""The ``file`` of errors in the page's own settings (their location is not shown)."""
TABLES = ("output", "runtime")
#: ``[output]``/``[runtime]`` keys and the ``stylepipe run`` options that set them.
OPTIONS = {
    ("output", "format"): "--format",
    ("output", "quality"): "--quality",
    ("output", "compression"): "--compression",
    ("output", "name"): "--name",
    ("runtime", "device"): "--device",
    ("runtime", "precision"): "--precision",
    ("runtime", "tile"): "--tile",
}
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def to_toml(doc: Mapping[str, Any]) -> str:
    """The document as pipeline-file TOML: top-level keys, the ``[[step]]`` tables in
    order, then ``[output]`` and ``[runtime]``. ``None`` values are left out (TOML has
    none). Raises :class:`PipelineError` for a value TOML cannot hold here."""
    if not isinstance(doc, Mapping):
        raise PipelineError("the settings must be a table", file=PAGE)
    lines = [
        _assign(key, value, key)
        for key, value in doc.items()
        if key not in ("step", *TABLES) and value is not None
    ]
    steps = doc.get("step") or []
    if not isinstance(steps, list):
        raise PipelineError("steps must be a list of tables", file=PAGE, key="step")
    for index, step in enumerate(steps, start=1):
        if not isinstance(step, Mapping):
            raise PipelineError("a step must be a table", file=PAGE, step=index)
        lines += ["", "[[step]]", *_table(step, step=index)]
    for name in TABLES:
        table = doc.get(name)
        if table:
            if not isinstance(table, Mapping):
                raise PipelineError(f"{name} must be a table", file=PAGE, key=name)
            lines += ["", f"[{name}]", *_table(table, prefix=f"[{name}]:")]
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(table: Mapping[str, Any], *, step: int | None = None, prefix: str = "") -> list[str]:
    return [
        _assign(key, value, prefix + key, step) for key, value in table.items() if value is not None
    ]


def _assign(key: str, value: Any, where: str, step: int | None = None) -> str:
    return f"{_key(key)} = {_value(value, where, step)}"


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any, where: str, step: int | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return _string(value)
    raise PipelineError(
        f"{where.rpartition(':')[2]} must be text, a number or true/false",
        file=PAGE,
        step=step,
        key=where,
    )


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, plus DEL, which TOML escapes too."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PipelineError(f"{text!r} is not valid text", file=PAGE) from None
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def check(
    doc: Mapping[str, Any], catalog: Catalog, *, device_check: DeviceCheck | None = None
) -> Pipeline:
    """The document as a validated pipeline; every error at once, as ``stylepipe run``
    reports them for a pipeline file."""
    from stylepipe.pipeline import parse_pipeline

    return parse_pipeline(to_toml(doc), catalog, source=PAGE, device_check=device_check)


def load(path: Path, catalog: Catalog) -> dict[str, Any]:
    """A pipeline file as a document, checked first (errors name the file)."""
    from stylepipe.pipeline import load_pipeline

    load_pipeline(path, catalog)
    return tomllib.loads(path.read_bytes().decode("utf-8-sig"))


@dataclass(frozen=True)
class BatchChoice:
    """What the batch panel holds besides the pipeline."""

    input: str
    output: str
    recursive: bool = False
    existing: str = "fail"  # or "skip" (--skip-existing) or "replace" (--overwrite)


EXISTING = {"fail": None, "skip": "--skip-existing", "replace": "--overwrite"}


def run_command(
    doc: Mapping[str, Any], batch: BatchChoice, pipeline_file: str | None = None
) -> str:
    """The ``stylepipe run`` line that runs the same batch: with ``-p`` when the pipeline
    is saved as ``pipeline_file``, else with a ``--filter`` per step and the options of
    its ``[output]``/``[runtime]``."""
    argv = ["stylepipe", "run", batch.input or "INPUT", "-o", batch.output or "OUTPUT"]
    if batch.recursive:
        argv.append("--recursive")
    flag = EXISTING.get(batch.existing)
    if flag:
        argv.append(flag)
    if pipeline_file:
        return shlex.join([*argv, "-p", pipeline_file])
    for step in doc.get("step") or []:
        argv += ["--filter", filter_spec(step)]
    return shlex.join([*argv, *option_args(doc)])


def filter_spec(step: Mapping[str, Any]) -> str:
    """``style:model=mosaic,strength=0.8,preserve_color=true``."""
    pieces = [
        f"{key}={_text(value)}"
        for key, value in step.items()
        if key != "filter" and value is not None
    ]
    name = str(step.get("filter", ""))
    return f"{name}:{','.join(pieces)}" if pieces else name


def option_args(doc: Mapping[str, Any]) -> Sequence[str]:
    args: list[str] = []
    for (table, key), option in OPTIONS.items():
        value = (doc.get(table) or {}).get(key)
        if value is not None:
            args += [option, _text(value)]
    return args


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
