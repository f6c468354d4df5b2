"""Render the README gallery: every bundled style on two sample photos.

    python samples/gallery.py                 writes docs/gallery/, prints the Markdown table
    python samples/gallery.py --width 384 --out docs/gallery chelsea.jpg astronaut.jpg

Each photo is resized to ``--width`` pixels wide and stylized at that size (the strokes
then show at the gallery's scale), saved as ``<style>_<photo>.jpg`` (JPEG quality 85).
The photos themselves go in as ``photo_<photo>.jpg`` and each style's thumbnail, where
its pack ships one, as ``<style>_style.jpg``. Runs the CLI in-process, so the pictures
are exactly what ``stylepipe run`` makes. The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from stylepipe.app import App
from stylepipe.cli import main
from stylepipe.models.spec import ModelSpec
from stylepipe.plugins import load_plugins

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PHOTOS = HERE / "photos"
DEFAULT_PHOTOS = ("chelsea.jpg", "astronaut.jpg")
DEFAULT_OUT = REPO / "docs" / "gallery"
BUNDLED_STYLES = "stylepipe_style"
QUALITY = 85


def bundled_styles() -> list[ModelSpec]:
    """The style models that ship with stylepipe, by name."""
    catalog = App(load_plugins(entry_points=False)).catalog
    return [e.item for e in catalog.models if e.source == BUNDLED_STYLES]


def cli(*argv: str | Path) -> None:
    code = main([str(a) for a in argv])
    if code:
        raise SystemExit(f"gallery: stylepipe {' '.join(map(str, argv))} failed ({code})")


def render(photos: Sequence[Path], styles: Sequence[ModelSpec], out: Path, width: int) -> None:
    """The photos at ``width``, and each through each style."""
    common = ("--overwrite", "-q", "--format", "jpeg", "--quality", str(QUALITY))
    resize = f"resize:width={width}"
    for photo in photos:
        cli("run", photo, "-o", out, *common, "--filter", resize, "--name", "photo_{stem}{ext}")
    for spec in styles:
        sys.stderr.write(f"gallery: {spec.name}\n")
        for photo in photos:
            cli(
                *("run", photo, "-o", out, *common, "--filter", resize),
                *("--filter", f"style:model={BUNDLED_STYLES}/{spec.name}"),
                *("--name", f"{spec.name}_{{stem}}{{ext}}"),
            )


def style_thumbnail(spec: ModelSpec, out: Path, width: int) -> Path | None:
    """The pack's style image, at most ``width`` pixels wide, or ``None`` when the pack
    ships without one."""
    source = Path(spec.weights).parent / "style.jpg"
    if not source.is_file():
        return None
    target = out / f"{spec.name}_style.jpg"
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    image.thumbnail((width, width), Image.Resampling.LANCZOS)
    image.save(target, format="JPEG", quality=QUALITY, optimize=True)
    return target


def table(photos: Sequence[Path], styles: Sequence[ModelSpec], out: Path, width: int) -> str:
    """The README's Markdown table: a row per style, the photos as its first row."""
    rel = out.relative_to(REPO).as_posix() if out.is_relative_to(REPO) else out.as_posix()
    half = width // 2

    def img(name: str, alt: str, size: int = width) -> str:
        return f'<img src="{rel}/{name}" width="{size}" alt="{alt}">'

    header = "| style | " + " | ".join(p.stem for p in photos) + " |"
    rows = [header, "|---|" + "---|" * len(photos)]
    cells = [img(f"photo_{p.stem}.jpg", p.stem) for p in photos]
    rows.append("| (photo) | " + " | ".join(cells) + " |")
    for spec in styles:
        thumb = style_thumbnail(spec, out, half)
        label = f"**{spec.name}**<br>" + (
            img(thumb.name, f"{spec.name} style image", half)
            if thumb
            else "(style image not shipped)"
        )
        cells = [img(f"{spec.name}_{p.stem}.jpg", f"{p.stem} in {spec.name}") for p in photos]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main_gallery(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="samples/gallery.py",
        description="Render every bundled style on sample photos into docs/gallery and "
        "print the README's Markdown table.",
    )
    parser.add_argument("photos", nargs="*", default=DEFAULT_PHOTOS, help="names in samples/photos")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="gallery folder")
    parser.add_argument("--width", type=int, default=384, help="picture width in pixels")
    args = parser.parse_args(argv)
    photos = [PHOTOS / name for name in args.photos]
    missing = [str(p) for p in photos if not p.is_file()]
    styles = bundled_styles()
    if missing or not styles:
        why = f"no such photo: {', '.join(missing)}" if missing else "no bundled styles"
        sys.stderr.write(f"gallery: {why}\n")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    render(photos, styles, args.out, args.width)
    sys.stdout.write(table(photos, styles, args.out.resolve(), args.width) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main_gallery())
