"""Per-channel histogram matching, the post-processing Johnson et al. (2016) apply to
their super-resolution outputs: each output channel's values are remapped so that their
distribution matches the low-resolution input's, which removes small colour and
brightness shifts the network introduces.

The output (large) gets a binned cumulative histogram, read with linear interpolation
inside each bin; the input (small) gets its exact quantile function from sorted values.
"""

from __future__ import annotations

import numpy as np

BINS = 16384  # finer than 16-bit steps would need for visible accuracy; cheap to count


def match_histograms(source: np.ndarray, reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """``source`` (H, W, C) float in [0, 1] remapped channel by channel to the value
    distribution of ``reference`` (h, w, C); returns float32 of ``source``'s shape."""
    if source.shape[-1] != reference.shape[-1]:
        raise ValueError(f"channel counts differ: {source.shape} vs {reference.shape}")
    out = np.empty(source.shape, dtype=np.float32)
    for c in range(source.shape[-1]):
        out[..., c] = _match_channel(source[..., c], reference[..., c], bins)
    return out


def _match_channel(source: np.ndarray, reference: np.ndarray, bins: int) -> np.ndarray:
    values = np.clip(source.astype(np.float64), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts, _ = np.histogram(values, bins=edges)
    cdf = np.concatenate([[0.0], np.cumsum(counts, dtype=np.float64)]) / values.size
    quantiles = np.interp(values, edges, cdf)
    ordered = np.sort(reference.astype(np.float64), axis=None)
    positions = np.linspace(0.0, 1.0, ordered.size) if ordered.size > 1 else np.zeros(1)
    return np.interp(quantiles, positions, ordered).astype(np.float32)
