"""Handlers of ``stylepipe train style``, ``train sr`` and ``eval sr``. Imported only
when one of those commands runs (see :mod:`stylepipe_training.plugin`)."""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from stylepipe.app import App
from stylepipe.errors import ExitCode, UsageError
from stylepipe.models.loading import load_model, pick_model
from stylepipe.models.weights import sha256_file
from stylepipe.packs.format import Pack

from .config import RunConfig, SRConfig, StyleConfig
from .data import PhotoSet, scan_photos
from .export import (
    PackInfo,
    check_installable,
    check_name_free,
    install_pack,
    qualified,
    thumbnail,
)
from .images import jpeg_bytes, open_rgb
from .loop import RunState, Runtime
from .runs import (
    build_loss_network,
    check_loss_network,
    copy_source,
    given_options,
    make_runtime,
    new_state,
    pack_info,
    report_photos,
    resolve_auto_loss_net,
    run_loop,
    start_run,
    valid_name,
)
from .sr import build_sr_trainer, sr_batches
from .style import build_style_trainer, style_batches
from .warmstart import warn_if_other_loss_network

DEFAULT_WORKERS = 2


def _source(explicit: str | None, run_dir: Path, stem: str, fallback: Path) -> Path:
    """A file the run depends on, copied into its folder: ``explicit`` if given, else
    the copy from an earlier session, else ``fallback``. Checked to be a readable image."""
    if explicit:
        open_rgb(Path(explicit))
        path = copy_source(Path(explicit), run_dir, stem)
    else:
        earlier = sorted(run_dir.glob(f"{stem}.*"))
        path = earlier[0] if earlier else copy_source(fallback, run_dir, stem)
    open_rgb(path)
    return path


def _setup(
    cls: type[RunConfig], args: argparse.Namespace, app: App, min_side: int
) -> tuple[dict[str, Any], RunConfig, Path, dict[str, Any] | None, PhotoSet, Runtime]:
    given = given_options(args)
    if given.get("init_from") and given.get("resume"):
        raise UsageError(
            "--init-from starts a new run from a model; --resume continues a run",
            hint="drop one of them",
        )
    force = bool(given.get("force"))
    if given.get("name"):  # before start_run, which may discard a run (--restart)
        check_name_free(valid_name(given["name"]), app.catalog, force)
    config, run_dir, data = start_run(cls, given, app)
    given["clashes"] = check_name_free(config.name, app.catalog, force)
    run_id = (data or {}).get("extra", {}).get("run_id")
    given["replace"] = check_installable(config.name, force, run_id)
    photos = scan_photos(Path(config.data), min_side=min_side)
    report_photos(photos, app)
    if config.task == "style" or getattr(config, "loss", None) == "feature":
        resolve_auto_loss_net(config, given)
    config.resolve(len(photos.files))
    return given, config, run_dir, data, photos, make_runtime(given, app)


def _announce(state: RunState, runtime: Runtime, photos: PhotoSet, app: App) -> None:
    config = state.config
    app.ui.info(
        f"training {config.name!r}: {config.iterations} steps of {config.batch_size} from "
        f"{len(photos.files)} photos on {runtime.device} ({runtime.precision}), loss network "
        f"{config.loss_net}; run folder {state.run_dir}"
    )


def _training_record(
    state: RunState, runtime: Runtime, photos: PhotoSet, keys: tuple[str, ...]
) -> dict[str, Any]:
    """The manifest's ``training`` field: the headline settings first (``stylepipe
    models`` shows them), then what the run did; ``settings`` holds every setting."""
    config = state.config
    return {
        **{k: getattr(config, k) for k in keys},
        "steps": state.step,
        "images_seen": state.step * state.config.batch_size,
        "duration_s": round(state.elapsed_s, 1),
        "device": str(runtime.device),
        "precision": runtime.precision,
        "photos": {"count": len(photos.files), "skipped": len(photos.skipped)},
        **state.extra,
    }


def _finish(pack: Pack, app: App, use: str, clashes: tuple[str, ...]) -> int:
    """Say where the pack went and how to run it: by its qualified name when another
    plugin's model has the same name (``--force``), so that the command works."""
    name = qualified(pack.name, clashes)
    app.ui.success(f"installed {pack.name!r} at {pack.path}")
    if clashes:
        verb = "has" if len(clashes) == 1 else "have"
        app.ui.warn(f"{', '.join(clashes)} {verb} the same name; use the qualified name {name}")
    app.ui.info(f"try it: stylepipe run photos -o out --filter {use}:model={name}")
    return int(ExitCode.OK)


