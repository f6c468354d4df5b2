"""Live training progress on stderr: step/total, images/s, each loss term, ETA.

Rendered with rich on the :class:`stylepipe.ui.UI`'s stderr console (nothing here
writes to stdout). When stderr is not a terminal (a background job writing a log)
rich draws nothing live, and the loop's checkpoint lines carry the progress instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from stylepipe.ui import UI


def format_terms(terms: Mapping[str, float]) -> str:
    """``total 1.23 content 0.5 ...`` with 3 significant digits."""
    return " ".join(f"{k} {v:.3g}" for k, v in terms.items())


class TrainingProgress:
    """A context manager showing one training run's progress (silent when quiet)."""

    def __init__(self, ui: UI, title: str, total: int, completed: int = 0) -> None:
        self._progress: Progress | None = None
        if ui.quiet:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}", style="cyan"),
            TextColumn("{task.fields[losses]}", markup=False),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=ui.err,
            transient=False,
        )
        self._task = self._progress.add_task(
            title, total=total, completed=completed, rate="-- img/s", losses=""
        )

    def __enter__(self) -> TrainingProgress:
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
            self._progress.stop()

    def update(self, step: int, images_per_s: float, terms: Mapping[str, float]) -> None:
        """Show that ``step`` steps are done, the speed and the latest loss terms."""
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=step,
                rate=f"{images_per_s:.2f} img/s",
                losses=format_terms(terms),
            )
