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

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .atomic import TEMP_MARKER, is_temp_name, remove_stale_temp, temp_prefix
from .errors import ExitCode, UsageError
from .image_io import DEFAULT_MAX_PIXELS, pixel_limit
from .planning import InputScan, collect_inputs, names_a_file, plan_file_output, plan_outputs
from .run_checks import (
    refuse_all_existing,
    refuse_output_in_inputs,
    refuse_outputs_replacing_inputs,
)

if TYPE_CHECKING:
    from .app import App
    from .pipeline import Pipeline

Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class BatchOptions:
    """How a batch treats existing files and failures, and how it reads images.

    ``max_pixels``: decompression-bomb limit per image (0 or None: no limit).
    ``workers``/``prefetch``: I/O threads and how many images are decoded ahead (and
    waiting to be written) at most; memory holds about ``2 * prefetch + 1`` images.
    """

    recursive: bool = False
    skip_existing: bool = False
    overwrite: bool = False
    fail_fast: bool = False
    strip_metadata: bool = False
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    workers: int = 2
    prefetch: int = 2

    def __post_init__(self) -> None:
        if self.skip_existing and self.overwrite:
            raise UsageError(
                "--skip-existing and --overwrite contradict each other", hint="choose one"
            )
        if self.workers < 1 or self.prefetch < 1:
            raise UsageError("workers and prefetch must be at least 1")


@dataclass(frozen=True)
class WorkItem:
    """One input: its path, its path relative to its input root (mirrored under the
    output root), the output path and the output format."""

    source: Path
    relative: Path
    output: Path
    format: str


@dataclass(frozen=True)
class ItemResult:
    """What happened to one input: ``done``, ``skipped`` (its output existed and
    ``skip_existing``) or ``failed`` with a one-line ``reason``; ``seconds`` of work."""

    status: Status
    reason: str | None = None
    output: Path | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class BatchJob:
    """A planned batch: the pipeline, the items in order, the output root and options."""

    pipeline: Pipeline
    items: tuple[WorkItem, ...]
    output_root: Path
    options: BatchOptions
    hidden: int = 0
    non_images: int = 0
    warnings: tuple[str, ...] = ()
    in_subfolders: int = 0


@dataclass(frozen=True)
class Failure:
    """A failed input and the one-line reason."""

    source: Path
    reason: str


@dataclass
class BatchSummary:
    """Counts of a finished (or interrupted) batch. ``hidden``, ``non_images`` and
    ``in_subfolders`` (images below folders not walked without ``recursive``) count
    files left out while collecting inputs; ``remaining`` those never reached;
    ``results`` is every finished input with its result (for ``--report``); ``stopped``
    says why the batch stopped early (the output disk is full or read-only)."""

    total: int
    done: int = 0
    skipped: int = 0
    failed: int = 0
    hidden: int = 0
    non_images: int = 0
    in_subfolders: int = 0
    failures: list[Failure] = field(default_factory=list)
    interrupted: bool = False
    stopped: str | None = None
    elapsed: float = 0.0
    results: list[tuple[WorkItem, ItemResult]] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.skipped - self.failed

    @property
    def images_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> ExitCode:
        """130 interrupted, 1 some failed, else 0."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.FAILURES if self.failed else ExitCode.OK

    def add(self, item: WorkItem, result: ItemResult) -> None:
        """Count one finished input; ``results`` keeps them all in finishing order."""
        self.results.append((item, result))
        if result.status == "done":
            self.done += 1
        elif result.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append(Failure(item.source, result.reason or "failed"))


def plan_batch(
    pipeline: Pipeline,
    inputs: Sequence[str | Path],
    output: Path,
    options: BatchOptions | None = None,
) -> BatchJob:
    """Collect the inputs and name the outputs. ``output`` is a folder, or a file name
    with an image suffix (``out.jpg``) for a single input. Raises :class:`UsageError`
    for bad inputs, nothing to process, and the whole-run problems of
    :mod:`stylepipe.run_checks`."""
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
        warnings=tuple(scan.warnings + clash_warnings),
        in_subfolders=scan.in_subfolders,
    )


def _nothing_found(scan: InputScan) -> UsageError:
    left_out = f"{scan.hidden} hidden, {scan.non_images} not images"
    if scan.in_subfolders:
        return UsageError(
            f"no images found in the inputs ({left_out}, {scan.in_subfolders} in subfolders)",
            hint="add --recursive to read the subfolders too",
        )
    return UsageError(f"no images found in the inputs ({left_out})", hint=_INPUT_HINT)


_INPUT_HINT = (
    "give image files, folders (with --recursive for subfolders) or quoted globs; "
    "suffixes read: .png .jpg .jpeg .webp .tif .tiff .bmp .gif and more"
)


def preflight(job: BatchJob) -> dict[int, ItemResult]:
    """Results decided before any image is read: an output that is one of the inputs
    (always refused), or that exists (skipped with ``skip_existing``, a failure without
    ``overwrite``)."""
    inputs = {_identity(item.source) for item in job.items}
    decided: dict[int, ItemResult] = {}
    for index, item in enumerate(job.items):
        identity = _identity(item.output)
        if identity is None:
            continue
        if identity in inputs:
            reason = f"refusing to overwrite input file {item.output}"
            decided[index] = ItemResult("failed", reason + "; choose another -o folder")
        elif job.options.skip_existing:
            decided[index] = ItemResult("skipped", "output exists", item.output)
        elif not job.options.overwrite:
            reason = f"output exists: {item.output}"
            decided[index] = ItemResult(
                "failed", reason + " (use --overwrite to replace it or --skip-existing)"
            )
    return decided


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, so links and case variants compare equal."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def remove_stale_temps(job: BatchJob) -> int:
    """Delete temporary files an earlier, killed run left next to planned outputs; those
    a live writer holds (another batch writing into the same folder) are left alone."""
    prefixes: dict[Path, set[str]] = {}
    for item in job.items:
        prefixes.setdefault(item.output.parent, set()).add(temp_prefix(item.output))
    removed = 0
    for folder, planned in prefixes.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue  # the folder does not exist yet
        for entry in entries:
            name = entry.name
            if is_temp_name(name):
                prefix = name[: name.rindex(TEMP_MARKER) + len(TEMP_MARKER)]
                if prefix in planned and remove_stale_temp(Path(entry.path)):
                    removed += 1
    return removed


def run_batch(
    app: App,
    pipeline: Pipeline,
    inputs: Sequence[str | Path],
    output: Path,
    options: BatchOptions | None = None,
) -> BatchSummary:
    """Plan and run a batch; returns the summary (see :attr:`BatchSummary.exit_code`).

    Fires ``batch_started``, ``image_finished`` and ``batch_finished``; shows progress
    through ``app.ui``. Raises :class:`UsageError` for bad inputs and the filters' own
    errors from ``setup``.
    """
    job = plan_batch(pipeline, inputs, output, options)
    return execute(app, job)


def execute(app: App, job: BatchJob) -> BatchSummary:
    """Run a planned job (see :func:`run_batch`)."""
    from .executor import Executor

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
        return Executor(app, job, started).run()
