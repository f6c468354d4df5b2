"""The batch engine: plan inputs and outputs, then load -> filters -> save, with events.

:func:`run_batch` is the Python API behind ``stylepipe run``. Loading and saving overlap
with filtering: a small thread pool decodes up to ``prefetch`` images ahead and encodes
and writes finished ones, while the filters run in the calling thread, in order (neural
filters hold the device; plain filters are numpy and release the GIL in bulk).

Per-file problems (unreadable input, a filter error, a failed write, an existing output
without ``overwrite``) are recorded and the batch goes on, unless ``fail_fast``. Ctrl-C
stops after the images already being written are complete: every write is atomic
(temporary file, fsync, rename), so no partial output is ever left; the summary says
``interrupted`` and ``--skip-existing`` finishes the batch later.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stylepipe.engine.checks import (
    refuse_all_existing,
    refuse_output_in_inputs,
    refuse_outputs_replacing_inputs,
)
from stylepipe.engine.driver import remove_stale_temps
from stylepipe.engine.plan import (
    InputScan,
    collect_inputs,
    names_a_file,
    plan_file_output,
    plan_outputs,
)
from stylepipe.errors import UsageError
from stylepipe.imaging.read import pixel_limit

if TYPE_CHECKING:
    from stylepipe.app import App
    from stylepipe.engine.engines import Engine
    from stylepipe.pipeline import Pipeline
from stylepipe.engine.job import BatchJob, BatchOptions, BatchSummary, WorkItem


def plan_batch(
    pipeline: Pipeline,
    inputs: Sequence[str | Path],
    output: Path,
    options: BatchOptions | None = None,
) -> BatchJob:
    """Collect the inputs and name the outputs. ``output`` is a folder, or a file name
    with an image suffix (``out.jpg``) for a single input. Raises :class:`UsageError`
    for bad inputs, nothing to process, and the whole-run problems of
    :mod:`stylepipe.engine.checks`."""
    options = options or BatchOptions()
    output = Path(output)
    as_file = names_a_file(output)
    if output.exists() and not output.is_dir() and not as_file:
        raise UsageError(f"output {output} exists and is not a folder", hint="use -o FOLDER")
    refuse_output_in_inputs(inputs, output)
    scan = collect_inputs(inputs, recursive=options.recursive, exclude=output)
    if not scan.files:
        raise _nothing_found(scan)
    if as_file:
        plans = [plan_file_output(scan.files, output, pipeline.output.format)]
        clash_warnings: list[str] = []
    else:
        plans, clash_warnings = plan_outputs(
            scan.files,
            output,
            template=pipeline.output.name,
            format=pipeline.output.format,
            filter_label=pipeline.filter_label,
            fields=pipeline.name_fields,
        )
    root = output.parent if as_file else output
    refuse_outputs_replacing_inputs([(p.found.source, p.output) for p in plans])
    refuse_all_existing(
        [p.output for p in plans],
        root,
        skip_existing=options.skip_existing,
        overwrite=options.overwrite,
    )
    items = tuple(WorkItem(p.found.source, p.found.relative, p.output, p.format) for p in plans)
    return BatchJob(
        pipeline,
        items,
        root,
        options,
        hidden=scan.hidden,
        non_images=scan.non_images,
        warnings=tuple(scan.warnings + scan.codec_warnings() + clash_warnings),
        in_subfolders=scan.in_subfolders,
    )


def _nothing_found(scan: InputScan) -> UsageError:
    left_out = f"{scan.hidden} hidden, {scan.non_images} not images"
    if scan.in_subfolders:
        return UsageError(
            f"no images found in the inputs ({left_out}, {scan.in_subfolders} in subfolders)",
            hint="add --recursive to read the subfolders too",
        )
    if scan.unreadable:
        hint = "; ".join(scan.unreadable)
        return UsageError(f"no images found in the inputs ({left_out})", hint=hint)
    return UsageError(f"no images found in the inputs ({left_out})", hint=_INPUT_HINT)


_INPUT_HINT = (
    "give image files, folders (with --recursive for subfolders) or quoted globs; "
    "suffixes read: .png .jpg .webp .tif .avif .heic .dng .cr2 .nef .arw .bmp .gif and more"
)


def run_batch(
    app: App,
    pipeline: Pipeline,
    inputs: Sequence[str | Path],
    output: Path,
    options: BatchOptions | None = None,
    engine: Engine | None = None,
) -> BatchSummary:
    """Plan and run a batch; returns the summary (see :attr:`BatchSummary.exit_code`).

    Fires ``batch_started``, ``image_finished`` and ``batch_finished``; shows progress
    through ``app.ui``. Raises :class:`UsageError` for bad inputs and the filters' own
    errors from ``setup``. ``engine``: what runs it (default: this process, see
    :mod:`stylepipe.engine.engines`); planning is the same for every engine.
    """
    job = plan_batch(pipeline, inputs, output, options)
    return execute(app, job, engine)


def execute(app: App, job: BatchJob, engine: Engine | None = None) -> BatchSummary:
    """Run a planned job (see :func:`run_batch`)."""
    from stylepipe.engine.driver import BatchRun
    from stylepipe.engine.engines import LocalEngine

    started = time.perf_counter()
    for message in job.warnings:
        app.ui.warn(message)
    try:
        job.output_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the output folder {job.output_root}: {exc.strerror or exc}"
        ) from None
    stale = remove_stale_temps(job)
    if stale:
        files = "file" if stale == 1 else "files"
        app.ui.warn(f"removed {stale} temporary {files} left by an interrupted run")
    with pixel_limit(job.options.max_pixels):
        return BatchRun(app, job, started).run(engine or LocalEngine())
