"""Typed errors and process exit codes.

Library code raises these; only the CLI turns them into messages and exit codes.
Every error says what failed, where, and (through ``hint``) how to fix it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit status of the ``stylepipe`` command."""

    OK = 0
    FAILURES = 1  # the batch ran but some images failed
    USAGE = 2  # bad arguments, pipeline file, plugin or model name
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


class StylepipeError(Exception):
    """Base class of every error stylepipe raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILURES

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def headline(self) -> str:
        """The error without its hint."""
        return self.message

    def __str__(self) -> str:
        return self.headline if not self.hint else f"{self.headline} ({self.hint})"


class UsageError(StylepipeError):
    """The user asked for something that cannot be done as asked."""

    exit_code = ExitCode.USAGE


class NotFoundError(UsageError):
    """A named thing (filter, model, architecture, plugin) does not exist."""


class DuplicateError(StylepipeError):
    """Two plugins registered the same name in one registry."""

    exit_code = ExitCode.USAGE


class ParamError(UsageError):
    """A filter parameter is unknown, of the wrong type or out of range."""

    def __init__(self, key: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class PipelineError(UsageError):
    """A pipeline file is invalid; ``location`` reads ``file:step N:key``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        step: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file, self.step, self.key = file, step, key

    @property
    def location(self) -> str:
        parts = [self.file or "<pipeline>"]
        if self.step is not None:
            parts.append(f"step {self.step}")
        if self.key is not None:
            parts.append(self.key)
        return ":".join(parts)

    @property
    def headline(self) -> str:
        return f"{self.location}: {self.message}"


class ParamErrors(ParamError):
    """Several parameters of one step or table are wrong; ``errors`` lists each (the
    first also fills this error's own key, message and hint)."""

    def __init__(self, errors: Sequence[ParamError]) -> None:
        first = errors[0]
        super().__init__(first.key, first.message, hint=first.hint)
        self.errors = list(errors)


class PipelineErrors(PipelineError):
    """Every error found in one pipeline file (or in the ``--filter`` steps), so that a
    user fixes them all in one go; ``errors`` lists each with its own location. The
    first one fills this error's own fields; its headline counts the others."""

    def __init__(self, errors: Sequence[PipelineError]) -> None:
        first = errors[0]
        super().__init__(
            first.message, file=first.file, step=first.step, key=first.key, hint=first.hint
        )
        self.errors = list(errors)

    @property
    def headline(self) -> str:
        more = len(self.errors) - 1
        return f"{self.location}: {self.message} (and {more} more)"


def combine(errors: Sequence[PipelineError]) -> PipelineError:
    """The one error in ``errors`` (not empty), or a :class:`PipelineErrors` of them all."""
    return errors[0] if len(errors) == 1 else PipelineErrors(errors)


def raise_all(errors: Sequence[PipelineError]) -> None:
    """Raise :func:`combine` of ``errors``; nothing when the list is empty."""
    if errors:
        raise combine(errors)


class ImageReadError(StylepipeError):
    """An input file is not a readable image (corrupt, truncated, empty, too large)."""


class ImageWriteError(StylepipeError):
    """An output image could not be written."""


class StorageFullError(ImageWriteError):
    """The output storage takes no more files (disk full, quota exceeded, read-only file
    system): a batch stops here, since every later image would fail the same way."""


class ModelError(StylepipeError):
    """Weights or a model manifest are invalid or do not fit the architecture."""


class StylepackError(ModelError):
    """A style pack (folder or .stylepack file) is invalid or unsafe."""


class InvalidPackError(StylepackError):
    """A pack given as input (``stylepipe install FILE.stylepack``) is invalid or unsafe;
    nothing was installed. Exit status 2, like any other invalid input."""

    exit_code = ExitCode.USAGE


class DeviceError(UsageError):
    """The requested device or precision is unavailable."""


class TileOutOfMemory(StylepipeError):
    """Even the smallest tile did not fit in device memory."""


class PluginError(StylepipeError):
    """Plugins could not be loaded or disagree (for example an unknown hook name)."""

    exit_code = ExitCode.USAGE


class PluginWarning(UserWarning):
    """Something a plugin skipped while registering (a broken style pack, say). Issue it
    with ``warnings.warn(message, PluginWarning)`` from a registration hook: the catalog
    collects it in :attr:`stylepipe.plugins.Catalog.warnings` and the CLI shows it."""
