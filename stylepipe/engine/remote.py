"""The unit of work in another process: what a remote engine's workers (Ray actors, say)
run, and how they prove they run the same thing as the driver.

The driver sends a :class:`WorkerSpec`: plain data that pickles anywhere (the pipeline
as a pipeline file's tables, the batch options, the provenance note, a fingerprint and a
few environment variables). A :class:`Worker` built from it loads its own plugins,
rebuilds and sets up the pipeline once, and refuses to start, with a message that says
what differs, unless its stylepipe version, the plugins that shape the work (filters,
architectures, models, devices) and the sha256 of the weights of the models the
pipeline uses are the driver's. Then :meth:`Worker.process_row` runs
:meth:`~stylepipe.engine.work.Work.process` on input rows (see
:meth:`~stylepipe.engine.driver.BatchRun.rows`) and returns result rows, which
:meth:`~stylepipe.engine.driver.BatchRun.record_row` takes back on the driver.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.engine.job import BatchOptions, WorkItem, provenance_note
from stylepipe.engine.work import Note, Work, setup_steps
from stylepipe.errors import UsageError
from stylepipe.filters import FilterContext
from stylepipe.paths import HOME_ENV

if TYPE_CHECKING:
    from stylepipe.engine.driver import BatchRun
    from stylepipe.pipeline import Pipeline
    from stylepipe.plugins import Catalog, Plugins

#: Hooks whose implementations change what a worker computes: plugins with one of these
#: must match between driver and workers; event-only plugins run on the driver alone.
WORK_HOOKS = frozenset(
    {"register_filters", "register_architectures", "register_models", "select_device"}
)
#: Environment variables a worker takes from the driver when the driver has them set.
FORWARDED_ENV = (HOME_ENV, "STYLEPIPE_LOAD_PLUGINS")
SAME_EVERYWHERE = "install the same stylepipe, plugins and packs on every node"


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to process a batch's inputs, as plain picklable data."""

    pipeline: dict[str, Any]
    options: BatchOptions
    note: Note | None
    fingerprint: dict[str, Any]
    env: dict[str, str]

    @classmethod
    def for_batch(cls, batch: BatchRun, *, threads: int | None = None) -> WorkerSpec:
        """The spec of ``batch``; ``threads``: torch's thread count for workers when the
        pipeline does not set ``[runtime] threads`` itself."""
        pipeline = batch.job.pipeline
        if threads is not None and pipeline.runtime.threads is None:
            runtime = dataclasses.replace(pipeline.runtime, threads=threads)
            pipeline = dataclasses.replace(pipeline, runtime=runtime)
        from stylepipe.pipeline import pipeline_to_dict

        options = batch.job.options
        return cls(
            pipeline=pipeline_to_dict(pipeline),
            options=options,
            note=provenance_note(batch.job) if options.provenance else None,
            fingerprint=fingerprint(batch.app.plugins, batch.app.catalog, pipeline),
            env={name: os.environ[name] for name in FORWARDED_ENV if name in os.environ},
        )


class Worker:
    """One worker process's side of a batch: built once (plugins, pipeline, models),
    then :meth:`process_row` per input. Raises :class:`UsageError` when it does not
    match the driver."""

    def __init__(self, spec: WorkerSpec) -> None:
        from stylepipe.pipeline import pipeline_from_dict
        from stylepipe.plugins import Catalog, load_plugins

        os.environ.update(spec.env)
        plugins = load_plugins()
        catalog = Catalog.build(plugins)
        mine = {"stylepipe": _version(), "plugins": plugin_versions(plugins)}
        check_same(spec.fingerprint, mine)
        pipeline = pipeline_from_dict(spec.pipeline, catalog, source="the driver's pipeline")
        check_same(spec.fingerprint, fingerprint(plugins, catalog, pipeline))
        self.warnings: list[str] = []
        ctx = FilterContext(
            runtime=pipeline.runtime,
            catalog=catalog,
            warn=self.warnings.append,
            select_device=plugins.hook.select_device,
        )
        setup_steps(pipeline, ctx)
        self.work = Work(pipeline, spec.options, spec.note)

    def process_row(
        self, row: Mapping[str, Any], proceed: Callable[[], bool] | None = None
    ) -> dict[str, Any]:
        """Process the input of ``row``; returns its result row (never raises for a
        problem of the input). The row's ``warnings`` are the filters' new ones.
        ``proceed``: asked before writing, False once the batch has stopped."""
        item = WorkItem(
            Path(row["source"]), Path(row["relative"]), Path(row["output"]), str(row["format"])
        )
        result = self.work.process(item, proceed)
        warnings, self.warnings = self.warnings, []
        return {
            "index": int(row["index"]),
            "status": result.status,
            "reason": result.reason,
            "seconds": result.seconds,
            "stop": result.stop,
            "warnings": "\n".join(warnings) or None,
        }


