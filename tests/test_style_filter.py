"""The ``style`` filter: model choice, strength, preserve_color, work_size, alpha, gray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stylepipe_style
import torch
from model_helpers import (
    catalog,
    context,
    frame,
    to_pixels,
    to_tensor,
    write_sr_pack,
    write_style_pack,
)
from stylepipe_style.color import fit_longest, keep_colors, resize, rgb_to_yiq, yiq_to_rgb
from stylepipe_style.filter import StyleFilter

from stylepipe import Frame, NotFoundError, ParamError, UsageError
from stylepipe.filters import param_specs


def ready(catalog_models: bool = True, **params: object) -> tuple[StyleFilter, list[str]]:
    """A set-up style filter using the tiny user pack ``tiny`` (fp32, whole image)."""
    if catalog_models:
        write_style_pack(name="tiny", seed=2)
    filt = StyleFilter.from_raw({"model": "tiny", **params})
    assert isinstance(filt, StyleFilter)
    ctx, warnings = context()
    filt.setup(ctx)
    return filt, warnings


def stylized(filt: StyleFilter, pixels: np.ndarray) -> np.ndarray:
    """What the model alone gives for ``pixels`` at native size."""
    assert filt.model is not None
    return to_pixels(filt.model(to_tensor(pixels)))


def test_style_and_upscale_are_registered_filters() -> None:
    cat = catalog()
    assert cat.filters.resolve("style").source == "stylepipe_style"
    assert cat.filters.resolve("upscale").source == "stylepipe_sr"
    names = [spec.name for spec in param_specs(StyleFilter.Params)]
    assert names == ["model", "strength", "preserve_color", "work_size"]


def test_full_strength_is_the_stylization() -> None:
    filt, warnings = ready()
    source = frame(20, 28)
    out = filt.apply(source)
    assert out.pixels.shape == (20, 28, 3) and out.pixels.dtype == np.float32
    np.testing.assert_allclose(out.pixels, stylized(filt, source.pixels), atol=1e-6)
    assert not np.allclose(out.pixels, source.pixels, atol=0.05)
    assert warnings == []


def test_zero_strength_returns_the_input() -> None:
    filt, _ = ready(strength=0.0)
    source = frame(13, 9)
    out = filt.apply(source)
    np.testing.assert_array_equal(out.pixels, source.pixels)
    assert out.pixels is not source.pixels


def test_half_strength_blends_linearly() -> None:
    filt, _ = ready(strength=0.5)
    source = frame(16, 16)
    expected = 0.5 * source.pixels + 0.5 * stylized(filt, source.pixels)
    np.testing.assert_allclose(filt.apply(source).pixels, expected, atol=1e-5)


def tame(filt: StyleFilter) -> StyleFilter:
    """Shrink the last layer of the random network so that its output stays inside
    [0, 1] (around 0.5), where clamping does not blur what the colour test checks."""
    assert filt.model is not None
    last = filt.model.net.deconv3.conv2d
    with torch.no_grad():
        last.weight.mul_(0.1)
        last.bias.fill_(0.5)
    return filt


def test_preserve_color_keeps_the_input_chroma_and_the_stylized_luminance() -> None:
    filt = tame(ready(preserve_color=True)[0])
    source = frame(24, 20)
    out = filt.apply(source).pixels
    styled = stylized(filt, source.pixels)
    yiq_in, yiq_out, yiq_styled = (
        rgb_to_yiq(to_tensor(p))[0] for p in (source.pixels, out, styled)
    )
    inside = torch.from_numpy(((out > 1e-4) & (out < 1 - 1e-4)).all(axis=2))
    assert inside.float().mean() > 0.9  # enough unclamped pixels for the check to mean much
    torch.testing.assert_close(yiq_out[1:, inside], yiq_in[1:, inside], atol=1e-5, rtol=0)
    torch.testing.assert_close(yiq_out[0, inside], yiq_styled[0, inside], atol=1e-5, rtol=0)
    assert float((yiq_styled[1:] - yiq_in[1:]).abs().mean()) > 0.01  # the style has colour
    plain = tame(ready(catalog_models=False)[0])
    assert not np.allclose(plain.apply(source).pixels, out, atol=1e-3)


def test_yiq_round_trip_and_gray_has_no_chroma() -> None:
    image = torch.rand(1, 3, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(image)), image)
    gray = torch.full((1, 3, 2, 2), 0.3, dtype=torch.float64)
    torch.testing.assert_close(
        rgb_to_yiq(gray)[:, 1:], torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    )
    torch.testing.assert_close(keep_colors(gray, gray), gray)


def test_work_size_stylizes_at_that_size_and_resizes_back() -> None:
    filt, _ = ready(work_size=16)
    source = frame(30, 45)
    out = filt.apply(source).pixels
    assert out.shape == (30, 45, 3)
    assert fit_longest(30, 45, 16) == (11, 16)
    assert filt.model is not None
    small = resize(to_tensor(source.pixels), 11, 16)
    expected = to_pixels(resize(filt.model(small), 30, 45))
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert not np.allclose(out, stylized(filt, source.pixels), atol=1e-2)


def test_work_size_equal_to_the_image_is_native() -> None:
    filt, _ = ready(work_size=24)
    source = frame(24, 16)
    np.testing.assert_allclose(filt.apply(source).pixels, stylized(filt, source.pixels), atol=1e-6)


def test_alpha_bit_depth_and_metadata_are_kept() -> None:
    filt, _ = ready(work_size=16)
    source = frame(21, 33, alpha=True).replace(bit_depth=16)
    out = filt.apply(source)
    assert out.alpha is source.alpha
    assert out.bit_depth == 16 and out.metadata is source.metadata


def test_grayscale_comes_out_rgb() -> None:
    filt, _ = ready()
    source = frame(17, 12, channels=1)
    out = filt.apply(source)
    assert out.channels == 3
    np.testing.assert_allclose(out.pixels, stylized(filt, source.rgb()), atol=1e-6)


@pytest.mark.parametrize(("height", "width"), [(1, 1), (7, 3), (2, 9)])
def test_tiny_and_odd_images(height: int, width: int) -> None:
    filt, _ = ready()
    out = filt.apply(frame(height, width))
    assert out.pixels.shape == (height, width, 3)
    assert np.isfinite(out.pixels).all() and out.pixels.min() >= 0 and out.pixels.max() <= 1


def test_parameters_are_checked() -> None:
    with pytest.raises(ParamError, match="too small"):
        StyleFilter.from_raw({"work_size": "8"}, from_text=True)
    with pytest.raises(ParamError, match="out of range"):
        StyleFilter.from_raw({"strength": 1.5})
    filt = StyleFilter.from_raw({"strength": "0.25", "preserve_color": "yes"}, from_text=True)
    assert filt.params == StyleFilter.Params(strength=0.25, preserve_color=True)


def test_no_model_and_nothing_installed_is_a_clear_error() -> None:
    # conftest hides the shipped packs from in-process catalogs
    filt = StyleFilter()
    with pytest.raises(NotFoundError, match="no bundled style model") as info:
        filt.check(catalog())
    assert "stylepipe import-model FILE --name NAME" in (info.value.hint or "")


def test_the_default_is_the_first_bundled_style(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_style_pack(tmp_path, name="wave", seed=5)
    write_style_pack(tmp_path, name="candy", seed=6)
    write_style_pack(name="mine", seed=7)  # a user style is never the silent default
    monkeypatch.setattr(stylepipe_style, "BUNDLED_MODELS", tmp_path)
    filt = StyleFilter()
    ctx, _ = context()
    filt.check(ctx.catalog)
    filt.setup(ctx)
    assert filt.model is not None and filt.model.name == "candy"


def test_a_super_resolution_model_is_refused() -> None:
    write_sr_pack(name="sharp")
    filt = StyleFilter.from_raw({"model": "sharp"})
    with pytest.raises(UsageError, match="not a style model"):
        filt.check(catalog())


def test_a_zero_to_255_model_sees_255_range_input() -> None:
    pack, net = write_style_pack(name="old", seed=3, input_range=255.0)
    filt = StyleFilter.from_raw({"model": "old"})
    ctx, _ = context()
    filt.setup(ctx)
    source = frame(16, 12)
    with torch.no_grad():
        expected = (net(to_tensor(source.pixels) * 255.0) / 255.0).clamp(0, 1)
    np.testing.assert_allclose(filt.apply(source).pixels, to_pixels(expected), atol=1e-5)


def test_reduced_precision_runs_close_to_fp32() -> None:
    write_style_pack(name="tiny", seed=2)
    source = frame(16, 16)
    results = {}
    for precision in ("fp32", "bf16"):
        filt = StyleFilter.from_raw({"model": "tiny"})
        ctx, warnings = context(precision=precision)
        filt.setup(ctx)
        assert filt.model is not None and filt.model.precision == precision
        results[precision] = filt.apply(source).pixels
    assert np.abs(results["fp32"] - results["bf16"]).mean() < 0.03


def test_frames_stay_valid() -> None:
    filt, _ = ready()
    out = filt.apply(Frame(pixels=np.zeros((8, 8, 3), np.float32)))
    assert out.pixels.flags["C_CONTIGUOUS"] and out.pixels.dtype == np.float32
