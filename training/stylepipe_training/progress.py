"""Live training progress on stderr: step/total, images/s, each loss term, ETA.

Rendered with rich on the :class:`stylepipe.ui.UI`'s stderr console (nothing here
writes to stdout). When stderr is not a terminal (a background job writing a log)
rich draws nothing live, and the loop's checkpoint lines carry the progress instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from stylepipe.ui import UI, ProgressDisplay


def format_terms(terms: Mapping[str, float]) -> str:
    """``total 1.23 content 0.5 ...`` with 3 significant digits."""
    return " ".join(f"{k} {v:.3g}" for k, v in terms.items())


class TrainingProgress(ProgressDisplay):
    """A context manager showing one training run's progress (silent when quiet)."""

    def __init__(self, ui: UI, title: str, total: int, completed: int = 0) -> None:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}", style="cyan"),
            TextColumn("{task.fields[losses]}", markup=False),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        super().__init__(
            ui.err,
            columns,
            title,
            enabled=not ui.quiet,
            total=total,
            completed=completed,
            rate="-- img/s",
            losses="",
        )

    def update(self, step: int, images_per_s: float, terms: Mapping[str, float]) -> None:
        """Show that ``step`` steps are done, the speed and the latest loss terms."""
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=step,
                rate=f"{images_per_s:.2f} img/s",
                losses=format_terms(terms),
            )
