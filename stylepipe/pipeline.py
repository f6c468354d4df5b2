"""Pipeline files: TOML ``[[step]]`` tables -> a validated :class:`Pipeline`.

Contract shared by the engine and the CLI (parsing functions are added below the
dataclasses): every error is a :class:`PipelineError` naming file, step and key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .filters import Filter, RuntimeOptions


@dataclass(frozen=True)
class Step:
    """One validated pipeline step: 1-based ``index``, the filter instance and its raw table."""

    index: int
    filter: Filter
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.filter.name


@dataclass(frozen=True)
class OutputOptions:
    """``[output]``: format (png, jpeg, webp, tiff; None keeps the input's), JPEG/WebP
    quality, PNG compression level and the output name template. Template fields:
    ``{stem}`` input name without extension, ``{ext}`` output extension with its dot,
    ``{filter}`` the step names joined by ``-``."""

    format: str | None = None
    quality: int = 92
    compression: int = 6
    name: str = "{stem}{ext}"


@dataclass(frozen=True)
class Pipeline:
    """Steps in order plus output and runtime options; ``source`` is the file it came from."""

    steps: tuple[Step, ...]
    output: OutputOptions = field(default_factory=OutputOptions)
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    source: str | None = None

    @property
    def filter_label(self) -> str:
        return "-".join(step.name for step in self.steps)
