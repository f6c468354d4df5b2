"""Built-in plugin: the ``ray`` engine, ``stylepipe run --engine ray``.

Runs a batch on a Ray cluster through Ray Data: rows of paths (never pixels) go through
``map_batches`` to a pool of actors, each of which loads the plugins and sets up the
pipeline once, checks that it matches the driver, and runs the same unit of work as the
local engine (read, steps, atomic write). Planning, the summary, the events and the
report stay on the driver.

Ray itself is the optional extra ``stylepipe[ray]``: this module and the engine class
import nothing of Ray, so the plugin always registers the engine, and choosing it without
Ray installed is a usage error that says what to install.
"""

from __future__ import annotations

from collections.abc import Callable

from stylepipe import Engine, hookimpl

from .engine import RayEngine


@hookimpl
def register_engines(register: Callable[[type[Engine]], None]) -> None:
    register(RayEngine)
