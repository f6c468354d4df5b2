"""stylepipe: batch neural image filters as pluggy plugins.

This module is the public API for plugins: hook markers, the filter base class and its
parameter helpers, model and architecture types, the frame type and the errors.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

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

try:
    __version__ = version("stylepipe")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

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
