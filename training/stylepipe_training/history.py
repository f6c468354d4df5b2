"""The loss history of a run: one row per step, saved as CSV and drawn as a PNG.

The plot is drawn with Pillow (a log-scale line per loss term, smoothed by a moving
average): enough to see whether a run converges, without adding matplotlib.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


class LossHistory:
    """Rows of ``step, total, <term>...`` kept in memory and in checkpoints."""

    def __init__(self, terms: Sequence[str], rows: Sequence[Sequence[float]] = ()) -> None:
        self.terms = tuple(terms)
        self.rows: list[list[float]] = [list(r) for r in rows]

    @property
    def columns(self) -> tuple[str, ...]:
        return ("step", *self.terms)

    def append(self, step: int, values: Mapping[str, float]) -> None:
        self.rows.append([float(step), *(float(values[t]) for t in self.terms)])

    def column(self, term: str) -> list[float]:
        index = self.columns.index(term)
        return [row[index] for row in self.rows]

    def state(self) -> dict[str, Any]:
        return {"terms": list(self.terms), "rows": self.rows}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LossHistory:
        return cls(state["terms"], state["rows"])

    def write_csv(self, path: Path) -> None:
        """Write the history atomically (temporary file, then rename)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([int(row[0]), *(f"{v:.6g}" for v in row[1:])])
        _atomic_write(path, buffer.getvalue().encode())

    def write_plot(self, path: Path, *, size: tuple[int, int] = (720, 400)) -> None:
        """Draw every term on a log scale against the step and save it as PNG."""
        image = plot(self, size)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        _atomic_write(path, buffer.getvalue())


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average over ``window`` values."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot(history: LossHistory, size: tuple[int, int]) -> Image.Image:
    """The loss curves as a Pillow image (white background, legend top right)."""
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 60, width - 10, 10, height - 30
    draw.rectangle((left, top, right, bottom), outline="black")
    steps = history.column("step")
    window = max(1, len(steps) // 50)
    curves = {t: smooth([max(v, 1e-12) for v in history.column(t)], window) for t in history.terms}
    positive = [v for c in curves.values() for v in c if v > 1e-12]
    if not steps or not positive:
        draw.text((left + 10, top + 10), "no data yet", fill="black")
        return image
    lo, hi = math.log10(min(positive)), math.log10(max(positive))
    hi = hi if hi > lo else lo + 1.0
    first, last = steps[0], steps[-1] if steps[-1] > steps[0] else steps[0] + 1

    def xy(step: float, value: float) -> tuple[float, float]:
        x = left + (step - first) / (last - first) * (right - left)
        y = bottom - (math.log10(max(value, 10**lo)) - lo) / (hi - lo) * (bottom - top)
        return x, y

    for decade in range(math.floor(lo), math.ceil(hi) + 1):
        if lo <= decade <= hi:
            y = xy(first, 10.0**decade)[1]
            draw.line((left, y, right, y), fill="#dddddd")
            draw.text((4, y - 6), f"1e{decade}", fill="black")
    for i, (term, values) in enumerate(curves.items()):
        colour = COLOURS[i % len(COLOURS)]
        draw.line([xy(s, v) for s, v in zip(steps, values, strict=True)], fill=colour, width=2)
        draw.text((right - 90, top + 6 + 14 * i), term, fill=colour)
    draw.text((left, bottom + 8), f"step {int(first)}", fill="black")
    draw.text((right - 80, bottom + 8), f"step {int(last)}", fill="black")
    return image


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
