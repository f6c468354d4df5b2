"""Weights as data: the one loader (safetensors, or ``torch.load(weights_only=True)``;
never unpickling code), the one check of tensors against a network, and the one sha256
of weights and pack files."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from stylepipe.errors import ModelError, StylepipeError

if TYPE_CHECKING:
    import torch
    from torch import nn

from stylepipe.models.spec import ModelSpec

#: First bytes of pickle-based files (zip-wrapped torch.save, raw pickle protocols 2-5).
PICKLE_MAGIC = (b"PK\x03\x04", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def load_state_dict(path: Path, *, safetensors_only: bool = False) -> dict[str, torch.Tensor]:
    """Load weights as data only: ``.safetensors`` or a torch file with ``weights_only``.

    Accepts a plain state dict or a dict holding one under ``state_dict``/``model``/
    ``params_ema``/``params``.
    Raises :class:`ModelError` for anything else, including pickles that want to run code.
    ``safetensors_only`` (packs): any other file is refused without being opened by an
    unpickler.
    """
    import torch

    from stylepipe.imaging.filetypes import describe_non_checkpoint

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    if safetensors_only:
        return _load_safetensors_only(path)
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

    for key in ("state_dict", "model", "params_ema", "params"):  # params_ema: Real-ESRGAN
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            loaded = loaded[key]
            break
    if not isinstance(loaded, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return dict(loaded)


def _load_safetensors_only(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(PICKLE_MAGIC):
        raise ModelError(
            f"{path.name} is a pickle (torch.save) file, not safetensors",
            hint="packs carry weights as safetensors only, because pickles can run code; "
            "convert with safetensors.torch.save_file(state_dict, 'weights.safetensors')",
        )
    try:
        return dict(load_file(str(path), device="cpu"))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path.name} is not a valid safetensors file: {exc}") from exc


def weights_problems(
    expected: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor]
) -> list[str]:
    """What keeps ``tensors`` from being exactly a network's state dict ``expected``:
    missing, unexpected and mis-shaped keys, non-float and non-finite tensors."""
    import torch

    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    shapes, kinds = [], []
    for key, want in expected.items():
        got = tensors.get(key)
        if got is None:
            continue
        if tuple(got.shape) != tuple(want.shape):
            shapes.append(f"{key} {tuple(got.shape)} (network: {tuple(want.shape)})")
        elif want.is_floating_point() and not got.is_floating_point():
            kinds.append(f"{key} is {got.dtype}, not floating point")
        elif got.is_floating_point() and not bool(torch.isfinite(got).all()):
            kinds.append(f"{key} holds NaN or infinite values")
    listed = [
        _listing("missing keys", missing),
        _listing("unexpected keys", unexpected),
        _listing("wrong shapes", shapes),
        *kinds[:_LISTED],
    ]
    return [p for p in listed if p]


def check_weights(
    net: nn.Module,
    tensors: Mapping[str, torch.Tensor],
    *,
    where: str,
    error: type[StylepipeError] = ModelError,
) -> None:
    """Raise ``error`` listing every problem when ``tensors`` do not fit ``net``."""
    problems = weights_problems(net.state_dict(), tensors)
    if problems:
        raise error(
            f"{where}: the weights do not fit the network: " + "; ".join(problems),
            hint="the architecture parameters (width, n_residual, scale...) in the model's "
            "manifest must be those the weights were trained with",
        )


_LISTED = 8


def _listing(label: str, items: list[str]) -> str:
    """``missing keys (2): a, b``; at most :data:`_LISTED` named."""
    if not items:
        return ""
    shown = ", ".join(items[:_LISTED])
    more = f" ... ({len(items) - _LISTED} more)" if len(items) > _LISTED else ""
    return f"{label} ({len(items)}): {shown}{more}"


def sha256_problem(path: Path, expected: str) -> Literal["missing", "mismatch"] | None:
    """``"missing"``, ``"mismatch"``, or None when the file is there with the expected
    sha256: the one checksum check of weights and pack files."""
    if not Path(path).is_file():
        return "missing"
    if sha256_file(Path(path)) != expected:
        return "mismatch"
    return None


def sha256_file(path: Path) -> str:
    """The file's sha256, hex, read in 1 MiB blocks: the one checksum of weights and packs."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_weights(spec: ModelSpec) -> None:
    """Check the weights file against the sha256 its manifest records, if it records one
    (in ``files``, or in ``weights_link`` for a pack that links to its weights)."""
    files, link = spec.manifest.get("files"), spec.manifest.get("weights_link")
    expected = files.get(Path(spec.weights).name) if isinstance(files, Mapping) else None
    if isinstance(link, Mapping):  # an imported model that links to its weights file
        expected = link.get("sha256")
    problem = None if expected is None else sha256_problem(Path(spec.weights), str(expected))
    if problem == "missing":
        raise ModelError(f"model {spec.name!r}: weights file not found: {spec.weights}")
    if problem == "mismatch":
        raise ModelError(
            f"model {spec.name!r}: {spec.weights} does not match the sha256 in its manifest",
            hint="the file is corrupt or was modified; reinstall or re-import the model",
        )
