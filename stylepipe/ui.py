"""All terminal output goes through here: rich on stderr for people, stdout for data.

No other module prints. Commands get a :class:`UI` from the app and call it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from .errors import StylepipeError


class UI:
    """Messages and tables on stderr, machine-readable data on stdout."""

    def __init__(
        self, *, quiet: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.quiet = quiet
        self._stdout = stdout
        self.out = Console(file=stdout or sys.stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=stderr or sys.stderr, highlight=False, stderr=stderr is None)

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message, markup=False)

    def success(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[green]{_escape(message)}[/green]")

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {_escape(message)}")

    def error(self, error: BaseException | str) -> None:
        if isinstance(error, StylepipeError):
            self.err.print(f"[red]error:[/red] {_escape(error.headline)}")
            if error.hint:
                self.err.print(f"  [dim]hint:[/dim] {_escape(error.hint)}")
        else:
            self.err.print(f"[red]error:[/red] {_escape(str(error))}")

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


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
