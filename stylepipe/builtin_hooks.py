"""Core implementations of first-result hooks, registered ``trylast`` so that any
plugin can override them."""

from __future__ import annotations

from typing import Any

from stylepipe.hookspecs import hookimpl


@hookimpl(trylast=True)
def select_device(requested: str) -> Any:
    """cuda > mps > cpu for ``auto``; otherwise the named device, checked."""
    from stylepipe.models.devices import resolve_device

    return resolve_device(requested)