def train_style(args: argparse.Namespace, app: App) -> int:
    """``stylepipe train style``: train, checkpoint, and install the style pack."""
    given, config, run_dir, data, photos, runtime = _setup(StyleConfig, args, app, 1)
    assert isinstance(config, StyleConfig)
    fresh_style = config.style_image if data is None else None
    style_path = _source(fresh_style, run_dir, "style-image", Path(config.style_image))
    preview_path = _source(given.get("preview"), run_dir, "preview-source", photos.files[0])
    lossnet = build_loss_network(config, given)
    trainer = build_style_trainer(
        config, runtime, lossnet, style_path=style_path, preview_path=preview_path
    )
    state = new_state(config, run_dir, trainer, data, given, app)
    check_loss_network(lossnet, state, app)
    warn_if_other_loss_network(state, app)
    state.extra["style_layers"] = trainer.criterion.layer_weights
    state.extra.setdefault("style_image", Path(config.style_image).name)
    state.extra.setdefault("style_image_sha256", sha256_file(style_path))
    _announce(state, runtime, photos, app)
    workers = int(given.get("workers", DEFAULT_WORKERS))
    if not run_loop(trainer, style_batches(config, photos, workers), state, app):
        return _interrupted(state, app)
    pack = install_pack(
        config=config,
        kind="style",
        architecture="johnson-style",
        scale=1,
        state_dict=trainer.net.state_dict(),
        training=_training_record(
            state, runtime, photos, ("image_size", "style_weight", "content_weight", "tv_weight")
        ),
        history=state.history,
        info=_default_description(pack_info(given), f"style of {Path(config.style_image).name}"),
        pictures={"style.jpg": thumbnail(style_path), "preview.jpg": jpeg_bytes(trainer.preview())},
        replace=bool(given["replace"]),
    )
    return _finish(pack, app, "style", given["clashes"])


def train_sr(args: argparse.Namespace, app: App) -> int:
    """``stylepipe train sr``: train, checkpoint, and install the super-resolution pack."""
    patch = int(getattr(args, "patch_size", None) or SRConfig.patch_size)
    given, config, run_dir, data, photos, runtime = _setup(SRConfig, args, app, patch)
    assert isinstance(config, SRConfig)
    preview_path = _source(given.get("preview"), run_dir, "preview-source", photos.files[0])
    lossnet = build_loss_network(config, given) if config.loss == "feature" else None
    trainer = build_sr_trainer(config, runtime, lossnet, preview_path=preview_path)
    state = new_state(config, run_dir, trainer, data, given, app)
    if lossnet is not None:
        check_loss_network(lossnet, state, app)
        warn_if_other_loss_network(state, app)
    _announce(state, runtime, photos, app)
    workers = int(given.get("workers", DEFAULT_WORKERS))
    if not run_loop(trainer, sr_batches(config, photos, workers), state, app):
        return _interrupted(state, app)
    pack = install_pack(
        config=config,
        kind="sr",
        architecture="johnson-sr",
        scale=config.scale,
        state_dict=trainer.net.state_dict(),
        training=_training_record(state, runtime, photos, ("loss", "scale", "tv_weight")),
        history=state.history,
        info=_default_description(
            pack_info(given), f"x{config.scale} super-resolution, {config.loss} loss"
        ),
        pictures={"preview.jpg": jpeg_bytes(trainer.preview())},
        replace=bool(given["replace"]),
    )
    return _finish(pack, app, "upscale", given["clashes"])


def _default_description(info: PackInfo, what: str) -> PackInfo:
    if info.description:
        return info
    return replace(info, description=f"{what}, trained with stylepipe train")


def _interrupted(state: RunState, app: App) -> int:
    app.ui.warn(
        f"training stopped at step {state.step}; continue with: stylepipe train "
        f"{state.config.task} --resume {state.run_dir}"
    )
    return int(ExitCode.INTERRUPTED)


def _fmt(value: float, digits: int) -> str:
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def eval_sr(args: argparse.Namespace, app: App) -> int:
    """``stylepipe eval sr``: PSNR/SSIM of a model and of bicubic on HR images."""
    from .evaluate import evaluate_folder, mean_row

    entry = pick_model(app.catalog, args.model, "sr", bundled="stylepipe_sr", scale=args.scale)
    spec = entry.item
    model = load_model(
        spec,
        app.catalog.architectures.get(spec.architecture),
        device=args.device or "cpu",
        precision=args.precision or "fp32",
    )
    settings = spec.manifest.get("training", {}).get("settings", {})
    degradation = args.degradation or settings.get("degradation", "gaussian-bicubic")
    rows, skipped = evaluate_folder(Path(args.data), model, spec.scale, degradation)
    if not rows:
        raise UsageError(f"no image in {args.data} is large enough to evaluate")
    for path, reason in skipped.items():
        app.ui.warn(f"skipped {path}: {reason}")
    mean = mean_row(rows)
    if args.json:
        app.ui.json(
            {
                "model": entry.qualified_name,
                "scale": spec.scale,
                "degradation": degradation,
                "data": str(args.data),
                "images": [r.as_dict() for r in rows],
                "mean": mean.as_dict(),
            }
        )
        return int(ExitCode.OK)
    app.ui.table(
        ["image", "bicubic PSNR", "bicubic SSIM", f"{entry.name} PSNR", f"{entry.name} SSIM"],
        [
            [
                r.image,
                _fmt(r.bicubic_psnr, 2),
                _fmt(r.bicubic_ssim, 4),
                _fmt(r.model_psnr, 2),
                _fmt(r.model_ssim, 4),
            ]
            for r in [*rows, mean]
        ],
        title=f"x{spec.scale} on {args.data} (Y channel, {degradation}, border {spec.scale})",
    )
    return int(ExitCode.OK)
