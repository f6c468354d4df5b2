"""Built-in subcommands, added through the ``register_commands`` hook like any plugin's.

Each module in :data:`COMMAND_MODULES` has ``add_parser(subparsers)``.
"""

from __future__ import annotations

import argparse
import importlib

from stylepipe.hookspecs import hookimpl

COMMAND_MODULES: tuple[str, ...] = (
    "check",
    "run",
    "filters",
    "import_model",
    "plugins",
    "export",
    "install",
    "package",
    "models",
    "webui",
)


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parser(subparsers)
