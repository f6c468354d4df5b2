"""Every hook a stylepipe plugin can implement.

Hooks are called with keyword arguments; an implementation may accept any subset of
them. Registration hooks receive a ``register`` callable bound to the calling plugin,
so the core owns each registry and its collision policy (a duplicate name is an error
that names both plugins). Implement hooks with ``@stylepipe.hookimpl``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from stylepipe.engine.engines import Engine
    from stylepipe.engine.job import BatchJob, BatchSummary, ItemResult, WorkItem
    from stylepipe.filters import Filter
    from stylepipe.models.spec import Architecture, ModelSpec

hookspec = pluggy.HookspecMarker("stylepipe")
hookimpl = pluggy.HookimplMarker("stylepipe")


@hookspec
def register_filters(register: Callable[[type[Filter]], None]) -> None:
    """Register pipeline step types.

    Fires once when the catalog is built. Call ``register(FilterClass)`` for each
    :class:`stylepipe.Filter` subclass; its ``name`` is the step name used in pipeline
    files and ``--filter``. Two plugins registering one name is an error. Returns nothing.
    """


@hookspec
def register_architectures(register: Callable[[Architecture], None]) -> None:
    """Register network architectures.

    Fires once when the catalog is built. Call ``register(Architecture(...))``; the
    architecture's ``id`` must be unique across plugins. Returns nothing.
    """


@hookspec
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register named weights for a registered architecture (kind ``style`` or ``sr``).

    Fires once when the catalog is built, after ``register_architectures``. Call
    ``register(ModelSpec(...))``. Several plugins may use one short name; users then
    address the model as ``<plugin>/<name>``. Returns nothing.
    """


@hookspec
def register_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    """Add subcommands to the ``stylepipe`` command line.

    Fires once while the argument parser is built. Add a parser with
    ``subparsers.add_parser(...)`` and set ``handler=callable(args, app) -> int`` with
    ``parser.set_defaults``. Keep imports of heavy modules inside the handler so that
    other commands do not pay for them. Returns nothing.
    """


@hookspec
def register_engines(register: Callable[[type[Engine]], None]) -> None:
    """Register engines: what runs a planned batch (``--engine NAME``).

    Fires once when the catalog is built. Call ``register(EngineClass)`` for each
    :class:`stylepipe.Engine` subclass; its ``name`` is what ``--engine`` and
    ``[runtime] engine`` use. Two plugins registering one name is an error. Keep the
    engine's own dependencies (a cluster client) out of module imports: import them in
    ``check``/``open``. Returns nothing.
    """


@hookspec(firstresult=True)
def select_device(requested: str) -> Any:
    """Choose the ``torch.device`` for a requested name (``auto``, ``cpu``, ``cuda:1``...).

    First result wins: return a ``torch.device`` to decide, or ``None`` to let the next
    plugin decide. The built-in implementation is ``trylast`` (cuda > mps > cpu for
    ``auto``), so a plugin can override it.
    """


@hookspec
def batch_started(job: BatchJob) -> None:
    """A batch is about to process ``job.items`` (after validation, before the first image).

    Event: every implementation is called; return values are ignored.
    """


@hookspec
def image_finished(job: BatchJob, item: WorkItem, result: ItemResult) -> None:
    """One input has been processed: ``result.status`` is done, skipped or failed.

    Event: called from the main thread after the output was written (or the failure
    recorded). Exceptions raised here are reported and do not stop the batch.
    """


@hookspec
def batch_finished(job: BatchJob, summary: BatchSummary) -> None:
    """The batch is over (also after Ctrl-C or ``--fail-fast``); ``summary`` holds the counts.

    Event: every implementation is called; return values are ignored.
    """
