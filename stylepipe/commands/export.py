"""``stylepipe export NAME -o NAME.stylepack``: a trained style as one file to share."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylepipe.app import App
from stylepipe.errors import ExitCode

EPILOG = """\
examples:
  stylepipe export starry                       writes starry.stylepack here
  stylepipe export starry -o ~/share/           writes ~/share/starry.stylepack
  stylepipe export stylepipe_local/starry -o starry-v2.stylepack --force

The file is a zip of the pack's manifest (with the sha256 of every file), its
safetensors weights and pictures; nothing in it is code. Nothing private goes in:
paths in the manifest (training photos, style image) are cut to file names, and the
preview is a sample photo shipped with stylepipe through the model, not the pack's own
(which may show a training photo). The recipient runs
  stylepipe install starry.stylepack
For versioned sharing through pip, see `stylepipe package`.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export`` to the command line."""
    parser = subparsers.add_parser(
        "export",
        help="export a trained style as a .stylepack file",
        description="Write a model's data-only pack (manifest, weights, previews) to a "
        "single .stylepack file that `stylepipe install` accepts.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="model name, short or SOURCE/NAME")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="file or existing folder to write (default: ./NAME.stylepack)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, app: App) -> int:
    """Export the pack and say where it went."""
    from stylepipe.commands._packref import report_privacy, resolve_pack, shared_preview
    from stylepipe.errors import UsageError
    from stylepipe.packs.archive import SUFFIX, export_stylepack

    pack, _ = resolve_pack(app, args.name)
    out: Path = args.output or Path(pack.name + SUFFIX)
    if out.is_dir():
        out = out / (pack.name + SUFFIX)
    if out.exists() and not args.force:  # before the preview is made
        raise UsageError(f"{out} already exists", hint="use --force to overwrite it")
    preview = shared_preview(app, pack)
    written = export_stylepack(pack, out, overwrite=args.force, preview=preview)
    size = written.stat().st_size
    report_privacy(app, pack, preview)
    app.ui.success(f"exported {pack.name} to {written} ({size / 1e6:.1f} MB)")
    app.ui.info(f"install it elsewhere with: stylepipe install {written.name}")
    return int(ExitCode.OK)
