"""``stylepipe models``: every style and super-resolution model, where it comes from and
how it was trained; ``models show NAME``: one model's manifest and preview;
``models --contact-sheet OUT.jpg``: one photo through every style."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..app import App
from ..errors import ExitCode, StylepipeError, UsageError
from ..models import ModelSpec
from ..plugins import DEFAULT_PLUGINS
from ..registry import Entry
from ..stylepacks import LOCAL_PLUGIN, PICTURES

EPILOG = """\
examples:
  stylepipe models                              table of style and SR models
  stylepipe models --kind style --json          for scripts, on stdout
  stylepipe models show mosaic                  manifest (and preview on a terminal)
  stylepipe models --contact-sheet styles.jpg   one photo through every style
  stylepipe models --contact-sheet s.jpg --photo me.jpg --size 320

"from" says where a model comes from: built-in, user dir (installed from a .stylepack
or trained here) or the plugin package that provides it. Ambiguous short names are
used as SOURCE/NAME.
JSON: {"models": [{"name", "qualified_name", "kind", "source", "origin", "package",
       "package_version", "architecture", "arch_params", "scale", "description",
       "author", "license", "training", "training_summary", "path"}],
       "warnings": ["pack folders that were skipped, and why"]}
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
    parser.add_argument("--contact-sheet", type=Path, metavar="OUT", help="write a grid image")
    parser.add_argument("--photo", type=Path, help="contact sheet photo (default: generated)")
    parser.add_argument("--size", type=int, default=256, help="contact sheet cell pixels")
    parser.add_argument("--device", default="auto", help="contact sheet device (auto, cpu...)")
    parser.set_defaults(handler=run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="one model's manifest and preview",
        description="Print a model's manifest (JSON, stdout) and, on a terminal, its preview.",
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
        "path": str(Path(spec.weights).parent),
    }


def run(args: argparse.Namespace, app: App) -> int:
    """The table, the JSON, or the contact sheet."""
    entries = [e for e in app.catalog.models if args.kind in (None, e.item.kind)]
    if args.contact_sheet is not None:
        return _contact_sheet(args, app, [e for e in entries if e.item.kind == "style"])
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
    arch = record["architecture"] + "(" + _params(record["arch_params"]) + ")"
    scale = f"x{record['scale']}"
    return name, record["kind"], where, arch, scale, record["training_summary"] or "-"


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def run_show(args: argparse.Namespace, app: App) -> int:
    """Summary on stderr, manifest on stdout, preview on a terminal."""
    entry = app.catalog.models.resolve(args.name)
    record = model_record(app, entry)
    app.ui.info(
        f"{entry.qualified_name}: {record['kind']} model, {_row(record, ambiguous=True)[2]}"
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


def _contact_sheet(args: argparse.Namespace, app: App, entries: list[Entry[ModelSpec]]) -> int:
    from ..contact_sheet import (
        Cell,
        load_photo,
        render_sheet,
        sample_photo,
        save_sheet,
        sheet_format,
        stylize,
    )
    from ..filters import RuntimeOptions

    sheet_format(args.contact_sheet)
    if args.size < 32 or args.size > 2048:
        raise UsageError("--size must be between 32 and 2048 pixels")
    if not entries:
        app.ui.warn("no style models installed: the sheet shows the photo only")
    photo = load_photo(args.photo, args.size) if args.photo else sample_photo(args.size)
    cells, failed = [Cell("original", photo)], 0
    runtime = RuntimeOptions(device=args.device)
    hook = app.plugins.hook.select_device
    for entry in entries:
        app.ui.info(f"stylizing with {entry.qualified_name} ...")
        try:
            image = stylize(app.catalog, entry.qualified_name, photo, runtime,
                            warn=app.ui.warn, select_device=hook)  # fmt: skip
        except StylepipeError as exc:  # reported; the other styles still make the sheet
            app.ui.error(exc)
            image, failed = None, failed + 1
        cells.append(Cell(entry.qualified_name, image))
    written = save_sheet(render_sheet(cells, args.size), args.contact_sheet)
    app.ui.success(f"wrote {written} ({len(cells) - 1 - failed} styled, {failed} failed)")
    return int(ExitCode.FAILURES if failed else ExitCode.OK)
