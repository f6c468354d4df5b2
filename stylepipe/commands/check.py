"""``stylepipe check PIPELINE...``: validate pipeline files without reading any image."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from stylepipe.app import App
from stylepipe.engine.engines import parse_engine_spec
from stylepipe.errors import ExitCode, PipelineError, UsageError
from stylepipe.models.devices import check_device
from stylepipe.pipeline import describe_pipeline, load_pipeline

EPILOG = """\
examples:
  stylepipe check pipeline.toml
  stylepipe check web.toml print.toml      several files; exit 2 if any is invalid

Each valid file gets one line: OK, the file and its steps with the parameters that
differ from their defaults. An invalid one gets every error it holds, each located as
FILE:step N:key, FILE:[output]:key or FILE:[runtime]:key. The [runtime] device must
exist on this machine, and the [runtime] engine be installed, as `run` requires.
exit status: 0 all valid, 2 otherwise.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``check`` to the command line."""
    parser = subparsers.add_parser(
        "check",
        help="validate pipeline files (no image is read)",
        description="Validate pipeline files: TOML syntax, filter names, parameter types "
        "and ranges, [output] and [runtime] tables (the device must exist here).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pipelines", nargs="+", type=Path, metavar="PIPELINE", help="TOML file")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, app: App) -> int:
    """Check every file, reporting each with all its errors; exit 2 if any is invalid."""
    device_check = functools.partial(check_device, hook=app.plugins.hook.select_device)
    invalid = 0
    for path in args.pipelines:
        try:
            pipeline = load_pipeline(path, app.catalog, device_check=device_check)
            where = f"{path}:[runtime]:engine"
            parse_engine_spec(pipeline.runtime.engine, app.catalog, where=where)
        except (PipelineError, UsageError) as exc:
            app.ui.error(exc)
            invalid += 1
            continue
        count = len(pipeline.steps)
        noun = "step" if count == 1 else "steps"
        app.ui.success(f"OK {path}: {count} {noun}: {describe_pipeline(pipeline)}")
    return int(ExitCode.USAGE if invalid else ExitCode.OK)
