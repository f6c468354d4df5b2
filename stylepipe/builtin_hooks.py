"""Core implementations of hooks: the first-result ones registered ``trylast`` so that
any plugin can override them, and the built-in ``local`` engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stylepipe.hookspecs import hookimpl


@hookimpl(trylast=True)
def select_device(requested: str) -> Any:
    """cuda > mps > cpu for ``auto``; otherwise the named device, checked."""
    from stylepipe.models.devices import resolve_device

    return resolve_device(requested)


@hookimpl
def register_engines(register: Callable[[type], None]) -> None:
    """The ``local`` engine: this process, I/O threads around the steps."""
    from stylepipe.engine.engines import LocalEngine

    register(LocalEngine)
