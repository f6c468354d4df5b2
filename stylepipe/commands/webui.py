"""``stylepipe ui``: a local browser page to pick a style, tune it on a photo with a live
preview, and run the batch (the ``ui`` extra)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from stylepipe.app import App
from stylepipe.errors import ExitCode, UsageError

EPILOG = """\
examples:
  stylepipe ui                          serve the page; open the address it prints
  stylepipe ui --open                   and open it in the web browser
  stylepipe ui --port 8750 --root ~/Pictures

The page listens on 127.0.0.1 only, and every request needs the token in the printed
address (new at every start) and, to change anything, the page's own Origin. It reads
and writes only inside --root (default: the current folder): the input and output
folders and pipeline files you choose there. Drop a photo, pick a style, tune strength,
preserve_color and work_size on the live preview (a 100% crop for upscaling), render it
at full resolution, then run the batch or save the pipeline and its `stylepipe run` line.
Needs the ui extra: pip install 'stylepipe[ui]'.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add ``ui`` to the command line."""
    parser = subparsers.add_parser(
        "ui",
        help="a local browser page: preview styles on your photo, then run the batch",
        description="Serve one local page (127.0.0.1) with the style gallery, a live "
        "preview, a full-resolution render and the batch.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port", type=_port, default=0, help="port on 127.0.0.1 (default: any free one)"
    )
    parser.add_argument("--open", action="store_true", help="open the page in the web browser")
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("."),
        help="the only folder the page reads and writes in (default: the current one)",
    )
    parser.set_defaults(handler=run)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is 0 (any free one) to 65535")
    return value


def run(args: argparse.Namespace, app: App) -> int:
    """Check the extra and the root, then serve until Ctrl-C."""
    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"stylepipe ui needs {' and '.join(missing)}", hint="pip install 'stylepipe[ui]'"
        )
    if not args.root.is_dir():
        raise UsageError(f"--root {args.root} is not a folder")
    from stylepipe.webui.server import serve

    serve(app, root=args.root, port=args.port, open_browser=args.open)
    return int(ExitCode.OK)
