"""stylepipe: batch neural image filters as pluggy plugins.

This module is the public API for plugins: hook markers, the filter base class and its
parameter helpers, model and architecture types, model lookup and loading, pack folders,
tiling types, the frame type, the errors, and what an engine needs (the engine base class,
the batch being run, the remote worker and its spec). ``__all__`` is what a third-party plugin
may rely on; everything else (``stylepipe.engine.batch``, ``.imaging``, ``.models``,
``.tiling``, ``.packs``, ``.commands``) is internal and may change.

The names are imported when first used (PEP 562), so that ``import stylepipe.cli``
costs next to nothing and the command line handles a Ctrl-C from its first moments.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stylepipe.engine.driver import BatchRun
    from stylepipe.engine.engines import Engine
    from stylepipe.engine.job import ItemResult, WorkItem
    from stylepipe.engine.remote import Worker, WorkerSpec, failed_row
    from stylepipe.errors import (
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
    from stylepipe.filters import (
        Filter,
        FilterContext,
        FilterParams,
        ParamSpec,
        RuntimeOptions,
        param,
    )
    from stylepipe.hookspecs import hookimpl
    from stylepipe.imaging.frame import Frame, ImageMetadata
    from stylepipe.models.loading import LoadedModel, load_model, open_model, pick_model
    from stylepipe.models.spec import Architecture, ModelSpec
    from stylepipe.models.weights import load_state_dict, sha256_file
    from stylepipe.packs.folders import register_pack_folder
    from stylepipe.packs.format import Pack, read_pack
    from stylepipe.paths import user_plugin_dir
    from stylepipe.plugins import Catalog
    from stylepipe.registry import Entry
    from stylepipe.tiling.plan import TileSegment
    from stylepipe.tiling.policy import TilingPolicy

    __version__: str

#: Where each public name lives. Plugins import these names from ``stylepipe`` only;
#: the modules behind them may move between releases.
_SOURCES = {
    "stylepipe.engine.driver": ("BatchRun",),
    "stylepipe.engine.engines": ("Engine",),
    "stylepipe.engine.job": ("ItemResult", "WorkItem"),
    "stylepipe.engine.remote": ("Worker", "WorkerSpec", "failed_row"),
    "stylepipe.errors": (
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
    "stylepipe.filters": (
        "Filter",
        "FilterContext",
        "FilterParams",
        "ParamSpec",
        "RuntimeOptions",
        "param",
    ),
    "stylepipe.hookspecs": ("hookimpl",),
    "stylepipe.imaging.frame": ("Frame", "ImageMetadata"),
    "stylepipe.models.loading": ("LoadedModel", "load_model", "open_model", "pick_model"),
    "stylepipe.models.spec": ("Architecture", "ModelSpec"),
    "stylepipe.models.weights": ("load_state_dict", "sha256_file"),
    "stylepipe.packs.folders": ("register_pack_folder",),
    "stylepipe.packs.format": ("Pack", "read_pack"),
    "stylepipe.paths": ("user_plugin_dir",),
    "stylepipe.plugins": ("Catalog",),
    "stylepipe.registry": ("Entry",),
    "stylepipe.tiling.policy": ("TilingPolicy",),
    "stylepipe.tiling.plan": ("TileSegment",),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [
    "Architecture",
    "BatchRun",
    "Catalog",
    "DeviceError",
    "Engine",
    "Entry",
    "ExitCode",
    "Filter",
    "FilterContext",
    "FilterParams",
    "Frame",
    "ImageMetadata",
    "ImageReadError",
    "ImageWriteError",
    "ItemResult",
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
    "TileSegment",
    "TilingPolicy",
    "UsageError",
    "WorkItem",
    "Worker",
    "WorkerSpec",
    "__version__",
    "failed_row",
    "hookimpl",
    "load_model",
    "load_state_dict",
    "open_model",
    "param",
    "pick_model",
    "read_pack",
    "register_pack_folder",
    "sha256_file",
    "user_plugin_dir",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it."""
    if name == "__version__":
        value: Any = _version()
    elif name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name]), name)
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
