"""Install a trained network as a data-only pack in the user plugin dir, where the
built-in ``stylepipe_local`` plugin registers it for the ``style``/``upscale`` filters."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torchvision
from PIL import Image

import stylepipe
from stylepipe.errors import StylepackError, UsageError
from stylepipe.packs.format import LOCAL_PLUGIN, Pack, check_name, read_pack, write_pack
from stylepipe.paths import user_plugin_dir

from .config import RunConfig
from .history import LossHistory
from .images import jpeg_bytes, open_rgb

if TYPE_CHECKING:
    from stylepipe.plugins import Catalog

THUMBNAIL_SIDE = 256
FINAL_WINDOW = 50  # the final loss is the mean of this many last steps


@dataclass(frozen=True)
class PackInfo:
    """What the user says about the model (recorded in the manifest)."""

    license: str | None = None
    author: str | None = None
    description: str | None = None
    fp16_weights: bool = False


def pack_dir(name: str) -> Path:
    """Where the pack called ``name`` is installed."""
    return user_plugin_dir() / check_name(name)


def check_installable(name: str, force: bool, run_id: str | None = None) -> bool:
    """Whether installing ``name`` will replace a pack; fails before training when one
    exists, ``--force`` was not given and it is not this run's own earlier result (a
    finished run resumed to train longer replaces its own pack)."""
    dest = pack_dir(name)
    if not dest.exists():
        return False
    if force:
        return True
    try:
        installed_by = read_pack(dest).manifest.get("training", {}).get("run_id")
    except StylepackError:
        installed_by = None
    if run_id is None or installed_by != run_id:
        raise UsageError(
            f"a model named {name!r} is already installed at {dest}",
            hint="choose another --name, or pass --force to replace it when training ends",
        )
    return True


def name_clashes(name: str, catalog: Catalog) -> tuple[str, ...]:
    """Qualified names of the models other plugins (the bundled models, installed plugin
    packages) register as ``name``, whatever their kind: a trained pack of that name
    would make the short name ambiguous."""
    return tuple(
        entry.qualified_name
        for entry in catalog.models
        if entry.name == name and entry.source != LOCAL_PLUGIN
    )


def check_name_free(name: str, catalog: Catalog, force: bool) -> tuple[str, ...]:
    """The clashes of :func:`name_clashes`; fails before training when there are some
    and ``--force`` was not given. With ``--force`` the trained model is addressed by
    its qualified name ``stylepipe_local/<name>`` (the short name stays ambiguous)."""
    others = name_clashes(name, catalog)
    if others and not force:
        raise UsageError(
            f"--name {name!r} is already the name of {', '.join(others)}; a model trained "
            f"under it would make the name {name!r} ambiguous",
            hint=f"choose another --name (such as my-{name}), or pass --force to train it "
            f"anyway and address it as {LOCAL_PLUGIN}/{name}",
        )
    return others


def qualified(name: str, clashes: tuple[str, ...]) -> str:
    """How to address the installed pack ``name``: the short name unless it clashes."""
    return f"{LOCAL_PLUGIN}/{name}" if clashes else name


def versions() -> dict[str, str]:
    """Versions of what trained the model."""
    return {
        "stylepipe": stylepipe.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
    }


def final_losses(history: LossHistory, window: int = FINAL_WINDOW) -> dict[str, float]:
    """Each loss term averaged over the last ``window`` steps."""
    rows = history.rows[-window:]
    if not rows:
        return {}
    return {term: sum(r[i + 1] for r in rows) / len(rows) for i, term in enumerate(history.terms)}


def thumbnail(path: Path, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG of the image shrunk to at most ``side`` pixels."""
    image = open_rgb(path)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return jpeg_bytes(image)


def install_pack(
    *,
    config: RunConfig,
    kind: str,
    architecture: str,
    scale: int,
    state_dict: Mapping[str, torch.Tensor],
    training: Mapping[str, Any],
    history: LossHistory,
    info: PackInfo,
    pictures: Mapping[str, bytes],
    replace: bool,
) -> Pack:
    """Write the pack (weights, manifest, pictures) atomically; returns it. An existing
    pack of that name is replaced only when ``replace`` (see :func:`check_installable`)."""
    dtype = torch.float16 if info.fp16_weights else torch.float32
    weights = {k: v.detach().to("cpu", dtype) for k, v in state_dict.items()}
    final = final_losses(history)
    manifest: dict[str, Any] = {
        "name": config.name,
        "kind": kind,
        "architecture": architecture,
        "arch_params": config.arch_params(),
        "input_range": 1.0,
        "scale": scale,
        "description": info.description or "",
        "license": info.license,
        "author": info.author,
        "weights_dtype": "float16" if info.fp16_weights else "float32",
        "training": {**training, "final_loss": final.get("total"), "settings": config.to_dict()},
        "metrics": {"final_loss": final},
        "versions": versions(),
    }
    manifest = {k: v for k, v in manifest.items() if v is not None}
    return write_pack(pack_dir(config.name), manifest, weights, dict(pictures), overwrite=replace)
