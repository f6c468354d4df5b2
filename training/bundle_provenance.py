"""Provenance of a trained pack: how to train it again, recorded when it is bundled.

From the run folder (``config.json``, ``losses.csv``, the preview photo it copied) or,
without one, the settings the trainer put in the manifest, :func:`provenance` fills the
manifest's ``training`` field (keeping what is already there): the ``stylepipe train``
command line rebuilt from the run's settings, the data folder, steps, wall time, the loss
network and its seed, and, for runs with the seeded random VGG16, the command that trains
the model the paper's way once ImageNet VGG16 weights are available. Paths are written
relative to the repository root where that is shorter.

Used by ``training/bundle_models.py``.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stylepipe.errors import StylepackError
from stylepipe.models.weights import sha256_file
from stylepipe.packs.format import Pack

REPO = Path(__file__).resolve().parent.parent
SAMPLE_PHOTOS = REPO / "samples" / "photos"
RANDOM_LOSS_NET = "vgg16-random"
#: Loss weights tuned for the random VGG16; without them the ImageNet defaults apply.
TUNED_FOR_RANDOM = ("content_weight", "style_weight", "tv_weight", "loss_net_seed")
#: config.json keys written as ``--key-name VALUE``, by task.
STYLE_FLAGS = (
    "image_size",
    "style_size",
    "content_weight",
    "style_weight",
    "style_layers",
    "style_layer_weights",
)
SR_FLAGS = ("scale", "loss", "patch_size", "skip", "degradation", "loss_weight", "pixel_weight")
COMMON_FLAGS = ("iterations", "batch_size", "lr", "seed", "arch", "tv_weight")
LOSS_FLAGS = ("loss_net", "loss_net_seed")


def portable_path(value: str) -> str:
    """A path as the repository sees it (relative to its root when that is shorter)."""
    path = os.path.normpath(value)
    relative = os.path.relpath(path, REPO) if os.path.isabs(path) else path
    return relative if len(relative) < len(path) else path


def _flag(key: str, value: Any) -> list[str]:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # "--style-weight 20", as typed
    return [f"--{key.replace('_', '-')}", str(value)]


def train_command(
    settings: Mapping[str, Any], manifest: Mapping[str, Any], preview: str | None = None
) -> list[str]:
    """The ``stylepipe train`` command line that makes this run: every setting the run
    recorded (config.json), the preview photo, then what the manifest says about the
    installed pack. Paths are relative to the repository root where that is shorter."""
    task = settings.get("task") or manifest["kind"]
    argv = ["stylepipe", "train", str(task)]
    if task == "style":
        argv.append(portable_path(str(settings["style_image"])))
    argv += ["--data", portable_path(str(settings["data"])), "--name", str(settings["name"])]
    specific = STYLE_FLAGS if task == "style" else SR_FLAGS
    for key in (*COMMON_FLAGS, *specific, *LOSS_FLAGS):
        if settings.get(key) is not None:
            argv += _flag(key, settings[key])
    argv += loss_weights_flags(settings, manifest)
    origin = manifest.get("training", {}).get("init_from")
    if isinstance(origin, Mapping) and origin.get("model"):
        argv += ["--init-from", str(origin["model"])]  # continued from that model's pack
    precision = manifest.get("training", {}).get("precision")
    if precision:
        argv += ["--precision", str(precision)]
    if preview:
        argv += ["--preview", preview]
    for key in ("description", "author", "license"):
        if manifest.get(key):
            argv += [f"--{key}", str(manifest[key])]
    if manifest.get("weights_dtype") == "float16":
        argv.append("--fp16-weights")
    return argv


def loss_weights_flags(settings: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[str]:
    """``--vgg-weights FILE --vgg-input CONVENTION`` for ImageNet loss networks, with the
    file found by its recorded name in the shared assets (as the repository sees it)."""
    network = manifest.get("training", {}).get("loss_network") or {}
    if settings.get("loss_net") not in ("vgg16", "vgg19") or not network.get("weights"):
        return []
    assets = REPO.parent / "shared" / "assets" / "loss_networks"
    found = sorted(assets.glob(f"*/{network['weights']}")) if assets.is_dir() else []
    path = portable_path(str(found[0])) if found else str(network["weights"])
    return ["--vgg-weights", path, "--vgg-input", str(network.get("input_convention"))]


def preview_source(run_dir: Path | None) -> str | None:
    """Which sample photo the run previewed (its copy in the run folder is compared with
    samples/photos), or ``None``: the run records only the copy."""
    copies = sorted(run_dir.glob("preview-source.*")) if run_dir else []
    if not copies or not SAMPLE_PHOTOS.is_dir():
        return None
    digest = sha256_file(copies[0])
    for photo in sorted(SAMPLE_PHOTOS.iterdir()):
        if photo.is_file() and sha256_file(photo) == digest:
            return portable_path(str(photo))
    return None


def imagenet_command(argv: Sequence[str]) -> list[str]:
    """The same command training against ImageNet VGG16 (the paper's loss network) with
    its default loss weights: ``--loss-net vgg16-random`` and the weights tuned for it
    dropped, the run renamed so that it does not resume the random-VGG run."""
    dropped = {"--loss-net", *(f"--{k.replace('_', '-')}" for k in TUNED_FOR_RANDOM)}
    out: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg in dropped:
            skip = True
        else:
            out.append(f"{arg}-imagenet" if i and argv[i - 1] == "--name" else arg)
    return [*out, "--loss-net", "vgg16"]


def read_settings(pack: Pack, run_dir: Path | None) -> dict[str, Any]:
    """The run's settings: its ``config.json`` when the run folder is there, else the
    copy the trainer put in the manifest."""
    config = run_dir / "config.json" if run_dir else None
    if config is not None and config.is_file():
        try:
            return dict(json.loads(config.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise StylepackError(f"{config}: unreadable run settings: {exc}") from exc
    settings = pack.manifest.get("training", {}).get("settings")
    if not isinstance(settings, dict):
        raise StylepackError(
            f"{pack.path}: no run settings to record how it was trained",
            hint=f"pass --runs with the folder holding the run {pack.name!r} (config.json)",
        )
    return settings


def steps_and_wall_time(run_dir: Path | None) -> tuple[int | None, float | None]:
    """Steps (rows of ``losses.csv``) and wall time in seconds (from the first file of
    the run folder to the last write of ``losses.csv``; includes any pause)."""
    losses = run_dir / "losses.csv" if run_dir else None
    if losses is None or not losses.is_file():
        return None, None
    with open(losses, encoding="utf-8") as handle:
        steps = max(0, sum(1 for line in handle if line.strip()) - 1)
    assert run_dir is not None
    started = min(p.stat().st_mtime for p in run_dir.iterdir() if p.is_file())
    return steps, round(max(0.0, losses.stat().st_mtime - started), 1)


def provenance(pack: Pack, run_dir: Path | None) -> dict[str, Any]:
    """The manifest's ``training`` field with the provenance keys added where missing."""
    training = dict(pack.manifest.get("training") or {})
    settings = read_settings(pack, run_dir)
    argv = train_command(settings, pack.manifest, preview_source(run_dir))
    steps, wall = steps_and_wall_time(run_dir)
    added = {
        "command": shlex.join(argv),
        "data": portable_path(str(settings["data"])),
        "steps": steps if steps is not None else settings.get("iterations"),
        "wall_time_s": training.get("duration_s", wall),
        "loss_net": settings.get("loss_net"),
        "loss_net_seed": settings.get("loss_net_seed", 0),
        # the command gives the final loss weights; these say when they were set
        "weight_changes": settings.get("weight_changes") or None,
    }
    if settings.get("loss_net") == RANDOM_LOSS_NET:
        added["retrain_with_imagenet"] = shlex.join(imagenet_command(argv))
    if settings.get("loss") == "pixel":
        added["loss_net_note"] = "per-pixel loss: the loss network is not used in training"
    for key, value in added.items():
        if value is not None:
            training.setdefault(key, value)
    return training
