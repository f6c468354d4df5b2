"""``stylepipe models``: every style and super-resolution model, where it comes from and
how it was trained; ``models show NAME``: one model's manifest and preview;
``models --contact-sheet OUT.jpg``: one photo through every style (every upscaler with
``--kind sr``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.app import App
from stylepipe.errors import ExitCode, NotFoundError, StylepipeError, UsageError
from stylepipe.models.loading import TRAIN_OR_IMPORT
from stylepipe.models.spec import ModelSpec
from stylepipe.packs.format import LOCAL_PLUGIN, PICTURES
from stylepipe.plugins import DEFAULT_PLUGINS
from stylepipe.registry import Entry
from stylepipe.wording import model_noun

if TYPE_CHECKING:
    from PIL.Image import Image

    from stylepipe.models.contact_sheet import Cell

MIN_CELL, MAX_CELL = 32, 2048

EPILOG = """\
examples:
  stylepipe models                              table of style and SR models
  stylepipe models --kind style --json          for scripts, on stdout
  stylepipe models show mosaic                  manifest (and preview on a terminal)
  stylepipe models --contact-sheet styles.jpg   one photo through every style
  stylepipe models --contact-sheet s.jpg --photo me.jpg --size 320 --overwrite
  stylepipe models --kind sr --contact-sheet sr.png   every upscaler beside bicubic

"from" says where a model comes from: built-in, user dir (installed from a .stylepack
or trained here) or the plugin package that provides it. Ambiguous short names are
used as SOURCE/NAME.
JSON: {"models": [{"name", "qualified_name", "kind", "source", "origin", "package",
       "package_version", "architecture", "arch_params", "scale", "description",
       "author", "license", "training", "training_summary", "path"}],
       "warnings": ["pack folders that were skipped, and why"]}
"""
SHOW_EPILOG = """\
examples:
  stylepipe models show starry-night             manifest on stdout; summary, preview on stderr
  stylepipe models show stylepipe_local/mosaic   yours, when a built-in has the name too
  stylepipe models show sr4 > sr4.json           keep the manifest (the exact training command)
"""
_TRAINING_KEYS = (
    "style_image", "dataset", "steps", "iterations", "epochs", "image_size", "scale",
    "loss", "loss_network", "final_loss", "psnr", "style_weight", "content_weight",
)  # fmt: skip


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``models`` (and ``models show``) to the command line."""
    parser = subparsers.add_parser(
        "models",
        help="list installed style and super-resolution models",
        description="List the models every plugin registered, with their source, "
        "architecture, scale and training summary.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kind", choices=("style", "sr"), help="only this kind")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument(
        "--contact-sheet", type=Path, metavar="OUT",
        help="write a grid image (.jpg, .png, .webp): one photo through every style, or "
        "every upscaler with --kind sr",
    )  # fmt: skip
    parser.add_argument("--photo", type=Path, help="contact sheet photo (default: generated)")
    parser.add_argument(
        "--size", type=int, default=256,
        help=f"contact sheet: pixels of each cell, {MIN_CELL} to {MAX_CELL} (default: 256)",
    )  # fmt: skip
    parser.add_argument("--device", default="auto", help="contact sheet device (auto, cpu...)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing sheet")
    parser.set_defaults(handler=run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="one model's manifest and preview",
        description="Print a model's manifest (JSON, stdout) and, on a terminal, its preview.",
        epilog=SHOW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("name", metavar="NAME", help="model name, short or SOURCE/NAME")
    show.set_defaults(handler=run_show)


def origin_of(app: App, source: str) -> tuple[str, str | None, str | None]:
    """(origin, package, version): origin is builtin, user, package or plugin."""
    if source == LOCAL_PLUGIN:
        return "user", None, None
    if source in DEFAULT_PLUGINS:
        return "builtin", None, None
    dist = app.plugins.dists.get(source)
    if dist is not None:
        return "package", dist[0], dist[1]
    return "plugin", None, None


def training_summary(training: Any) -> str:
    """A short ``key=value`` line from a manifest's free-form ``training`` field."""
    if isinstance(training, str):
        return training
    if not isinstance(training, Mapping) or not training:
        return ""
    keys = [k for k in _TRAINING_KEYS if k in training] or list(training)
    parts = []
    for key in keys[:4]:
        value = training[key]
        if isinstance(value, str) and ("/" in value or "\\" in value):
            value = value.replace("\\", "/").rsplit("/", 1)[-1]
        elif isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, Mapping) and isinstance(value.get("name"), str):
            value = value["name"]  # e.g. the loss network
        elif isinstance(value, Mapping | list):
            value = json.dumps(value)[:24]
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def model_record(app: App, entry: Entry[ModelSpec]) -> dict[str, Any]:
    """One model as a JSON object (stable keys)."""
    spec, manifest = entry.item, entry.item.manifest
    origin, package, version = origin_of(app, entry.source)
    return {
        "name": spec.name,
        "qualified_name": entry.qualified_name,
        "kind": spec.kind,
        "source": entry.source,
        "origin": origin,
        "package": package,
        "package_version": version,
        "architecture": spec.architecture,
        "arch_params": dict(spec.arch_params),
        "scale": spec.scale,
        "description": manifest.get("description") or spec.summary or None,
        "author": manifest.get("author"),
        "license": manifest.get("license"),
        "training": manifest.get("training"),
        "training_summary": training_summary(manifest.get("training")),
        "path": str(spec.folder or Path(spec.weights).parent),
    }


