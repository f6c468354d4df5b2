"""The ``stylepipe`` command line: ``main(argv) -> int`` builds the parser from the
``register_commands`` hook and runs the chosen command's handler."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from .app import App
from .errors import ExitCode, StylepipeError
from .plugins import load_plugins
from .ui import UI

EPILOG = """\
examples:
  stylepipe filters                                  list filters and their parameters
  stylepipe run photos -o out --filter resize:scale=0.5
  stylepipe run -p pipeline.toml photos -o out --recursive
  stylepipe check pipeline.toml                      validate a pipeline file only
  stylepipe COMMAND --help                           help and examples for one command
"""


def build_parser(app: App) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylepipe",
        description="Batch neural image filters: fast style transfer, x4/x8 upscaling "
        "and ordinary Pillow filters, chained in pipelines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stylepipe {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    app.plugins.hook.register_commands(subparsers=subparsers)
    return parser


def main(argv: Sequence[str] | None = None, *, ui: UI | None = None) -> int:
    """Run the command line in-process and return the exit code."""
    ui = ui or UI()
    try:
        plugins = load_plugins()
    except StylepipeError as exc:
        ui.error(exc)
        return int(exc.exit_code)
    for failure in plugins.failures:
        ui.warn(f"plugin {failure.name!r} failed to load and was skipped: {failure.error}")
    app = App(plugins, ui)
    parser = build_parser(app)
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse: --help, --version or a usage error
        return int(exc.code) if isinstance(exc.code, int) else int(ExitCode.USAGE)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return int(ExitCode.USAGE)
    try:
        return int(handler(args, app))
    except StylepipeError as exc:
        ui.error(exc)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        ui.error("interrupted")
        return int(ExitCode.INTERRUPTED)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
