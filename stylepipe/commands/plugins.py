"""``stylepipe plugins``: the loaded plugins, where they come from, their hooks, and the
plugins that failed to load."""

from __future__ import annotations

import argparse
from typing import Any

from stylepipe.app import App
from stylepipe.errors import ExitCode
from stylepipe.plugins import PluginInfo

EPILOG = """\
examples:
  stylepipe plugins                         table of plugins and the hooks they implement
  stylepipe plugins --json                  the same for scripts, on stdout
  STYLEPIPE_LOAD_PLUGINS=my-plugin stylepipe plugins
                                            load only this entry point (empty: none)

JSON: {"plugins": [{"name", "builtin", "package", "version", "hooks"}],
       "failures": [{"name", "error"}]}
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``plugins`` to the command line."""
    parser = subparsers.add_parser(
        "plugins",
        help="list loaded plugins",
        description="List the built-in and installed plugins with the hooks they implement, "
        "and the plugins that failed to load with their error.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(handler=run)


def plugin_record(info: PluginInfo) -> dict[str, Any]:
    """One plugin as a JSON object (stable keys)."""
    return {
        "name": info.name,
        "builtin": info.builtin,
        "package": info.package,
        "version": info.version,
        "hooks": list(info.hooks),
    }


def run(args: argparse.Namespace, app: App) -> int:
    """Print the plugin table (or JSON)."""
    infos = app.plugins.info()
    failures = app.plugins.failures
    if args.json:
        app.ui.json(
            {
                "plugins": [plugin_record(info) for info in infos],
                "failures": [{"name": f.name, "error": f.error} for f in failures],
            }
        )
        return int(ExitCode.OK)
    rows = [(info.name, _origin(info), ", ".join(info.hooks) or "-") for info in infos]
    app.ui.table(("plugin", "from", "hooks"), rows, title="Plugins")
    if failures:
        app.ui.table(
            ("plugin", "error"),
            [(f.name, f.error) for f in failures],
            title="Plugins that failed to load (skipped)",
        )
    return int(ExitCode.OK)


def _origin(info: PluginInfo) -> str:
    if info.builtin:
        return "built-in"
    if info.package:
        return f"{info.package} {info.version or ''}".strip()
    return "entry point"
