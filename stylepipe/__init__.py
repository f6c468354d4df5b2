"""stylepipe: batch neural image filters as pluggy plugins.

This module is the public API for plugins: hook markers, the filter base class and its
parameter helpers, model and architecture types, the frame type and the errors.

The names are imported when first used (PEP 562), so that ``import stylepipe.cli``
costs next to nothing and the command line handles a Ctrl-C from its first moments.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        DeviceError,
        ExitCode,
        ImageReadError,
        ImageWriteError,
        ModelError,
        NotFoundError,
        ParamError,
        PipelineError,
        PluginError,
        PluginWarning,
        StylepackError,
        StylepipeError,
        UsageError,
    )
    from .filters import Filter, FilterContext, FilterParams, ParamSpec, RuntimeOptions, param
    from .frame import Frame, ImageMetadata
    from .hookspecs import hookimpl
    from .models import (
        Architecture,
        LoadedModel,
        ModelSpec,
        TilingPolicy,
        load_model,
        load_state_dict,
    )
    from .stylepacks import Pack, read_pack

    __version__: str

_SOURCES = {
    ".errors": (
        "DeviceError",
        "ExitCode",
        "ImageReadError",
        "ImageWriteError",
        "ModelError",
        "NotFoundError",
        "ParamError",
        "PipelineError",
        "PluginError",
        "PluginWarning",
        "StylepackError",
        "StylepipeError",
        "UsageError",
    ),
    ".filters": ("Filter", "FilterContext", "FilterParams", "ParamSpec", "RuntimeOptions", "param"),
    ".frame": ("Frame", "ImageMetadata"),
    ".hookspecs": ("hookimpl",),
    ".models": (
        "Architecture",
        "LoadedModel",
        "ModelSpec",
        "TilingPolicy",
        "load_model",
        "load_state_dict",
    ),
    ".stylepacks": ("Pack", "read_pack"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [
    "Architecture",
    "DeviceError",
    "ExitCode",
    "Filter",
    "FilterContext",
    "FilterParams",
    "Frame",
    "ImageMetadata",
    "ImageReadError",
    "ImageWriteError",
    "LoadedModel",
    "ModelError",
    "ModelSpec",
    "NotFoundError",
    "Pack",
    "ParamError",
    "ParamSpec",
    "PipelineError",
    "PluginError",
    "PluginWarning",
    "RuntimeOptions",
    "StylepackError",
    "StylepipeError",
    "TilingPolicy",
    "UsageError",
    "__version__",
    "hookimpl",
    "load_model",
    "load_state_dict",
    "param",
    "read_pack",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it."""
    if name == "__version__":
        value: Any = _version()
    elif name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stylepipe")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0+unknown"
