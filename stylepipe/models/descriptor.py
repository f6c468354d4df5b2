"""Helpers of the model descriptor (:class:`stylepipe.models.loading.LoadedModel`): how an image
is padded for a network, and the check of its output (NaN/Inf, black, one flat colour)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import torch

    from stylepipe.tiling.io import Sink


BLACK = 2 / 255  # an output whose brightest pixel is this dark is black
BRIGHT = 0.1  # ... which is a failure when the input's brightest pixel is above this
BLACK_OUTPUT = "is black"
MIN_PIXELS = 16 * 16  # ... and the input at least this large


class CheckedSink:
    """Passes output bands on while watching for what reduced precision can break:
    NaN/Inf, and an output of one flat colour (overflow saturating every pixel)."""

    def __init__(self, sink: Sink, white: float) -> None:
        self.sink, self.white = sink, white
        self.finite = True
        self.low, self.high = float("inf"), float("-inf")

    def __call__(self, top: int, band: torch.Tensor) -> None:
        import torch

        if self.finite and not bool(torch.isfinite(band).all()):
            self.finite = False
        if self.finite:
            self.low = min(self.low, float(band.amin()))
            self.high = max(self.high, float(band.amax()))
        self.sink(top, band)

    def problem(self, *, flat_input: bool, bright_input: bool = False) -> str | None:
        """Why the output cannot be right, or ``None``: NaN/Inf; black (every pixel at
        most :data:`BLACK`) from an input that is not dark (``bright_input``); one flat
        colour from an input that is not flat."""
        if not self.finite:
            return "has NaN or Inf values"
        low, high = (min(max(v, 0.0), self.white) for v in (self.low, self.high))
        if bright_input and high <= BLACK * self.white:
            return BLACK_OUTPUT
        if high - low <= 1e-6 * self.white and not flat_input:
            return "is blank (one flat colour)"
        return None


def input_levels(pixels: np.ndarray) -> tuple[bool, bool]:
    """(flat, bright) of an input image (float in [0, 1], or unsigned integers): all its
    pixels are equal; it is bright enough, not flat and large enough (at least
    :data:`MIN_PIXELS`; tiny images make instance norms degenerate) that a black
    output from it is a failure."""
    import numpy as np

    low, high = float(pixels.min()), float(pixels.max())
    white = float(np.iinfo(pixels.dtype).max) if pixels.dtype.kind in "ui" else 1.0
    large = pixels.shape[0] * pixels.shape[1] >= MIN_PIXELS
    return low == high, large and low != high and high > BRIGHT * white


def plan_padding(
    height: int, width: int, multiple: int, min_size: int = 1
) -> tuple[tuple[int, int], tuple[int, int], str]:
    """How to pad a ``height`` x ``width`` image for a network: the padded (height,
    width), multiples of ``multiple`` and at least ``min_size``; the (top, left) offset
    of the original, the padding split evenly between opposite sides; and the mode,
    ``reflect``, or ``replicate`` where the image is too small to reflect that far."""

    def target(n: int) -> int:
        n = max(n, min_size, 1)
        return -(-n // multiple) * multiple

    ph, pw = target(height) - height, target(width) - width
    top, left = ph // 2, pw // 2
    fits = max(left, pw - left) < width and max(top, ph - top) < height
    return (height + ph, width + pw), (top, left), "reflect" if fits else "replicate"


def pad_to_fit(
    x: torch.Tensor, multiple: int, min_size: int = 1
) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(B, C, H, W)`` padded as :func:`plan_padding` says (what the descriptor feeds the
    network, made real); returns the padded tensor and the (top, left) offset."""
    import torch.nn.functional as F

    h, w = int(x.shape[-2]), int(x.shape[-1])
    (ph, pw), (top, left), mode = plan_padding(h, w, multiple, min_size)
    if (ph, pw) == (h, w):
        return x, (0, 0)
    pads = (left, pw - w - left, top, ph - h - top)
    return F.pad(x, pads, mode=mode), (top, left)
