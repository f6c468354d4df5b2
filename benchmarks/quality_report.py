"""Tables and pictures of ``quality.py``: Markdown tables ready for the README and
labelled image grids (SR crops, style strips)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from PIL import Image, ImageDraw
from stylepipe_training.images import to_image

CAPTION = 16  # pixels of caption band above each picture
GAP = 4


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a table: ``-`` when missing, ``inf`` for infinity, else rounded
    to ``digits`` significant figures (or fixed decimals for values >= 1000)."""
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:.0f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def style_summary(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Means over the photos of one (model, size): network losses and seconds, Gatys
    losses and seconds per checkpoint, and the time Gatys took to reach the network's
    total loss (over the photos where Gatys ran)."""
    net = {k: _mean([r["network"][k] for r in runs]) for k in runs[0]["network"]}
    optimised = [r for r in runs if r.get("gatys")]
    marks: dict[int, dict[str, float | None]] = {}
    for r in optimised:
        for mark in r["gatys"]["checkpoints"]:
            marks.setdefault(mark["iteration"], {})
    for it in marks:
        rows = [m for r in optimised for m in r["gatys"]["checkpoints"] if m["iteration"] == it]
        marks[it] = {k: _mean([m[k] for m in rows]) for k in rows[0] if k != "iteration"}
    reached = [r["gatys"]["reach"] for r in optimised if r["gatys"]["reach"]]
    net_s = _mean([r["network"]["seconds"] for r in optimised])
    net_total = _mean([r["network"]["total"] for r in optimised])
    reach_s = _mean([x["seconds"] for x in reached]) if len(reached) == len(optimised) else None
    return {
        "photos": len(runs),
        "gatys_photos": len(optimised),
        "network": net,
        "gatys": marks,
        "network_total_on_gatys_photos": net_total,
        "network_seconds_on_gatys_photos": net_s,
        "reached": f"{len(reached)}/{len(optimised)}",
        "reach_seconds": reach_s,
        "reach_iterations": _mean([x["iteration"] for x in reached]) if reached else None,
        "speedup": reach_s / net_s if reach_s and net_s else None,
    }


def style_tables(summaries: Sequence[Mapping[str, Any]]) -> str:
    """The losses table (means over the photos each method ran on) and the speed table
    (network and Gatys compared on the photos Gatys ran on)."""
    loss_rows, speed_rows = [], []
    for s in summaries:
        key = [s["model"], str(s["size"])]
        net = s["network"]
        loss_rows.append([*key, "network", str(s["photos"]), *_terms(net), fmt(net["seconds"])])
        for it, mark in s["gatys"].items():
            photos = str(s["gatys_photos"])
            loss_rows.append([*key, f"Gatys {it} it", photos, *_terms(mark), fmt(mark["seconds"])])
        last = s["gatys"][max(s["gatys"])] if s["gatys"] else None
        net_s, net_total = s["network_seconds_on_gatys_photos"], s["network_total_on_gatys_photos"]
        speed_rows.append(
            [
                *key,
                fmt(net["seconds"]),
                f"{fmt(s['reach_seconds'])} ({fmt(s['reach_iterations'])} it, {s['reached']})",
                fmt(s["speedup"]),
                fmt(last["seconds"] / net_s) if last else "-",
                fmt(last["total"] / net_total) if last else "-",
            ]
        )
    losses = markdown_table(
        ["style", "size", "method", "photos", "content", "style", "TV", "total", "s/image"],
        loss_rows,
    )
    speed = markdown_table(
        [
            "style",
            "size",
            "network s",
            "Gatys s to network loss (it, photos)",
            "speed-up",
            "last Gatys s / network s",
            "last Gatys loss / network loss",
        ],
        speed_rows,
    )
    return losses + "\n\n" + speed


def _terms(values: Mapping[str, float | None]) -> list[str]:
    return [fmt(values[k]) for k in ("content", "style", "tv", "total")]


def sr_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One protocol's table: a row per (set, scale, method)."""
    return markdown_table(
        ["set", "scale", "method", "PSNR (dB)", "SSIM", "sharpness", "grid", "images", "LR"],
        [
            [
                r["set"],
                f"x{r['scale']}",
                r["method"],
                "-" if r["psnr"] is None else f"{r['psnr']:.2f}",
                f"{r['ssim']:.4f}",
                f"{r['sharpness']:.3f}",
                f"{r['grid']:.3f}",
                str(r["images"]),
                r["lr"],
            ]
            for r in rows
        ],
    )


def caption(image: Image.Image, text: str) -> Image.Image:
    """The image under a white band with ``text``."""
    out = Image.new("RGB", (image.width, image.height + CAPTION), "white")
    out.paste(image, (0, CAPTION))
    ImageDraw.Draw(out).text((2, 2), text, fill="black")
    return out


def grid(rows: Sequence[Sequence[tuple[str, torch.Tensor]]], zoom: int = 1) -> Image.Image:
    """Captioned pictures in rows (each row left to right), enlarged ``zoom`` times with
    nearest-neighbour so pixels stay visible."""
    pictures = []
    for row in rows:
        cells = []
        for text, tensor in row:
            image = to_image(tensor)
            if zoom > 1:
                size = (image.width * zoom, image.height * zoom)
                image = image.resize(size, Image.Resampling.NEAREST)
            cells.append(caption(image, text))
        pictures.append(cells)
    width = max(sum(c.width for c in cells) + GAP * (len(cells) - 1) for cells in pictures)
    height = sum(max(c.height for c in cells) for cells in pictures) + GAP * (len(pictures) - 1)
    canvas = Image.new("RGB", (width, height), "white")
    y = 0
    for cells in pictures:
        x = 0
        for cell in cells:
            canvas.paste(cell, (x, y))
            x += cell.width + GAP
        y += max(c.height for c in cells) + GAP
    return canvas
