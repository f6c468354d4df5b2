"""Which value range imported weights expect, and the proof that they make a picture.

pytorch/examples ``fast_neural_style`` checkpoints take 0-255 images; stylepipe's own
weights (those of a ``.stylepack`` or a pack folder) take 0-1, with the same key layout.
Read in the wrong range a network gives a black (or white) image. So ``import-model``:

1. recognises stylepipe's own weights (:func:`known_input_range`): the metadata
   stylepipe writes into its safetensors files, the pack manifest beside the file, or an
   installed model with the same sha256;
2. runs the network on the shipped sample photo in the chosen range
   (:func:`choose_input_range`), and refuses weights whose output is NaN, black, white
   or one flat colour there, naming the range that works if the other one does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stylepipe.errors import ModelError
from stylepipe.packs.format import FORMAT, MANIFEST

if TYPE_CHECKING:
    from torch import nn

    from stylepipe.plugins import Catalog

RANGES = (1.0, 255.0)
PROBE_SIDE = 96
SATURATED = 0.9  # an output with more than this share of values at white is washed out


@dataclass(frozen=True)
class RangeChoice:
    """An input range and where it came from (recorded in the manifest)."""

    value: float
    source: str


def known_input_range(file: Path, sha256: str, catalog: Catalog) -> RangeChoice | None:
    """The input range of stylepipe's own weights, if ``file`` is recognisably such."""
    found = _from_metadata(file)
    if found is not None:
        return RangeChoice(found, "stylepipe metadata in the weights file")
    manifest = Path(file).parent / MANIFEST
    beside = _manifest_range(manifest, Path(file).name, sha256)
    if beside is not None:
        return RangeChoice(beside, f"the pack {MANIFEST} beside it")
    for entry in catalog.models:
        files = entry.item.manifest.get("files")
        if isinstance(files, Mapping) and sha256 in files.values():
            return RangeChoice(entry.item.input_range, f"installed model {entry.qualified_name}")
    return None


def _from_metadata(file: Path) -> float | None:
    if Path(file).suffix != ".safetensors":
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception:  # any reader error: not our metadata; the loader reports the file
        return None
    if metadata.get("format") != FORMAT:
        return None
    return _as_range(metadata.get("input_range"))


def _manifest_range(manifest: Path, name: str, sha256: str) -> float | None:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    files = data.get("files")
    if not isinstance(files, dict) or files.get(name) != sha256:
        return None
    return _as_range(data.get("input_range"))


def _as_range(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number in RANGES else None


def choose_input_range(
    probe: Callable[[float], str | None],
    *,
    given: float | None,
    known: RangeChoice | None,
    default: float,
    where: str,
) -> RangeChoice:
    """The first range whose output on the sample photo is a picture (``probe``: the
    problem at a range, or None): ``given`` (``--input-range``), else ``known``, else
    ``default`` then the other. Raises :class:`ModelError` when the chosen one fails."""
    if given is not None or known is not None:
        choice = RangeChoice(given, "--input-range") if given is not None else known
        assert choice is not None
        problem = probe(choice.value)
        if problem is None:
            return choice
        raise ModelError(
            f"{where}: at input range {choice.value:g} ({choice.source}) the weights' "
            f"output on the sample photo {problem}",
            hint=_other_hint(probe, choice.value),
        )
    other = RANGES[0] if default == RANGES[1] else RANGES[1]
    first = probe(default)
    if first is None:
        return RangeChoice(default, "the checkpoint format's usual range")
    if probe(other) is None:
        return RangeChoice(other, f"the sample photo (at {default:g} the output {first})")
    raise ModelError(
        f"{where}: the weights' output on the sample photo {first} at input range "
        f"{default:g}, and is no picture at {other:g} either",
        hint="the weights are broken, or not for this architecture",
    )


def _other_hint(probe: Callable[[float], str | None], tried: float) -> str:
    other = RANGES[0] if tried == RANGES[1] else RANGES[1]
    if probe(other) is None:
        return f"at --input-range {other:g} they give a picture"
    return "the weights are broken, or not for this architecture"


def probe_problem(net: nn.Module, multiple: int, min_size: int, input_range: float) -> str | None:
    """What is wrong with ``net``'s output on the sample photo at ``input_range`` (the
    checks of a batch run, plus a washed-out white), or None for a picture."""
    import numpy as np
    import torch

    from stylepipe.models.descriptor import CheckedSink, pad_to_fit
    from stylepipe.models.sample_photo import sample_photo

    pixels = np.asarray(sample_photo(PROBE_SIDE), dtype=np.float32) / 255
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    padded, _ = pad_to_fit(x, multiple, min_size)
    with torch.inference_mode():
        out = net.eval()(padded * input_range).float()
    check = CheckedSink(lambda top, band: None, input_range)
    check(0, out)
    problem = check.problem(flat_input=False, bright_input=True)
    if problem is None and float((out >= 0.99 * input_range).float().mean()) > SATURATED:
        problem = "is white (almost every value saturated)"
    return problem
