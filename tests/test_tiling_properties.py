"""Property tests of the tile planner and blend weights (stylepipe.tiling.plan)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stylepipe.tiling.plan import align_up, axis_weights, plan_axis, plan_tiles, tile_weights


@st.composite
def axes(draw: st.DrawFn) -> tuple[int, int, int, int, int]:
    multiple = draw(st.sampled_from([1, 2, 4, 8]))
    length = multiple * draw(st.integers(1, 80))
    tile = draw(st.integers(1, 300))
    halo = draw(st.integers(0, 70))
    overlap = draw(st.integers(0, 24))
    return length, tile, halo, multiple, overlap


@settings(max_examples=300, deadline=None)
@given(axes())
def test_cores_partition_the_axis_in_aligned_tiles_no_larger_than_asked(case) -> None:
    length, tile, halo, multiple, overlap = case
    spans = plan_axis(length, tile, halo=halo, multiple=multiple, overlap=overlap)
    limit = max(multiple, tile // multiple * multiple)
    assert spans[0].core[0] == 0 and spans[-1].core[1] == length
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.core[1] == b.core[0]
    for span in spans:
        c0, c1 = span.core
        assert 0 < c1 - c0 <= limit
        assert c0 % multiple == 0 and c1 % multiple == 0
    sizes = [s.core[1] - s.core[0] for s in spans]
    assert max(sizes) - min(sizes) <= multiple  # balanced: no sliver at the end


@settings(max_examples=300, deadline=None)
@given(axes())
def test_read_regions_hold_the_halo_within_the_image_on_the_stride_grid(case) -> None:
    length, tile, halo, multiple, overlap = case
    spans = plan_axis(length, tile, halo=halo, multiple=multiple, overlap=overlap)
    halo_aligned = align_up(halo, multiple)
    for span in spans:
        (c0, c1), (o0, o1), (r0, r1) = span.core, span.out, span.read
        assert 0 <= r0 <= o0 <= c0 < c1 <= o1 <= r1 <= length
        assert r0 % multiple == 0 and r1 % multiple == 0 and o0 % multiple == 0
        assert o0 - r0 == min(halo_aligned, o0)  # full halo unless the border clips it
        assert r1 - o1 == min(halo_aligned, length - o1)


@settings(max_examples=300, deadline=None)
@given(axes(), st.sampled_from([1, 2, 4, 8]))
def test_blend_weights_sum_to_one_everywhere(case, scale) -> None:
    length, tile, halo, multiple, overlap = case
    spans = plan_axis(length, tile, halo=halo, multiple=multiple, overlap=overlap)
    total = torch.zeros(length * scale, dtype=torch.float64)
    for span in spans:
        w = axis_weights(span, length, scale)
        assert w.shape[0] == (span.out[1] - span.out[0]) * scale
        assert bool((w >= 0).all()) and bool((w <= 1).all())
        total[span.out[0] * scale : span.out[1] * scale] += w.double()
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(axes(), st.integers(1, 80))
def test_2d_cores_cover_every_pixel_exactly_once_and_weights_sum_to_one(rows, units) -> None:
    h, tile, halo, multiple, overlap = rows
    w = units * multiple
    tiles = plan_tiles(h, w, tile, halo=halo, multiple=multiple, overlap=overlap)
    owners = torch.zeros(h, w, dtype=torch.int32)
    weight = torch.zeros(h, w, dtype=torch.float64)
    for t in tiles:
        owners[t.ys.core[0] : t.ys.core[1], t.xs.core[0] : t.xs.core[1]] += 1
        weight[t.ys.out[0] : t.ys.out[1], t.xs.out[0] : t.xs.out[1]] += tile_weights(
            t, h, w
        ).double()
        rh, rw = t.ys.read[1] - t.ys.read[0], t.xs.read[1] - t.xs.read[0]
        assert rh <= h and rw <= w
    assert bool((owners == 1).all())
    assert torch.allclose(weight, torch.ones_like(weight), atol=1e-6)


def test_overlap_is_dropped_when_tiles_are_too_small_for_two_ramps() -> None:
    spans = plan_axis(40, 8, halo=4, multiple=4, overlap=8)
    assert all(s.ramp == 4 for s in spans)  # capped at half of the 8-pixel cores
    spans = plan_axis(40, 4, halo=4, multiple=4, overlap=8)
    assert all(s.ramp == 0 for s in spans)  # half of 4 is not a multiple of 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"length": 10, "tile": 8, "halo": 0, "multiple": 4},  # not padded to the multiple
        {"length": 0, "tile": 8, "halo": 0},
        {"length": 8, "tile": 0, "halo": 0},
        {"length": 8, "tile": 8, "halo": -1},
    ],
)
def test_bad_geometry_is_refused(kwargs) -> None:
    length, tile = kwargs.pop("length"), kwargs.pop("tile")
    with pytest.raises(ValueError):
        plan_axis(length, tile, **kwargs)
