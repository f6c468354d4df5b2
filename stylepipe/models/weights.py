"""Architectures, named models and safe weight loading. (weights)"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.errors import ModelError

if TYPE_CHECKING:
    import torch

from stylepipe.models.spec import ModelSpec


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load weights as data only: ``.safetensors`` or a torch file with ``weights_only``.

    Accepts a plain state dict or a dict holding one under ``state_dict``/``model``.
    Raises :class:`ModelError` for anything else, including pickles that want to run code.
    """
    import torch

    from stylepipe.imaging.filetypes import describe_non_checkpoint

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    what = describe_non_checkpoint(path)
    if what is not None:
        raise ModelError(f"{path}: this is {what}, not a checkpoint", hint=_hint_for(what, path))
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path), device="cpu"))
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # any decoder error means: not loadable as plain data
        raise ModelError(
            f"cannot load weights from {path}: {_load_failure(exc)}", hint=_WEIGHTS_HINT
        ) from None
    return _unwrap_state_dict(loaded, path)


_WEIGHTS_HINT = "weights must be a safetensors file or a plain torch state dict (.pth, .pt)"


def _hint_for(what: str, path: Path) -> str:
    """What to do with a file that is not a checkpoint."""
    if what.endswith("image"):
        return (
            "a style is trained from a picture: stylepipe train style PICTURE --data PHOTOS "
            "--name NAME; " + _WEIGHTS_HINT
        )
    if what == "a .stylepack archive":
        return f"install it with: stylepipe install {path}"
    return _WEIGHTS_HINT


def _load_failure(exc: Exception) -> str:
    """Why a file did not load, in one line. PyTorch's message for pickles recommends
    ``weights_only=False``, which would run the file's code; stylepipe never does
    that, so only the reason is kept."""
    text = str(exc)
    detail = text.partition("WeightsUnpickler error:")[2].strip()
    if detail.startswith("Unsupported global"):
        found = re.search(r"GLOBAL (\S+)", detail)
        what = f" ({found[1]})" if found else ""
        return (
            f"it holds Python objects besides tensors{what}; stylepipe does not load "
            "those, since loading them can run code"
        )
    if detail or "weights_only" in text:  # not pickle data at all
        return "it is not a PyTorch checkpoint (unreadable pickle data)"
    first = text.strip().split("\n")[0].split(". ")[0] if text.strip() else type(exc).__name__
    return f"it is not a checkpoint stylepipe can read ({first})"


def _unwrap_state_dict(loaded: Any, path: Path) -> dict[str, torch.Tensor]:
    import torch

    for key in ("state_dict", "model", "params"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
            break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return dict(loaded)


def sha256_file(path: Path) -> str:
    """The file's sha256, hex, read in 1 MiB blocks: the one checksum of weights and packs."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(spec: ModelSpec) -> None:
    """Check the weights file against the sha256 its manifest records, if it records one."""
    files = spec.manifest.get("files")
    expected = files.get(Path(spec.weights).name) if isinstance(files, Mapping) else None
    if expected is None:
        return
    if not Path(spec.weights).is_file():
        raise ModelError(f"model {spec.name!r}: weights file not found: {spec.weights}")
    if sha256_file(Path(spec.weights)) != expected:
        raise ModelError(
            f"model {spec.name!r}: {spec.weights} does not match the sha256 in its manifest",
            hint="the file is corrupt or was modified; reinstall or re-import the model",
        )
