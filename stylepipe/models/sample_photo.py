"""The photo stylepipe ships inside its package: previews of shared packs are made from
it (never from the trainer's own photos), and imported weights are tried on it.

Chelsea the cat, by Stefan van der Walt, CC0 (scikit-image sample data; see
``samples/LICENSES.md``), 384x255 pixels.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

SAMPLE_PHOTO = Path(__file__).resolve().parent.parent / "data" / "chelsea.jpg"
SAMPLE_CREDIT = "Chelsea the cat by Stefan van der Walt (CC0, scikit-image sample data)"


def sample_photo(long_side: int | None = None) -> Image.Image:
    """The shipped photo as RGB, shrunk to ``long_side`` pixels when given."""
    with Image.open(SAMPLE_PHOTO) as opened:
        photo = opened.convert("RGB")
    if long_side is not None:
        photo.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    return photo
