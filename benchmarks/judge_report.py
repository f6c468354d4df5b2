"""The report of ``judge.py``: Markdown tables and side-by-side sheets (photo | ours |
Johnson's | painting). The sheets show paintings and reference outputs whose licences
forbid shipping them: they stay in ``runs/`` (git-ignored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

CELL = 256  # sheet row height in pixels
Cell = tuple[str, Any]  # (title, (1, 3, H, W) tensor, a painting's path, or None: grey)


def _near(v: dict[str, Any] | None) -> str:
    if v is None:
        return "-"
    if v["recognised"] is None:
        return f"{v['nearest']} (own painting not in style_images)"
    if v["recognised"]:
        return f"yes (next {v['nearest_other']} x{v['margin']:.2f})"
    return f"no: {v['nearest']} {v['distances'][v['nearest']]:.3f}"


def _num(v: dict[str, Any] | None, key: str) -> str:
    return "-" if v is None or v.get(key) is None else f"{v[key]:.3f}"


def markdown(results: dict[str, Any]) -> str:
    head = "| model | photo | painting | style: own | own nearest? | content |"
    lines = [head + " Johnson: own | Johnson nearest? | Johnson content |"]
    lines.append("|---" * 9 + "|")
    for m in results.get("models", []):
        for r in m["rows"]:
            ours, theirs = r["ours"], r.get("johnson")
            lines.append(
                f"| {m['model']} | {r['photo']} | {m['painting']} | {_num(ours, 'own')} | "
                f"{_near(ours)} | {_num(ours, 'content')} | {_num(theirs, 'own')} | "
                f"{_near(theirs)} | {_num(theirs, 'content')} |"
            )
    refs = results.get("references", [])
    if refs:
        lines = [] if not results.get("models") else [*lines, ""]
        lines += ["| reference | painting | style: own | nearest? | content |", "|---" * 5 + "|"]
        for v in refs:
            lines.append(
                f"| {v['reference']} | {v['painting']} | {_num(v, 'own')} | {_near(v)} | "
                f"{_num(v, 'content')} |"
            )
        hits = [v for v in refs if v["recognised"]]
        lines.append(f"\nrecognised as their painting: {len(hits)} of {len(refs)}")
    return "\n".join(lines)


def _picture(image: Any) -> Image.Image:
    if image is None:
        return Image.new("RGB", (CELL, CELL), (128, 128, 128))
    if isinstance(image, Path):
        return Image.open(image).convert("RGB")
    return Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def save_sheet(rows: list[list[Cell]], path: Path) -> None:
    """A JPEG of the rows, every cell scaled to the same height, with its title."""
    cells = []
    for row in rows:
        for title, image in row:
            pil = _picture(image)
            pil = pil.resize((max(1, round(pil.width * CELL / pil.height)), CELL))
            draw = ImageDraw.Draw(pil)
            draw.text((4, 4), title, fill=(255, 255, 255), stroke_width=2, stroke_fill=0)
            cells.append(pil)
    n = len(rows[0])
    widths = [max(c.width for c in cells[i::n]) for i in range(n)]
    sheet = Image.new("RGB", (sum(widths), CELL * len(rows)), (255, 255, 255))
    for i, cell in enumerate(cells):
        sheet.paste(cell, (sum(widths[: i % n]), CELL * (i // n)))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)
