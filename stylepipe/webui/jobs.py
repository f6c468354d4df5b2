"""Full-resolution renders and batches: planned and run by the engine of ``stylepipe
run`` (:func:`~stylepipe.engine.batch.plan_batch`, :func:`~stylepipe.engine.batch.execute`:
the same tiling, atomic writes, per-file failures and summary), one at a time, in a
thread of their own.

Progress comes through the engine's progress display, here :class:`JobProgress`, which
the page polls: files done/total, the current file, an ETA. Cancelling uses the engine's
own way to stop, the one Ctrl-C takes: the next file does not start, the files being
written are finished (every write is atomic), so no partial file is ever left, and the
summary says what was not processed. The summary is the text ``stylepipe run`` prints.
"""

from __future__ import annotations

import io
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from stylepipe.app import App
from stylepipe.engine.job import BatchJob, BatchOptions, BatchSummary
from stylepipe.errors import StylepipeError, UsageError
from stylepipe.ui import UI
from stylepipe.webui.folders import Folders, confine
from stylepipe.webui.settings import BatchChoice

if TYPE_CHECKING:
    from stylepipe.pipeline import Pipeline

EXISTING_CHOICES = ("fail", "skip", "replace")


class CancelRequested(KeyboardInterrupt):
    """Raised in the job's thread at the start of the next file: the engine stops as
    it does after Ctrl-C."""


@dataclass
class RunningJob:
    """One render or batch and what the page shows of it. ``hide``: a folder prefix
    left out of the texts shown (the server's private folder of a render)."""

    kind: str
    job: BatchJob
    output_shown: str
    hide: str | None = None
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    current: str = ""
    state: str = "running"  # then finished, cancelled or failed
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    warnings: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    summary: str = ""
    result: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.total = len(self.job.items)

    def text(self, value: str) -> str:
        return value.replace(self.hide, "") if self.hide else value

    def status(self) -> dict[str, Any]:
        """What ``GET /api/job`` answers."""
        finished = self.done + self.skipped + self.failed
        elapsed = (self.ended or time.perf_counter()) - self.started
        eta = None
        if self.state == "running" and finished:
            eta = round(elapsed / finished * (self.total - finished), 1)
        return {
            "kind": self.kind,
            "state": self.state,
            "total": self.total,
            "finished": finished,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "current": self.current,
            "elapsed": round(elapsed, 1),
            "eta": eta,
            "output": self.output_shown,
            "result": self.result.name if self.result else None,
            "warnings": list(self.warnings),
            "failures": list(self.failures),
            "errors": list(self.errors),
            "summary": self.summary,
        }

    def finish(self, summary: BatchSummary) -> None:
        self.state = "cancelled" if summary.interrupted else "finished"
        self.summary = self.text(summary_text(summary))
        self.failures = [
            {"file": self.text(str(f.source)), "reason": self.text(f.reason)}
            for f in summary.failures
        ]
        if self.kind == "render" and summary.done:
            self.result = self.job.items[0].output
        self.current, self.ended = "", time.perf_counter()

    def fail(self, message: str, hint: str | None = None) -> None:
        self.state, self.current, self.ended = "failed", "", time.perf_counter()
        self.errors.append({"field": self.kind, "message": self.text(message), "hint": hint or ""})


def summary_text(summary: BatchSummary) -> str:
    """The summary exactly as ``stylepipe run`` prints it (counts, speed, models, the
    failures table, the interrupted or stopped line)."""
    buffer = io.StringIO()
    UI(stdout=io.StringIO(), stderr=buffer).batch_summary(summary)
    return buffer.getvalue()


class JobProgress:
    """The engine's progress display for one job (see :class:`stylepipe.ui.BatchProgress`)."""

    def __init__(self, running: RunningJob) -> None:
        self.running = running

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.running.current = ""

    def current(self, name: str) -> None:
        """The engine is about to filter ``name``: the place where a cancel stops it."""
        if self.running.cancel.is_set():
            raise CancelRequested
        self.running.current = name

    def advance(self, status: str) -> None:
        if status == "done":
            self.running.done += 1
        elif status == "skipped":
            self.running.skipped += 1
        else:
            self.running.failed += 1


class JobUI(UI):
    """The UI the engine reports to during a job: warnings and errors go to the page."""

    def __init__(self, running: RunningJob) -> None:
        super().__init__(stdout=io.StringIO(), stderr=io.StringIO())
        self.running = running

    def warn(self, message: str) -> None:
        self.running.warnings.append(self.running.text(message))

    def error(self, error: BaseException | str) -> None:
        self.running.warnings.append(self.running.text(str(error)))

    def batch_progress(self, total: int) -> JobProgress:  # type: ignore[override]
        return JobProgress(self.running)


class Jobs:
    """Runs one render or batch at a time; ``busy`` is held while one runs (the
    preview pauses meanwhile)."""

    def __init__(self, app: App, busy: threading.Lock) -> None:
        self.app, self.busy = app, busy
        self.latest: RunningJob | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.latest is not None and self.latest.state == "running"

    def start(self, running: RunningJob) -> RunningJob:
        """Start ``running`` in its thread; :class:`UsageError` while another runs."""
        with self._lock:
            if self.running:
                assert self.latest is not None
                raise UsageError(
                    f"a {self.latest.kind} is running", hint="wait for it to end, or cancel it"
                )
            self.latest = running
        thread = threading.Thread(target=self._run, args=(running,), daemon=True)
        thread.name = f"stylepipe-{running.kind}"
        thread.start()
        return running

    def cancel(self) -> None:
        if self.latest is not None and self.running:
            self.latest.cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running job to end (for tests and shutdown); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _run(self, running: RunningJob) -> None:
        from stylepipe.engine.batch import execute

        app = App(self.app.plugins, JobUI(running), _catalog=self.app.catalog)
        with self.busy:
            try:
                summary = execute(app, running.job)
            except StylepipeError as exc:
                running.fail(exc.headline, exc.hint)
            except Exception as exc:  # a bug: the details go to the terminal, not the page
                traceback.print_exc(file=sys.stderr)
                running.fail(f"internal error ({type(exc).__name__}); see the terminal")
            else:
                running.finish(summary)


def batch_job(pipeline: Pipeline, folders: Folders, choice: BatchChoice) -> RunningJob:
    """A planned batch from the page's choices, confined to the chosen folders."""
    from stylepipe.engine.batch import plan_batch

    if choice.existing not in EXISTING_CHOICES:
        raise UsageError(f"unknown choice for existing outputs: {choice.existing!r}")
    inputs = folders.input_folder(choice.input)
    outputs = folders.output_folder(choice.output)
    options = BatchOptions(
        recursive=choice.recursive,
        skip_existing=choice.existing == "skip",
        overwrite=choice.existing == "replace",
    )
    job = confine(plan_batch(pipeline, [inputs], outputs, options), inputs, outputs)
    return RunningJob("batch", job, folders.shown(outputs))


def render_job(pipeline: Pipeline, photo: Path, private: Path) -> RunningJob:
    """The photo through the whole pipeline at full resolution, into the ``render``
    folder of the server's ``private`` one (emptied first: one render is kept)."""
    import shutil

    from stylepipe.engine.batch import plan_batch

    folder = private / "render"
    shutil.rmtree(folder, ignore_errors=True)
    job = plan_batch(pipeline, [photo], folder, BatchOptions(overwrite=True))
    return RunningJob("render", job, "", hide=str(private) + "/")
