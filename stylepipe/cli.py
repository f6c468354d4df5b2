"""The ``stylepipe`` command line: ``main(argv) -> int`` builds the parser from the
``register_commands`` hook and runs the chosen command's handler.

This module imports only the standard library at import time, and :func:`entry` turns
a Ctrl-C at any moment after that (while plugins load, say) into exit status 130 and
one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stylepipe.app import App
    from stylepipe.ui import UI

INTERRUPTED = 130  # ExitCode.INTERRUPTED, without importing it before it is needed
USAGE = 2  # ExitCode.USAGE

EPILOG = """\
examples:
  stylepipe filters                                  list filters and their parameters
  stylepipe run photos -o out --filter resize:scale=0.5
  stylepipe run -p pipeline.toml photos -o out --recursive
  stylepipe check pipeline.toml                      validate a pipeline file only
  stylepipe COMMAND --help                           help and examples for one command
"""


def build_parser(app: App) -> argparse.ArgumentParser:
    from stylepipe import __version__

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


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse like ``parser.parse_args``, but unknown options are reported by the chosen
    command's parser (its usage, not the top-level one) with a "did you mean" for each.
    Exits through :class:`SystemExit` as argparse does."""
    args, extras = parser.parse_known_args(list(argv) if argv is not None else None)
    if extras:
        command = _subparser(parser, getattr(args, "command", None))
        (command or parser).error(unrecognized(command or parser, extras))
    return args


def _subparser(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser | None:
    """The parser of the command ``name``, if there is one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name is not None:
            found = action.choices.get(name)
            return found if isinstance(found, argparse.ArgumentParser) else None
    return None


def unrecognized(parser: argparse.ArgumentParser, extras: Sequence[str]) -> str:
    """``unrecognized arguments: --recurse (did you mean --recursive?)``."""
    from stylepipe.wording import close_matches

    known = [s for action in parser._actions for s in action.option_strings]
    words = []
    for extra in extras:
        option = extra.partition("=")[0]
        close = close_matches(option, known) if option.startswith("-") else []
        words.append(f"{extra} (did you mean {close[0]}?)" if close else extra)
    return "unrecognized arguments: " + " ".join(words)


def main(argv: Sequence[str] | None = None, *, ui: UI | None = None) -> int:
    """Run the command line in-process and return the exit code."""
    from stylepipe.ui import UI

    ui = ui or UI()
    try:
        return _main(argv, ui)
    except KeyboardInterrupt:
        ui.error("interrupted")
        return INTERRUPTED


def _main(argv: Sequence[str] | None, ui: UI) -> int:
    """Load the plugins, parse ``argv`` and run the command; errors become exit codes."""
    from stylepipe.app import App
    from stylepipe.errors import StylepipeError
    from stylepipe.plugins import load_plugins

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
        args = parse_args(parser, argv)
    except SystemExit as exc:  # argparse: --help, --version or a usage error
        return int(exc.code) if isinstance(exc.code, int) else USAGE
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return USAGE
    try:
        return int(handler(args, app))
    except StylepipeError as exc:
        ui.error(exc)
        return int(exc.exit_code)


def entry() -> None:
    """Console-script entry point: a Ctrl-C before the UI exists is one line too."""
    try:
        code = main()
    except KeyboardInterrupt:
        sys.stderr.write("stylepipe: interrupted\n")
        code = INTERRUPTED
    sys.exit(code)