def run(args: argparse.Namespace, app: App) -> int:
    """The table, the JSON, or the contact sheet."""
    entries = [e for e in app.catalog.models if args.kind in (None, e.item.kind)]
    if args.contact_sheet is not None:
        kind = args.kind or "style"
        return _contact_sheet(args, app, [e for e in entries if e.item.kind == kind], kind)
    records = [model_record(app, entry) for entry in entries]
    if args.json:
        app.ui.json({"models": records, "warnings": list(app.catalog.warnings)})
        return int(ExitCode.OK)
    if not records:
        app.ui.info("no models installed; `stylepipe install FILE.stylepack` adds one")
    else:
        counts = {r["name"]: 0 for r in records}
        for r in records:
            counts[r["name"]] += 1
        rows = [_row(r, ambiguous=counts[r["name"]] > 1) for r in records]
        columns = ("model", "kind", "from", "architecture", "scale", "training")
        app.ui.table(columns, rows, title="Models")
    return int(ExitCode.OK)


def _row(record: Mapping[str, Any], *, ambiguous: bool) -> tuple[str, ...]:
    origin = record["origin"]
    where = {"builtin": "built-in", "user": "user dir"}.get(origin) or (
        f"{record['package']} {record['package_version']}"
        if origin == "package"
        else f"plugin {record['source']}"
    )
    name = record["qualified_name"] if ambiguous else record["name"]
    arch = _architecture(record)
    scale = f"x{record['scale']}"
    return name, record["kind"], where, arch, scale, record["training_summary"] or "-"


def _architecture(record: Mapping[str, Any]) -> str:
    """``johnson-sr(scale=4, ...)``; a community model (spandrel) by its family, tiling
    advice and the licence of its weights (as given at import: they carry their own)."""
    params = record["arch_params"]
    if record["architecture"] != "spandrel" or "family" not in params:
        return record["architecture"] + "(" + _params(params) + ")"
    licence = record["license"] or "weights licence not recorded (import with --license)"
    return f"spandrel {params['family']} (tiling {params.get('tiling')}); {licence}"


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def run_show(args: argparse.Namespace, app: App) -> int:
    """Summary on stderr, manifest on stdout, preview on a terminal."""
    entry = app.catalog.models.resolve(args.name)
    record = model_record(app, entry)
    app.ui.info(
        f"{entry.qualified_name}: {model_noun(record['kind'])}, {_row(record, ambiguous=True)[2]}"
    )
    app.ui.info(f"folder: {record['path']}")
    if record["training_summary"]:
        app.ui.info(f"training: {record['training_summary']}")
    app.ui.json(dict(entry.item.manifest))
    folder = Path(record["path"])
    pictures = [folder / name for name in PICTURES if (folder / name).is_file()]
    if pictures:
        from PIL import Image

        with Image.open(pictures[0]) as image:
            if not app.ui.picture(image):
                app.ui.info(f"preview: {pictures[0]}")
    return int(ExitCode.OK)


def _contact_sheet(
    args: argparse.Namespace, app: App, entries: list[Entry[ModelSpec]], kind: str
) -> int:
    """Check everything first (file name, size, models), then render and save."""
    from stylepipe.models.contact_sheet import (
        check_target,
        load_photo,
        render_sheet,
        sample_photo,
        save_sheet,
    )

    check_target(args.contact_sheet, overwrite=args.overwrite)
    if not MIN_CELL <= args.size <= MAX_CELL:
        raise UsageError(
            f"--size must be between {MIN_CELL} and {MAX_CELL} pixels, got {args.size}"
        )
    if not entries:
        raise NotFoundError(
            f"no {model_noun(kind, count=2)} installed: nothing to put on a contact sheet",
            hint=TRAIN_OR_IMPORT,
        )
    photo = load_photo(args.photo, args.size) if args.photo else sample_photo(args.size)
    cells, failed = _sheet_cells(args, app, entries, photo, kind)
    written = save_sheet(render_sheet(cells, args.size), args.contact_sheet)
    verb = "styled" if kind == "style" else "upscaled"
    app.ui.success(f"wrote {written} ({len(entries) - failed} {verb}, {failed} failed)")
    return int(ExitCode.FAILURES if failed else ExitCode.OK)


def _sheet_cells(
    args: argparse.Namespace, app: App, entries: list[Entry[ModelSpec]], photo: Image, kind: str
) -> tuple[list[Cell], int]:
    """The original, then each model's cell (upscalers by scale, each scale after its
    bicubic baseline); a model that fails is reported and gets a failed cell."""
    from stylepipe.filters import RuntimeOptions
    from stylepipe.models.contact_sheet import Cell, bicubic, shrink, stylize

    cells, failed, baselines = [Cell("original", photo)], 0, set[int]()
    runtime = RuntimeOptions(device=args.device)
    for entry in sorted(entries, key=lambda e: (e.item.scale, e.qualified_name)):
        source, scale = photo, entry.item.scale
        if kind == "sr":
            if scale not in baselines:
                cells.append(Cell(f"bicubic x{scale}", bicubic(photo, scale)))
                baselines.add(scale)
            source = shrink(photo, scale)
        app.ui.info(
            f"{'stylizing' if kind == 'style' else 'upscaling'} with {entry.qualified_name} ..."
        )
        try:
            image = stylize(
                app.catalog, entry.qualified_name, source, runtime, warn=app.ui.warn,
                select_device=app.plugins.hook.select_device,
                filter_name="style" if kind == "style" else "upscale",
            )  # fmt: skip
        except StylepipeError as exc:  # reported; the other models still make the sheet
            app.ui.error(exc)
            image, failed = None, failed + 1
        cells.append(Cell(entry.qualified_name, image))
    return cells, failed
