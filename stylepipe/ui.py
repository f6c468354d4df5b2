"""All terminal output goes through here: rich on stderr for people, stdout for data.

No other module prints. Commands get a :class:`UI` from the app and call it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from stylepipe.errors import StylepipeError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from stylepipe.engine.job import BatchSummary


NO_WRAP_WIDTH = 10_000
"""Columns of a console that is not a terminal (a pipe, a log file): nothing is wrapped
at 80 columns there. ``COLUMNS`` in the environment still wins."""


class UI:
    """Messages and tables on stderr, machine-readable data on stdout. ``quiet`` (``-q``)
    leaves errors only: no progress, information, success lines or warnings."""

    def __init__(
        self, *, quiet: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.quiet = quiet
        self._stdout = stdout
        # emoji=False: a location such as "--filter 2:x:" must not turn into an emoji
        self.out = _console(
            Console(file=stdout or sys.stdout, highlight=False, soft_wrap=True, emoji=False)
        )
        self.err = _console(
            Console(file=stderr or sys.stderr, highlight=False, stderr=stderr is None, emoji=False)
        )

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, markup=False)

    def success(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[green]{_escape(message)}[/green]")

    def warn(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[yellow]warning:[/yellow] {_escape(message)}")

    def error(self, error: BaseException | str) -> None:
        """One ``error:`` line (and its hint) per error; an error that holds several
        (``errors``, as :class:`~stylepipe.errors.PipelineErrors`) shows each."""
        for one in getattr(error, "errors", None) or [error]:
            if isinstance(one, StylepipeError):
                self.err.print(f"[red]error:[/red] {_escape(one.headline)}")
                if one.hint:
                    self.err.print(f"  [dim]hint:[/dim] {_escape(one.hint)}")
            else:
                self.err.print(f"[red]error:[/red] {_escape(str(one))}")

    def data(self, text: str) -> None:
        """Plain data on stdout (no markup, no wrapping)."""
        stream = self._stdout or sys.stdout
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()

    def json(self, value: Any) -> None:
        self.data(json.dumps(value, indent=2, sort_keys=False, default=str))

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        title: str | None = None,
        to_stdout: bool = True,
    ) -> None:
        table = Table(title=title, show_lines=False, header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        (self.out if to_stdout else self.err).print(table)

    def picture(self, image: PILImage, *, columns: int = 48) -> bool:
        """A small rendering of ``image`` on stdout when it is a terminal: each character
        cell is an upper half block coloured with two pixels (foreground above,
        background below). Returns False, printing nothing, when stdout is not a terminal."""
        if not self.out.is_terminal:
            return False
        import numpy as np
        from PIL import Image
        from rich.color import Color
        from rich.style import Style

        rgb = image.convert("RGB")
        width = max(1, min(columns, self.out.width, rgb.width))
        height = max(2, round(rgb.height * width / rgb.width / 2) * 2)
        pixels = np.asarray(rgb.resize((width, height), Image.Resampling.BOX)).tolist()
        text = Text()
        for y in range(0, height, 2):
            for x in range(width):
                top, bottom = pixels[y][x], pixels[y + 1][x]
                style = Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom))
                text.append("\u2580", style=style)
            text.append("\n")
        self.out.print(text, end="")
        return True

    def batch_progress(self, total: int) -> BatchProgress:
        """A progress display on stderr for ``total`` files (silent when quiet)."""
        return BatchProgress(self.err, total, enabled=not self.quiet)

    def batch_summary(self, summary: BatchSummary) -> None:
        """Counts, speed and one line per failure, on stderr. Failures and an
        interruption are shown even when quiet."""
        if not self.quiet or summary.failed or summary.interrupted:
            self.err.print(_summary_line(summary), markup=False, highlight=False)
        if summary.failures:
            table = Table(title="failures", header_style="bold", title_justify="left")
            table.add_column("file", overflow="fold")
            table.add_column("reason", overflow="fold")
            for failure in summary.failures:
                table.add_row(str(failure.source), failure.reason)
            self.err.print(table)
        remaining = plural(summary.remaining, "file")
        if summary.interrupted:
            self.err.print(
                f"[yellow]interrupted:[/yellow] {remaining} not processed; "
                "run the same command with --skip-existing to finish"
            )
        elif summary.stopped:
            self.err.print(
                f"[red]stopped:[/red] {_escape(summary.stopped)}; {remaining} not processed"
            )


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 file``, ``2 files``; ``nouns`` for an irregular plural."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def _summary_line(summary: BatchSummary) -> str:
    """``3 done, 1 failed of 4 files (2.0 s, 1.50 images/s); style: starry-night
    (default); ignored: 2 hidden``."""
    parts = [f"{summary.done} done"]
    if summary.skipped:
        parts.append(f"{summary.skipped} skipped (output exists)")
    parts.append(f"{summary.failed} failed")
    speed = f"{summary.elapsed:.1f} s"
    if summary.done:
        speed += f", {summary.images_per_second:.2f} images/s"
    line = f"{', '.join(parts)} of {plural(summary.total, 'file')} ({speed})"
    if summary.models:
        line += "; " + ", ".join(str(m) for m in summary.models)
    left_out = []
    if summary.hidden:
        left_out.append(f"{summary.hidden} hidden")
    if summary.non_images:
        left_out.append(f"{summary.non_images} not images")
    if summary.in_subfolders:
        left_out.append(f"{summary.in_subfolders} in subfolders (add --recursive)")
    return line + ("; ignored: " + ", ".join(left_out) if left_out else "")


class _RateColumn(ProgressColumn):
    """Images written per second since the start (rich's speed column counts bytes,
    and would count failed and skipped files as if processed); ``--`` before the first."""

    def render(self, task: Task) -> Text:
        done = task.fields.get("done", 0)
        elapsed = task.elapsed
        if not done or not elapsed:
            return Text("-- img/s", style="cyan")
        return Text(f"{done / elapsed:.2f} img/s", style="cyan")


class ProgressDisplay:
    """A live rich progress display of one task on a console (the UI's stderr); a context
    manager that shows nothing when not ``enabled`` (quiet). Subclasses give the columns
    and the task (``task``: what :meth:`rich.progress.Progress.add_task` takes besides the
    description: total, completed, custom fields), and update it through ``_progress``
    and ``_task`` when ``_progress`` is set."""

    def __init__(
        self,
        console: Console,
        columns: Sequence[ProgressColumn | str],
        description: str,
        *,
        enabled: bool = True,
        **task: Any,
    ) -> None:
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(*columns, console=console, transient=False)
            self._task = self._progress.add_task(description, **task)

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._finish(self._progress)
            self._progress.stop()

    def _finish(self, progress: Progress) -> None:
        """Last change to the display before it stops (none by default)."""


class BatchProgress(ProgressDisplay):
    """Files done/total, bar, images/s, ETA and the current file; a context manager."""

    def __init__(self, console: Console, total: int, *, enabled: bool = True) -> None:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}", markup=False),
        )
        super().__init__(
            console, columns, "processing", enabled=enabled, total=total, current="", done=0
        )
        self._done = 0

    def _finish(self, progress: Progress) -> None:
        progress.update(self._task, current="")

    def current(self, name: str) -> None:
        """Show the file being filtered now."""
        if self._progress is not None:
            self._progress.update(self._task, current=name)

    def advance(self, status: str) -> None:
        """One more file finished (done, skipped or failed)."""
        if self._progress is not None:
            self._done += status == "done"
            self._progress.update(self._task, advance=1, done=self._done)


def _console(console: Console) -> Console:
    """``console``, made as wide as :data:`NO_WRAP_WIDTH` when it is not a terminal and
    ``COLUMNS`` does not say otherwise."""
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = NO_WRAP_WIDTH
    return console


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