def failed_row(index: int, reason: str) -> dict[str, Any]:
    """A result row for an input a worker could not process (its process kept dying)."""
    return {
        "index": index,
        "status": "failed",
        "reason": reason,
        "seconds": 0.0,
        "stop": None,
        "warnings": None,
    }


def fingerprint(plugins: Plugins, catalog: Catalog, pipeline: Pipeline) -> dict[str, Any]:
    """What must be equal on the driver and every worker: stylepipe's version, the
    plugins that shape the work, and the sha256 of every model registered under a name
    the pipeline's steps use."""
    from stylepipe.models.weights import sha256_file

    names = {step.fields["model"] for step in pipeline.steps if "model" in step.fields}
    models = {}
    for entry in catalog.models:
        if entry.name in names:
            try:
                models[entry.qualified_name] = sha256_file(entry.item.weights)
            except OSError as exc:
                models[entry.qualified_name] = f"unreadable ({exc.strerror or exc})"
    return {"stylepipe": _version(), "plugins": plugin_versions(plugins), "models": models}


def plugin_versions(plugins: Plugins) -> list[str]:
    """``NAME VERSION`` of each loaded plugin that implements a :data:`WORK_HOOKS` hook,
    and ``NAME (failed to load)`` of each that failed, sorted."""
    loaded = [
        f"{info.name} {info.version or 'built-in'}"
        for info in plugins.info()
        if WORK_HOOKS & set(info.hooks)
    ]
    failed = [f"{failure.name} (failed to load)" for failure in plugins.failures]
    return sorted(loaded + failed)


def check_same(driver: Mapping[str, Any], worker: Mapping[str, Any]) -> None:
    """Raise :class:`UsageError` naming every difference between the driver's and this
    worker's fingerprints (for the keys the worker's holds)."""
    problems = []
    if "stylepipe" in worker and worker["stylepipe"] != driver["stylepipe"]:
        problems.append(
            f"stylepipe {worker['stylepipe']} here, {driver['stylepipe']} on the driver"
        )
    for key in ("plugins", "models"):
        if key in worker and worker[key] != driver[key]:
            problems.append(_difference(key, driver[key], worker[key]))
    if problems:
        raise UsageError(
            f"the worker on {socket.gethostname()} does not match the driver: "
            + "; ".join(problems),
            hint=SAME_EVERYWHERE,
        )


def _difference(key: str, driver: Any, worker: Any) -> str:
    if key == "plugins":
        only_here = sorted(set(worker) - set(driver))
        only_there = sorted(set(driver) - set(worker))
        return (
            f"plugins only here: {', '.join(only_here) or 'none'}; "
            f"only on the driver: {', '.join(only_there) or 'none'}"
        )
    differing = sorted(
        name for name in set(driver) | set(worker) if driver.get(name) != worker.get(name)
    )
    shown = [
        f"{name} sha256 {str(worker.get(name, 'missing'))[:12]} here, "
        f"{str(driver.get(name, 'missing'))[:12]} on the driver"
        for name in differing
    ]
    return "models differ: " + ", ".join(shown)


def _version() -> str:
    from stylepipe import __version__

    return __version__
