"""Training checkpoints: network, optimizer, step, loss history and every RNG state.

A checkpoint is a plain dict of tensors, numbers, strings and lists, written with
``torch.save`` and read back with ``weights_only=True`` (no code is ever unpickled).
Writing is atomic: a temporary file is fsynced, the previous checkpoint is kept as
``checkpoint.prev.pt`` and the new one renamed into place, so a run killed at any
moment leaves at least one complete checkpoint; :func:`find_checkpoint` falls back on
the previous one when the newest is missing or damaged.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylepipe.errors import UsageError

FORMAT = "stylepipe-train-checkpoint"
FORMAT_VERSION = 1
LATEST = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"


class CheckpointError(UsageError):
    """A checkpoint cannot be read or does not belong to this kind of training."""


def capture_rng() -> dict[str, Any]:
    """The state of torch's, numpy's global and Python's random generators."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return {
        "torch": torch.get_rng_state(),
        "numpy": [
            str(kind),
            torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            int(pos),
            int(has_gauss),
            float(gauss),
        ],
        "python": _to_lists(random.getstate()),
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Put back what :func:`capture_rng` captured."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def _to_lists(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_lists(v) for v in value]
    return value


def save_checkpoint(run_dir: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as the run's latest checkpoint, atomically; returns its path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    latest, previous = run_dir / LATEST, run_dir / PREVIOUS
    tmp = run_dir / f".{LATEST}.tmp"
    with open(tmp, "wb") as handle:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    if latest.exists():
        os.replace(latest, previous)
    os.replace(tmp, latest)
    return latest


def load_checkpoint(path: Path, task: str) -> dict[str, Any]:
    """Read a checkpoint of ``task`` (``style`` or ``sr``) as data only."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # any decoder error: truncated, foreign or unsafe file
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}",
            hint=f"try {path.with_name(PREVIOUS)}, the one before it",
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a stylepipe training checkpoint")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer stylepipe; upgrade to resume it")
    if data.get("task") != task:
        raise CheckpointError(
            f"{path} is a checkpoint of `train {data.get('task')}`, not `train {task}`"
        )
    return data


def find_checkpoint(
    run_dir: Path, task: str, *, at_most_step: int | None = None
) -> tuple[Path, dict[str, Any]]:
    """The newest readable checkpoint in ``run_dir`` (latest, else previous), of a step
    no later than ``at_most_step`` when given."""
    errors = []
    for name in (LATEST, PREVIOUS):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            data = load_checkpoint(path, task)
        except CheckpointError as exc:
            errors.append(str(exc))
            continue
        if at_most_step is None or int(data["step"]) <= at_most_step:
            return path, data
        errors.append(f"{path} is of step {data['step']}, after {at_most_step}")
    if errors:
        raise CheckpointError("no readable checkpoint: " + "; ".join(errors))
    raise CheckpointError(
        f"no checkpoint in {run_dir}",
        hint="start the run without --resume, or pass the checkpoint file",
    )
