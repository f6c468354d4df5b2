"""``stylepipe package NAME -o DIST``: a trained style as a pip-installable plugin."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylepipe.app import App
from stylepipe.errors import ExitCode

EPILOG = """\
examples:
  stylepipe package starry                          dist/stylepipe_style_starry-1.0.0-...whl
  stylepipe package starry -o dist --version 1.2.0 --author "Ada" --license CC-BY-4.0
  stylepipe install dist/stylepipe_style_starry-1.2.0-py3-none-any.whl

Writes a wheel, an sdist and its source tree for the distribution stylepipe-style-NAME,
whose module stylepipe_style_NAME registers the model through the `stylepipe` entry
point group and ships the manifest, weights and previews as package data (shared as
`stylepipe export` shares them: paths cut to file names, a sample-photo preview). Version,
author, licence and description default to the manifest's fields. Upload both files to
an index (twine upload dist/*) and users run `stylepipe install stylepipe-style-NAME`.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``package`` to the command line."""
    parser = subparsers.add_parser(
        "package",
        help="build a pip-installable plugin package for a trained style",
        description="Build a wheel and an sdist named stylepipe-style-NAME that register "
        "the model when installed with pip (or `stylepipe install`).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="model name, short or SOURCE/NAME")
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("dist"), metavar="DIST_DIR",
        help="folder for the wheel, sdist and source tree (default: dist)",
    )  # fmt: skip
    parser.add_argument("--version", help="package version (PEP 440; default: manifest or 1.0.0)")
    parser.add_argument("--author", help="author (default: the manifest's)")
    parser.add_argument("--license", help="licence, e.g. CC-BY-4.0 (default: the manifest's)")
    parser.add_argument("--description", help="one-line summary (default: the manifest's)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, app: App) -> int:
    """Build the package files and say how to install them."""
    from stylepipe.commands._packref import report_privacy, resolve_pack, shared_preview
    from stylepipe.packs.wheel import build_package, package_info

    pack, _ = resolve_pack(app, args.name)
    info = package_info(
        pack,
        version=args.version,
        author=args.author,
        license=args.license,
        description=args.description,
    )
    if info.license is None:
        app.ui.warn("no licence given (--license): recipients cannot know how they may use it")
    preview = shared_preview(app, pack)
    result = build_package(pack, info, args.output, overwrite=args.force, preview=preview)
    report_privacy(app, pack, preview)
    app.ui.success(f"built {info.dist_name} {info.version} (module {info.module})")
    for path in (result.wheel, result.sdist, result.source_tree):
        app.ui.info(f"  {path}")
    app.ui.info(f"install it with: stylepipe install {result.wheel}")
    return int(ExitCode.OK)
