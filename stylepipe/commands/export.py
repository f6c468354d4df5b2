"""``stylepipe export NAME -o NAME.stylepack``: a trained style as one file to share."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..app import App
from ..errors import ExitCode

EPILOG = """\
examples:
  stylepipe export mosaic                       writes mosaic.stylepack here
  stylepipe export mosaic -o ~/share/           writes ~/share/mosaic.stylepack
  stylepipe export stylepipe_local/mosaic -o mosaic-v2.stylepack --force

The file is a zip of the pack's manifest (with the sha256 of every file), its
safetensors weights and its preview pictures; nothing in it is code. The recipient runs
  stylepipe install mosaic.stylepack
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
    from ..stylepack_archive import SUFFIX, export_stylepack
    from ._packref import resolve_pack

    pack, _ = resolve_pack(app, args.name)
    out: Path = args.output or Path(pack.name + SUFFIX)
    if out.is_dir():
        out = out / (pack.name + SUFFIX)
    written = export_stylepack(pack, out, overwrite=args.force)
    size = written.stat().st_size
    app.ui.success(f"exported {pack.name} to {written} ({size / 1e6:.1f} MB)")
    app.ui.info(f"install it elsewhere with: stylepipe install {written.name}")
    return int(ExitCode.OK)
