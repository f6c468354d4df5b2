"""The batch engine: plan inputs and outputs, then load -> filters -> save, with events. (job)"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from stylepipe.errors import ExitCode, UsageError
from stylepipe.imaging.read import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from stylepipe.pipeline import Pipeline


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
    output_profile: str = "source"  # or "srgb": see stylepipe.imaging.colour
    provenance: bool = True  # stylepipe, steps and models in XMP and EXIF Software
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    workers: int = 2
    prefetch: int = 2

    def __post_init__(self) -> None:
        if self.skip_existing and self.overwrite:
            raise UsageError(
                "--skip-existing and --overwrite contradict each other", hint="choose one"
            )
        if self.output_profile not in ("source", "srgb"):
            raise UsageError(
                f"unknown output profile {self.output_profile!r}", hint="use source or srgb"
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
    ``skip_existing``) or ``failed`` with a one-line ``reason``; ``seconds`` of work.
    ``stop`` says why the whole batch must stop after this input (the output disk is
    full or read-only: every later write would fail too), else None."""

    status: Status
    reason: str | None = None
    output: Path | None = None
    seconds: float = 0.0
    stop: str | None = None


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
class StepModel:
    """The model a pipeline step runs (a step whose filter supplies the ``{model}`` name
    field: ``style``, ``upscale``), and whether it is the filter's default (no ``model``
    given), so that the summary names what was used."""

    step: int
    filter: str
    model: str
    default: bool

    def __str__(self) -> str:
        return f"{self.filter}: {self.model}" + (" (default)" if self.default else "")


def step_models(pipeline: Pipeline) -> tuple[StepModel, ...]:
    """The models the pipeline's steps run, in step order."""
    return tuple(
        StepModel(step.index, step.name, step.fields["model"], "model" not in step.raw)
        for step in pipeline.steps
        if "model" in step.fields
    )


def provenance_note(job: BatchJob) -> tuple[str, str, str]:
    """What outputs record of how they were made: ``stylepipe VERSION``, the steps
    (``autocontrast -> style(model="mosaic")``) and the models (``style: mosaic``)."""
    from stylepipe import __version__
    from stylepipe.pipeline import describe_pipeline

    models = ", ".join(f"{m.filter}: {m.model}" for m in step_models(job.pipeline))
    return f"stylepipe {__version__}", describe_pipeline(job.pipeline), models


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
    says why the batch stopped early (the output disk is full or read-only); ``models``
    the models its steps ran (``style: starry-night (default)``)."""

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
    models: tuple[StepModel, ...] = ()

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.skipped - self.failed

    @property
    def images_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> ExitCode:
        """130 interrupted, 1 some failed or stopped early, else 0."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        return ExitCode.FAILURES if self.failed or self.stopped else ExitCode.OK

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
