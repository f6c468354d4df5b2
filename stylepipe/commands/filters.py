"""``stylepipe filters [NAME]``: every filter with its parameters (type, default, range,
help), as a table or as JSON."""

from __future__ import annotations

import argparse
import inspect
from typing import Any

from stylepipe.app import App
from stylepipe.errors import ExitCode
from stylepipe.filters import Filter, ParamSpec
from stylepipe.registry import Entry

EPILOG = """\
examples:
  stylepipe filters                         all filters and their parameters
  stylepipe filters resize                  one filter, with its description
  stylepipe filters --json                  for scripts, on stdout

Use a filter in a pipeline file ([[step]] filter = "resize" longest = 1024) or on the
command line (--filter resize:longest=1024).
JSON: {"filters": [{"name", "qualified_name", "plugin", "summary", "description",
       "params": [{"name", "type", "optional", "required", "default", "min", "max",
                   "choices", "help"}]}]}
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``filters`` to the command line."""
    parser = subparsers.add_parser(
        "filters",
        help="list filters and their parameters",
        description="List the pipeline filters that the loaded plugins provide.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", metavar="NAME", help="show only this filter")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(handler=run)


def param_record(spec: ParamSpec) -> dict[str, Any]:
    """One parameter as a JSON object (stable keys)."""
    return {
        "name": spec.name,
        "type": spec.type.__name__,
        "optional": spec.optional,
        "required": spec.required,
        "default": spec.default,
        "min": spec.min,
        "max": spec.max,
        "choices": list(spec.choices) if spec.choices is not None else None,
        "help": spec.help,
    }


def filter_record(entry: Entry[type[Filter]]) -> dict[str, Any]:
    """One filter as a JSON object (stable keys)."""
    cls = entry.item
    return {
        "name": entry.name,
        "qualified_name": entry.qualified_name,
        "plugin": entry.source,
        "summary": cls.summary,
        "description": inspect.getdoc(cls) or "",
        "params": [param_record(spec) for spec in cls.param_specs()],
    }


def run(args: argparse.Namespace, app: App) -> int:
    """Print the filters (all, or the one named) as tables or JSON."""
    filters = app.catalog.filters
    entries = list(filters) if args.name is None else [filters.resolve(args.name)]
    if args.json:
        app.ui.json({"filters": [filter_record(entry) for entry in entries]})
        return int(ExitCode.OK)
    for entry in entries:
        if args.name is not None:
            app.ui.data(inspect.getdoc(entry.item) or entry.item.summary)
        rows = [_param_row(spec) for spec in entry.item.param_specs()]
        app.ui.table(
            ("parameter", "type", "default", "range", "help"),
            rows or [("(none)", "", "", "", "")],
            title=f"{entry.name}: {entry.item.summary} [{entry.source}]",
        )
    if not entries:
        app.ui.info("no filters are registered")
    return int(ExitCode.OK)


def _param_row(spec: ParamSpec) -> tuple[str, ...]:
    if spec.required:
        default = "required"
    elif spec.default is None:
        default = "unset"
    elif isinstance(spec.default, bool):
        default = "true" if spec.default else "false"  # as written in TOML and --filter
    else:
        default = str(spec.default)
    return (spec.name, spec.type_name, default, spec.describe_range(), spec.help)
