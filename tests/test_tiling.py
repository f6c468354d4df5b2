"""Tiled inference equals full-frame inference (stylepipe.tiling.run), for the real network
classes at tiny widths with random weights, on a non-square odd-sized image."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from model_helpers import random_sr_net
from stylepipe_sr import tiling_policy as sr_policy
from stylepipe_style import tiling_policy as style_policy
from stylepipe_style.network import TransformerNet
from torch import nn

import stylepipe.tiling.job as tilejob
import stylepipe.tiling.run as tiling
from stylepipe.errors import ModelError, TileOutOfMemory, UsageError
from stylepipe.tiling.plan import plan_tiles
from stylepipe.tiling.policy import TilingPolicy
from stylepipe.tiling.run import ArraySink, ArraySource, run_tiled, run_tiled_stream

CPU = torch.device("cpu")
H, W = 53, 75  # odd and not square


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tiles are dominated by thread hand-offs on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _image(seed: int = 0, h: int = H, w: int = W) -> torch.Tensor:
    """Noise on a smooth gradient: texture everywhere, and a mean that differs by region."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([yy, xx, (yy + xx) / 2])[None]
    return (0.6 * base + 0.4 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)


def _padded(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflection-pad to the size multiple, as the model descriptor does."""
    ph, pw = (-x.shape[2]) % multiple, (-x.shape[3]) % multiple
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="reflect")


def _net(kind: str) -> tuple[nn.Module, TilingPolicy]:
    torch.manual_seed(1)
    if kind == "style":
        return TransformerNet(width=4, n_residual=2).eval(), style_policy(width=4, n_residual=2)
    scale = int(kind[2:])
    net = random_sr_net(scale=scale, width=4, n_residual=2, skip="bicubic")
    return net, sr_policy(scale=scale, width=4, n_residual=2, skip="bicubic")


def _full(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return net(x)


def _to8(y: torch.Tensor) -> np.ndarray:
    """Outputs of random networks squashed into [0, 1] and quantized to 8 bits."""
    return np.rint(torch.sigmoid(y).numpy() * 255).astype(np.int16)


# tile sizes per network: smaller than its halo (40 / 15 / 16), larger ones, whole.
# Style: the segmented path (trunk kept on the host; tile 4 gives 1-pixel trunk tiles,
# too short to update in place) and the streaming one (cache_budget=0: no trunk kept).
CASES = [
    ("style", 4, None),
    ("style", 12, None),
    ("style", 44, None),
    ("style", 12, 0),
    ("style", 28, 0),
    ("style", 0, None),
    ("sr4", 8, None),
    ("sr4", 24, None),
    ("sr4", 40, None),
    ("sr8", 10, None),
    ("sr8", 32, None),
]


@pytest.mark.parametrize(("kind", "tile", "cache_budget"), CASES)
def test_tiled_output_equals_full_frame(kind: str, tile: int, cache_budget: float | None) -> None:
    net, policy = _net(kind)
    x = _padded(_image(), policy.multiple)
    full = _full(net, x)
    assert 0.3 < float(full.abs().max()) < 10  # O(1) outputs: the tolerance means something
    tiled = run_tiled(net, x, policy, tile=tile, device=CPU, cache_budget=cache_budget)
    assert tiled.shape == full.shape == (1, 3, x.shape[2] * policy.scale, x.shape[3] * policy.scale)
    assert float((tiled - full).abs().max()) < 1e-4
    a, b = _to8(tiled), _to8(full)
    assert np.mean(a == b) >= 0.999
    assert int(np.abs(a - b).max()) <= 1


def test_style_segments_take_the_fastest_cut_that_fits() -> None:
    """Cut 0: encoder to conv2 (two trunks at stride 2), in2-conv3, in3 in place, per
    block conv1 (keeping the block's input), in1-conv2 in place and the sum in place,
    then deconv1 (two trunks) and the rest: three trunks at most. Cut 1: encoder to
    conv3 and the decoder whole, two trunks. Cut 2: one in-place segment per block,
    one trunk."""
    net, policy = _net("style")
    runner, source = tiling.Runner(net, CPU, None), tiling.TensorSource(torch.zeros(1, 3, 56, 76))
    job = tilejob.TileJob(runner, source, policy, lambda top, band: None, "exact", 8, 1e9)
    plan = tilejob._segments(job, 12)
    assert plan is not None
    # image pixels, conv2's stride-2 pixels, trunk pixels, then deconv1's stride-2 pixels
    assert [side for _, side, _ in plan] == [12, 6] + [3] * 8 + [6]
    block = [False, True, True]  # conv1 into a new trunk; in1-conv2 and the sum in place
    in_place = [False, False, True, *block, *block, False, False]
    assert [in_place for *_, in_place in plan] == in_place
    assert [seg.keep for seg, *_ in plan][3:9:3] == ["block", "block"]
    assert [seg.skip for seg, *_ in plan][5:10:3] == ["block", "block"]
    trunk = TRUNK  # channels x (56/4) x (76/4) x float32
    assert len(tilejob._segments(dataclasses.replace(job, cache_budget=3 * trunk), 12)) == 11
    one = tilejob._segments(dataclasses.replace(job, cache_budget=3 * trunk - 1), 12)
    assert one is not None and [side for _, side, _ in one] == [12] + [3] * 8
    assert [in_place for *_, in_place in one] == [False, True, *block, *block, False]
    lean = tilejob._segments(dataclasses.replace(job, cache_budget=2 * trunk - 1), 12)
    assert lean is not None
    assert [side for _, side, _ in lean] == [12, 3, 3, 3]
    assert [in_place for *_, in_place in lean] == [False, True, True, False]
    # 1-pixel trunk tiles: cuts 0 and 1 still update in place (halos of 1 and 0), cut 2
    # cannot (a block's halo of 2 is more than a tile), so it needs two trunks too
    small = tilejob._segments(job, 4)
    assert small is not None and [in_place for *_, in_place in small][3:6] == block
    assert tilejob._segments(dataclasses.replace(job, cache_budget=2 * trunk - 1), 4) is None
    assert tilejob._segments(dataclasses.replace(job, cache_budget=trunk - 1), 12) is None
    # above the budget the lean cut may still take up to the limit, rather than streaming
    over = dataclasses.replace(job, cache_budget=trunk - 1, cache_limit=trunk)
    assert [side for _, side, _ in tilejob._segments(over, 12)] == [12, 3, 3, 3]
    assert tilejob._segments(dataclasses.replace(over, cache_limit=trunk - 1), 12) is None


def test_style_tiles_really_are_cut_and_stats_really_are_shared() -> None:
    """The plan used above does cut the image, and cutting it naively (each tile with its
    own instance-norm statistics, the CycleGAN#32 seam) is far from the full frame."""
    net, policy = _net("style")
    x = _padded(_image(), 4)
    tiles = plan_tiles(x.shape[2], x.shape[3], 28, halo=policy.halo, multiple=4)
    assert len(tiles) == 6
    naive = torch.zeros_like(x)
    for t in tiles:
        (r0, r1), (c0, c1) = t.ys.read, t.xs.read
        y = _full(net, x[:, :, r0:r1, c0:c1])
        (y0, y1), (x0, x1) = t.ys.core, t.xs.core
        naive[:, :, y0:y1, x0:x1] = y[:, :, y0 - r0 : y1 - r0, x0 - c0 : x1 - c0]
    assert float((naive - _full(net, x)).abs().max()) > 1e-2


@pytest.mark.parametrize("kind", ["style", "sr4"])
def test_without_the_halo_tiles_are_not_exact(kind: str) -> None:
    """The exactness above does depend on the halo (and the blend band alone is not it)."""
    net, policy = _net(kind)
    x = _padded(_image(), policy.multiple)
    short = TilingPolicy(policy.scale, policy.multiple, 0, policy.global_norm)
    tiled = run_tiled(net, x, short, tile=24, device=CPU, cache_budget=0)
    assert float((tiled - _full(net, x)).abs().max()) > 1e-3


def _receptive_radius(net: nn.Module, size: int, scale: int, phases: int) -> float:
    """Farthest reach (input pixels) of a one-pixel change, with instance-norm statistics
    frozen at the unperturbed image's (tiles share them): float64, every stride phase."""
    from stylepipe.tiling.globalnorm import GlobalNorm

    net = net.double().eval()
    x = torch.rand(
        1, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    c, reach = size // 2, 0.0
    with GlobalNorm(net) as norm, torch.inference_mode():
        norm.mode = "record"
        y = net(x)
        norm.mode = "apply"
        for dy in range(phases):
            for dx in range(phases):
                x2 = x.clone()
                x2[..., c + dy, c + dx] += 1.0
                changed = (net(x2) - y).abs().amax(dim=1)[0] > 0
                ys, xs = torch.nonzero(changed, as_tuple=True)
                for pos, p in ((ys, c + dy), (xs, c + dx)):
                    reach = max(reach, float(((pos + 0.5) / scale - (p + 0.5)).abs().max()))
    return reach


@pytest.mark.parametrize("n_residual", [1, 3, 5])
def test_style_halo_covers_the_measured_receptive_field(n_residual: int) -> None:
    net = TransformerNet(width=2, n_residual=n_residual)
    reach = _receptive_radius(net, 8 + 24 * n_residual, 1, 4)
    assert reach <= style_policy(width=2, n_residual=n_residual).halo
    assert reach > 8 * n_residual + 8  # the measurement sees through the residual trunk


@pytest.mark.parametrize(("scale", "n_residual"), [(2, 4), (4, 1), (4, 4), (8, 4)])
def test_sr_halo_covers_the_measured_receptive_field(scale: int, n_residual: int) -> None:
    net = random_sr_net(scale=scale, width=4, n_residual=n_residual)
    reach = _receptive_radius(net, 40, scale, 1)
    assert 4 < reach <= sr_policy(scale=scale, width=4, n_residual=n_residual).halo


class OomAbove(nn.Module):
    """Fault injection: the real network, failing like an allocator on inputs larger
    than ``limit`` pixels."""

    def __init__(self, net: nn.Module, limit: int, error: type[Exception]) -> None:
        super().__init__()
        self.net, self.limit, self.error = net, limit, error
        self.sizes: list[tuple[int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append((x.shape[2], x.shape[3]))
        if x.shape[2] * x.shape[3] > self.limit:
            if self.error is RuntimeError:
                raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to ...")
            raise self.error("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.net(x)


@pytest.mark.parametrize(
    ("kind", "size", "limit", "halvings", "error"),
    [
        ("style", (136, 184), 136 * 184 - 1, 1, torch.OutOfMemoryError),
        ("sr4", (H, W), 3500, 2, RuntimeError),  # a CPU allocator's message
    ],
)
def test_out_of_memory_halves_the_tile_and_restarts_cleanly(
    kind: str, size: tuple[int, int], limit: int, halvings: int, error: type
) -> None:
    net, policy = _net(kind)
    x = _padded(_image(0, *size), policy.multiple)
    wrapped = OomAbove(net, limit, error)
    messages: list[str] = []
    out = torch.full((1, 3, x.shape[2] * policy.scale, x.shape[3] * policy.scale), float("nan"))

    def sink(top: int, band: torch.Tensor) -> None:
        out[:, :, top : top + band.shape[2]] = band

    source = tiling.TensorSource(x)
    run_tiled_stream(wrapped, source, policy, sink, tile=0, device=CPU, warn=messages.append)
    assert len(messages) == halvings
    assert all("out of memory" in m and "retrying" in m for m in messages)
    assert float((out - _full(net, x)).abs().max()) < 1e-4  # no NaN: every row written
    assert wrapped.sizes[0] == tuple(x.shape[2:])  # the whole frame was tried first


TRUNK = 4 * 4 * 14 * 19 * 4  # bytes of the tiny style network's trunk for a 56x76 image


@pytest.mark.parametrize(
    ("tile", "cache_budget", "first", "middle", "last"),
    [
        (0, None, 1, (1, 1, 1), 1),  # the whole frame: one plain pass
        # streaming: 9 norm layers + the output pass, 6 tiles each; a layer runs in the
        # passes from the first norm layer after it on (a block's first conv: 7)
        (28, 0, 10 * 6, (7 * 6, 6 * 6, 3 * 6), 6),
        # cut 0: conv1 in the pass of in1 and the output pass of the encoder to conv2;
        # each trunk convolution and deconv1 once per trunk tile (6 of 7x7 pixels)
        (28, None, 2 * 6, (6, 6, 6), 6),
        # cut 1 (two trunks fit, not three): the encoder to conv3 has 2 norm layers;
        # deconv1 runs in the passes of the decoder's two norm layers and its output pass
        (28, 2 * TRUNK, 3 * 6, (6, 6, 3 * 6), 6),
        # cut 2 (one trunk fits): the encoder's 3 norm layers + its output pass; a
        # block's first conv in the passes of its 2 norm layers and its output pass
        (28, TRUNK, 4 * 6, (3 * 6, 2 * 6, 3 * 6), 6),
    ],
)
def test_number_of_passes(
    tile: int, cache_budget: float | None, first: int, middle: tuple[int, ...], last: int
) -> None:
    net, policy = _net("style")
    layers = {"first": net.conv1, "res1.conv1": net.res1.conv1, "res1.conv2": net.res1.conv2}
    layers.update({"deconv1": net.deconv1, "last": net.deconv3})
    calls = dict.fromkeys(layers, 0)
    for name, layer in layers.items():
        layer.register_forward_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
    run_tiled(net, _padded(_image(), 4), policy, tile=tile, device=CPU, cache_budget=cache_budget)
    assert list(calls.values()) == [first, *middle, last]


def test_restart_after_some_bands_were_written_rewrites_them() -> None:
    """A tile near the bottom fails after the top bands went out: the sink sees the
    image again from row 0 and ends with the exact result."""
    net, policy = _net("sr4")
    x = _padded(_image(), 1)
    wrapped = OomAbove(net, 0, RuntimeError)
    wrapped.limit = 10**9
    calls = {"n": 0}
    original = wrapped.forward

    def flaky(t: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 5:
            raise torch.OutOfMemoryError("out of memory")
        return original(t)

    wrapped.forward = flaky  # type: ignore[method-assign]
    tops: list[int] = []
    out = torch.zeros(1, 3, x.shape[2] * 4, x.shape[3] * 4)

    def sink(top: int, band: torch.Tensor) -> None:
        tops.append(top)
        out[:, :, top : top + band.shape[2]] = band

    warned: list[str] = []
    source = tiling.TensorSource(x)
    run_tiled_stream(wrapped, source, policy, sink, tile=32, device=CPU, warn=warned.append)
    restart = tops.index(0, 1)  # rows from 0 a second time
    assert restart > 0 and len(warned) == 1
    assert float((out - _full(net, x)).abs().max()) < 1e-4


def test_out_of_memory_below_the_smallest_tile_raises_tile_out_of_memory() -> None:
    net, policy = _net("sr4")
    x = _padded(_image(), 1)
    with pytest.raises(TileOutOfMemory) as info:
        run_tiled(
            OomAbove(net, 4, torch.OutOfMemoryError), x, policy, tile=0, device=CPU, warn=print
        )
    assert "out of memory" in str(info.value) and info.value.hint


def test_other_runtime_errors_are_not_taken_for_out_of_memory() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        run_tiled(Broken(), torch.zeros(1, 3, 8, 8), TilingPolicy(), tile=4, device=CPU)


def test_approx_mode_on_an_image_smaller_than_its_stats_copy_is_exact() -> None:
    net, policy = _net("style")
    x = _padded(_image(), 4)
    tiled = run_tiled(net, x, policy, tile=28, device=CPU, mode="approx")
    assert float((tiled - _full(net, x)).abs().max()) < 1e-4


def test_approx_mode_uses_the_statistics_of_a_downscaled_copy(monkeypatch) -> None:
    """With statistics at half resolution, the tiled result is the full frame normalised
    by the statistics the network has on the 2x2-box-filtered copy (and not the exact
    output: on tiny random networks the difference is large, see the benchmark for the
    error on real photos)."""
    from stylepipe.tiling.globalnorm import GlobalNorm

    monkeypatch.setattr(tilejob, "APPROX_SIDE", 40)
    net, policy = _net("style")
    x = _padded(_image(), 4)
    approx = run_tiled(net, x, policy, tile=28, device=CPU, mode="approx")
    small = F.avg_pool2d(x, 2)[:, :, :28, :36]  # 28x38 cropped to the multiple of 4
    with GlobalNorm(net) as norm, torch.inference_mode():
        norm.mode = "record"
        net(small)
        norm.mode = "apply"
        expected = net(x)
    assert float((approx - expected).abs().max()) < 1e-4
    assert float((approx - _full(net, x)).abs().max()) > 1e-2


def test_downscale_reads_bands_and_box_filters() -> None:
    x = torch.rand(1, 3, 50, 30)
    small = tilejob.downscale(tiling.TensorSource(x), 3, multiple=4)
    assert torch.allclose(small, F.avg_pool2d(x, 3)[:, :, :16, :8], atol=1e-6)


def test_unknown_mode_and_unpadded_images_are_refused() -> None:
    net, policy = _net("style")
    with pytest.raises(UsageError, match="unknown tiling mode"):
        run_tiled(net, torch.zeros(1, 3, 16, 16), policy, tile=8, device=CPU, mode="fast")
    with pytest.raises(ValueError, match="multiple of 4"):
        run_tiled(net, torch.zeros(1, 3, 18, 16), policy, tile=8, device=CPU)


def test_networks_with_other_whole_image_layers_are_not_tiled() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.InstanceNorm2d(4), nn.GroupNorm(2, 4))
    x = torch.rand(1, 3, 16, 16)
    with pytest.raises(ModelError, match="GroupNorm|2"):
        run_tiled(net, x, TilingPolicy(halo=4, global_norm=True), tile=8, device=CPU)
    whole = run_tiled(net, x, TilingPolicy(halo=4, global_norm=True), tile=0, device=CPU)
    assert float((whole - _full(net, x)).abs().max()) < 1e-5


def test_uint8_streaming_matches_the_float_path_with_virtual_padding() -> None:
    """Read a uint8 array padded on the fly, write a uint8 array band by band: the same
    pixels as float in, pad, run, crop, clamp, quantize."""
    net, policy = _net("style")
    pixels = (np.asarray(_image().permute(0, 2, 3, 1)[0]) * 255).round().astype(np.uint8)
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    xp = _padded(x, 4)  # 56x76: one row on top, two at the bottom, one column each side
    expected = run_tiled(net, xp, policy, tile=28, device=CPU)[:, :, 1 : 1 + H, 0:W]
    expected8 = np.rint(expected.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255)
    source = ArraySource(pixels, size=(56, 76), offset=(1, 0), mode="reflect")
    assert float((source.read(0, 56, 0, 76) - xp).abs().max()) < 1e-6
    out = np.zeros((H, W, 3), np.uint8)
    run_tiled_stream(net, source, policy, ArraySink(out, offset=(1, 0)), tile=28, device=CPU)
    assert np.abs(out.astype(int) - expected8).max() <= 1
    assert np.mean(out == expected8) > 0.999


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_array_source_pads_like_torch(mode: str) -> None:
    pixels = np.random.default_rng(0).integers(0, 65535, (7, 5, 3), dtype=np.uint16)
    x = torch.from_numpy(pixels.astype(np.float32) / 65535).permute(2, 0, 1)[None]
    padded = F.pad(x, (2, 3, 1, 4), mode=mode)
    source = ArraySource(pixels, size=(12, 10), offset=(1, 2), mode=mode, gain=255.0)
    assert torch.allclose(source.read(0, 12, 0, 10), padded * 255, atol=1e-3)
    assert torch.allclose(source.read(3, 11, 1, 9), padded[:, :, 3:11, 1:9] * 255, atol=1e-3)


def test_array_source_never_shares_nor_writes_the_callers_array() -> None:
    """A read-only array (``np.asarray`` of a Pillow image) is not handed to torch as it
    is, and the gain is applied to the tile's own pixels, never to the caller's."""
    rng = np.random.default_rng(0)
    frozen8 = rng.integers(0, 255, (6, 5, 3), dtype=np.uint8)
    frozen = frozen8.astype(np.float32) / 255
    floats = rng.random((6, 5, 3), dtype=np.float32)
    cases = [
        (frozen8, 255.0, frozen.copy()),
        (frozen, 1.0, frozen.copy()),
        (floats, 255.0, floats.copy()),
    ]
    frozen8.setflags(write=False)
    frozen.setflags(write=False)
    for array, gain, unit in cases:
        x = ArraySource(array, gain=gain).read(0, 6, 0, 5)
        assert not np.shares_memory(x.numpy(), array)
        assert torch.allclose(x, torch.from_numpy(unit).permute(2, 0, 1)[None] * gain)
    assert np.array_equal(floats, cases[2][2])


def test_array_source_scales_grey_pixels_into_three_channels() -> None:
    """A grey ``(h, w)`` array with a gain (a network whose white is 255): the gain is
    applied before the one channel is expanded to three (whose memory it shares)."""
    grey = np.linspace(0, 1, 30, dtype=np.float32).reshape(6, 5)
    for array in (grey, (grey * 255).round().astype(np.uint8)):
        x = ArraySource(array, gain=255.0).read(1, 5, 0, 4)
        assert x.shape == (1, 3, 4, 4)
        want = torch.from_numpy(grey[1:5, :4] * 255)
        for channel in range(3):
            assert torch.allclose(x[0, channel], want, atol=0.51)


def test_chosen_tile_follows_the_memory_budget(monkeypatch) -> None:
    net, policy = _net("sr4")
    monkeypatch.setattr(tiling, "_memory_budget", lambda device: 1e12)
    assert tiling.choose_tile(net, policy, (500, 700), CPU) == 0
    monkeypatch.setattr(tiling, "_memory_budget", lambda device: 200e6)
    tile = tiling.choose_tile(net, policy, (5000, 7000), CPU)
    assert 16 <= tile < 5000
    per_pixel = tiling._bytes_per_pixel(net, policy, CPU, None)
    assert (tile + 2 * policy.halo) ** 2 * per_pixel <= 200e6


def test_chosen_tile_with_reduced_precision_measures_the_cast_network() -> None:
    net, policy = _net("style")
    fp32 = tiling._bytes_per_pixel(net, policy, CPU, None)
    bf16 = tiling._bytes_per_pixel(net, policy, CPU, torch.bfloat16)
    assert bf16 == pytest.approx(fp32 / 2, rel=0.2)  # activations of half the size
    assert tiling.choose_tile(net, policy, (H, W), CPU, torch.bfloat16) == 0


@pytest.mark.parametrize("kind", ["style", "sr4"])
def test_memory_probe_runs_once_per_network(kind: str) -> None:
    """The probe pass runs for the first image of a network (and type), not per image."""
    net, policy = _net(kind)
    calls = []
    net.register_forward_hook(lambda *_: calls.append(1))
    per_pixel = tiling._bytes_per_pixel(net, policy, CPU, None)
    assert per_pixel > 0 and calls == [1]
    assert tiling.choose_tile(net, policy, (H, W), CPU) == 0
    assert tiling._bytes_per_pixel(net, policy, CPU, None) == per_pixel and calls == [1]
    bf16 = tiling._bytes_per_pixel(net, policy, CPU, torch.bfloat16)  # the cast copy
    assert tiling._bytes_per_pixel(net, policy, CPU, torch.bfloat16) == bf16
    assert calls == [1, 1]  # one probe of the copy (which carries the hook along)


def test_automatic_tile_runs_exactly(monkeypatch) -> None:
    net, policy = _net("sr4")
    x = _image()
    per_pixel = tiling._bytes_per_pixel(net, policy, CPU, None)
    budget = (24 + 2 * policy.halo) ** 2 * per_pixel  # less than the 53x75 frame needs
    monkeypatch.setattr(tiling, "_memory_budget", lambda device: budget)
    assert tiling.choose_tile(net, policy, (H, W), CPU) == 24
    tiled = run_tiled(net, x, policy, tile=None, device=CPU)
    assert float((tiled - _full(net, x)).abs().max()) < 1e-4


def test_bf16_autocast_tiles_agree_with_the_bf16_full_frame() -> None:
    net, policy = _net("style")
    x = _padded(_image(), 4)
    with torch.autocast("cpu", torch.bfloat16):
        full = _full(net, x).float()
    tiled = run_tiled(net, x, policy, tile=28, device=CPU, autocast_dtype=torch.bfloat16)
    assert tiled.dtype == torch.float32
    assert float((tiled - full).abs().max()) < 0.05 * float(full.abs().max())


def test_cpu_reduced_precision_runs_a_cached_weight_cast_copy() -> None:
    from stylepipe.tiling.sweep import Runner

    net, _ = _net("style")
    a = Runner(net, CPU, torch.bfloat16)
    b = Runner(net, CPU, torch.bfloat16)
    assert a.net is b.net is not net  # cast once per network, reused across images
    assert a.autocast_dtype is None and a.param_dtype == torch.bfloat16 and a.channels_last
    assert next(net.parameters()).dtype == torch.float32  # the caller's network untouched
    with torch.no_grad():
        net.conv1.conv2d.weight.mul_(2)  # changed weights: a fresh copy
    assert Runner(net, CPU, torch.bfloat16).net is not a.net


def test_array_sink_crops_scales_clamps_and_rounds() -> None:
    band = torch.tensor([[0.0, 127.4, 300.0], [-5.0, 255.0, 63.6]])[None, None].expand(1, 3, 2, 3)
    out8 = np.zeros((1, 2, 3), np.uint8)
    ArraySink(out8, offset=(1, 1), gain=1 / 255)(0, band)  # rows 1.., columns 1..
    assert out8[0, :, 0].tolist() == [255, 64]
    out16 = np.zeros((2, 3, 3), np.uint16)
    ArraySink(out16, gain=1 / 255)(0, band)
    assert out16[0, :, 0].tolist() == [0, round(127.4 / 255 * 65535), 65535]
    outf = np.zeros((2, 3, 3), np.float32)
    ArraySink(outf, gain=1 / 255)(0, band)
    assert outf[1, 0, 0] == 0.0 and abs(outf[1, 2, 0] - 63.6 / 255) < 1e-6


def test_merged_tile_moments_equal_whole_image_moments() -> None:
    from stylepipe.tiling.globalnorm import Moments

    g = torch.Generator().manual_seed(3)
    x = 1000 + torch.randn(1, 5, 40, 30, generator=g, dtype=torch.float64)  # large mean
    moments = Moments()
    for rows in ((0, 7), (7, 8), (8, 40)):
        moments.add(x[:, :, rows[0] : rows[1]].float())
    mean, var = moments.mean_var()
    assert torch.allclose(mean, x.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(var, x.var(dim=(0, 2, 3), unbiased=False), rtol=1e-3)


def test_tiles_off_the_stride_grid_are_refused() -> None:
    """A policy whose multiple is too small for the network's strides is caught at the
    first instance-norm layer, not turned into a wrong image."""
    net, policy = _net("style")
    wrong = TilingPolicy(policy.scale, 2, policy.halo, policy.global_norm)
    with pytest.raises(ModelError, match="size multiple"):
        run_tiled(net, _padded(_image(), 4), wrong, tile=26, device=CPU, cache_budget=0)
