"""The built-in Pillow/numpy filters of ``stylepipe_basic``."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter
from stylepipe_basic import FILTERS
from stylepipe_basic.ops import RESAMPLE, gaussian_blur

from stylepipe import Filter, Frame, ParamError
from stylepipe.plugins import Catalog, load_plugins

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.build(load_plugins(entry_points=False))


def make(catalog: Catalog, name: str, **raw: Any) -> Filter:
    return catalog.filters.get(name).from_raw(raw)


def random_frame(h: int = 24, w: int = 32, c: int = 3, alpha: bool = False, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    pixels = rng.random((h, w, c), dtype=np.float32)
    return Frame(pixels, alpha=rng.random((h, w), dtype=np.float32) if alpha else None)


def photo_like(seed: int = 0) -> Image.Image:
    """A smooth image with noise, 8-bit RGB: what the Pillow comparisons run on."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8))
    smooth = np.asarray(small.resize((96, 64), Image.Resampling.BICUBIC)).astype(int)
    noisy = np.clip(smooth + rng.integers(-20, 20, smooth.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(noisy)


def level_diff(ours: Frame, reference: Image.Image) -> np.ndarray:
    return np.abs(np.asarray(ours.to_pil()).astype(int) - np.asarray(reference).astype(int))


def test_all_filters_registered_by_the_basic_plugin(catalog: Catalog) -> None:
    expected = {
        "resize", "crop", "grayscale", "autocontrast", "adjust", "sharpen", "blur", "convert",
    }  # fmt: skip
    assert {f.name for f in FILTERS} == expected
    for name in expected:
        entry = catalog.filters.resolve(name)
        assert entry.source == "stylepipe_basic"
        assert entry.item.summary and entry.item.__doc__
        for spec in entry.item.param_specs():
            assert spec.help, f"{name}.{spec.name} has no help"


def test_basic_plugin_uses_only_the_public_api() -> None:
    for path in (REPO / "plugins" / "stylepipe_basic").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith("stylepipe."), f"{path.name}: {node.module}"


SAMPLE_PARAMS: list[tuple[str, dict[str, Any]]] = [
    ("resize", {"scale": 0.5}),
    ("resize", {"longest": 40, "resample": "bicubic"}),
    ("crop", {"aspect": "1:1"}),
    ("grayscale", {}),
    ("autocontrast", {"cutoff": 2.0}),
    ("adjust", {"brightness": 1.2, "contrast": 0.8, "saturation": 1.5}),
    ("sharpen", {}),
    ("blur", {"radius": 1.5}),
    ("convert", {"mode": "gray", "alpha": "flatten", "depth": 8}),
]


@pytest.mark.parametrize(("name", "raw"), SAMPLE_PARAMS)
@pytest.mark.parametrize("alpha", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_frame_in_frame_out(
    catalog: Catalog, name: str, raw: dict[str, Any], alpha: bool, channels: int
) -> None:
    frame = random_frame(c=channels, alpha=alpha)
    before = frame.pixels.copy()
    out = make(catalog, name, **raw).apply(frame)
    assert isinstance(out, Frame) and out.pixels.dtype == np.float32
    assert out.pixels.min() >= 0.0 and out.pixels.max() <= 1.0
    if out.alpha is not None:
        assert out.alpha.shape == out.pixels.shape[:2] and out.alpha.dtype == np.float32
        assert out.alpha.min() >= 0.0 and out.alpha.max() <= 1.0
    assert np.array_equal(frame.pixels, before), "the input frame was modified"


IDENTITY: list[tuple[str, dict[str, Any]]] = [
    ("resize", {"scale": 1.0}),
    ("resize", {"width": 32, "height": 24}),
    ("resize", {"longest": 64, "only_shrink": True}),
    ("crop", {"width": 32}),
    ("crop", {"aspect": "4:3"}),
    ("adjust", {}),
    ("sharpen", {"percent": 0}),
    ("sharpen", {"threshold": 255}),
    ("blur", {"radius": 0}),
    ("convert", {}),
    ("convert", {"depth": 8}),
    ("autocontrast", {}),  # the image already spans 0..255
]


@pytest.mark.parametrize(("name", "raw"), IDENTITY)
@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_identity_settings_are_exact_on_8_bit(
    catalog: Catalog, name: str, raw: dict[str, Any], mode: str
) -> None:
    rng = np.random.default_rng(1)
    bands = len(mode)
    data = rng.integers(0, 256, (24, 32, bands), dtype=np.uint8)
    data[0, 0, :] = 0
    data[0, 1, :] = 255
    image = Image.fromarray(data[:, :, 0] if bands == 1 else data)
    out = make(catalog, name, **raw).apply(Frame.from_pil(image)).to_pil()
    assert out.mode == image.mode
    assert np.array_equal(np.asarray(out), np.asarray(image))


def test_grayscale_of_gray_rgb_is_exact(catalog: Catalog) -> None:
    gray = np.random.default_rng(2).integers(0, 256, (16, 16), dtype=np.uint8)
    image = Image.fromarray(np.stack([gray] * 3, axis=2))
    out = make(catalog, "grayscale").apply(Frame.from_pil(image)).to_pil()
    assert out.mode == "L" and np.array_equal(np.asarray(out), gray)


# -- resize -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        ({"scale": 0.5}, (50, 30)),
        ({"scale": 2}, (200, 120)),
        ({"width": 25}, (25, 15)),
        ({"height": 30}, (50, 30)),
        ({"width": 10, "height": 40}, (10, 40)),
        ({"longest": 50}, (50, 30)),
        ({"longest": 200}, (200, 120)),
        ({"longest": 200, "only_shrink": True}, (100, 60)),
        ({"width": 50, "only_shrink": True}, (50, 30)),
        ({"scale": 0.001}, (1, 1)),
    ],
)
def test_resize_sizes(catalog: Catalog, raw: dict[str, Any], size: tuple[int, int]) -> None:
    assert make(catalog, "resize", **raw).apply(random_frame(60, 100)).size == size


def test_resize_portrait_longest(catalog: Catalog) -> None:
    assert make(catalog, "resize", longest=50).apply(random_frame(100, 60)).size == (30, 50)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({}, "scale"),
        ({"scale": 0.5, "width": 3}, "scale"),
        ({"height": 3, "longest": 4}, "longest"),
    ],
)
def test_resize_needs_exactly_one_mode(catalog: Catalog, raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ParamError) as info:
        make(catalog, "resize", **raw)
    assert info.value.key == key


def test_resize_refuses_absurd_sizes(catalog: Catalog) -> None:
    with pytest.raises(ParamError, match="more than"):
        make(catalog, "resize", scale=64).apply(random_frame(300, 300))


def test_resize_keeps_float_precision(catalog: Catalog) -> None:
    """A 2x box reduction is the exact mean of each 2x2 block: no 8-bit rounding."""
    frame = random_frame(32, 48)
    out = make(catalog, "resize", scale=0.5, resample="box").apply(frame)
    blocks = frame.pixels.reshape(16, 2, 24, 2, 3).mean(axis=(1, 3))
    assert np.abs(out.pixels - blocks).max() < 1e-6
    levels = np.unique(np.rint(out.pixels * 65535))
    assert not np.allclose(levels % 257, 0), "values collapsed to 8-bit levels"


@pytest.mark.parametrize("resample", sorted(RESAMPLE))
def test_resize_matches_pillow_on_8_bit(catalog: Catalog, resample: str) -> None:
    image = photo_like()
    for raw, size in (({"width": 37}, (37, 25)), ({"scale": 2.5}, (240, 160))):
        out = make(catalog, "resize", resample=resample, **raw).apply(Frame.from_pil(image))
        diff = level_diff(out, image.resize(size, RESAMPLE[resample]))
        assert diff.mean() < 0.5 and diff.max() <= 6


def test_resize_does_not_bleed_transparent_colour(catalog: Catalog) -> None:
    pixels = np.zeros((8, 8, 3), np.float32)
    pixels[:, :4, 2] = 1.0  # visible blue on the left
    pixels[:, 4:, 0] = 1.0  # invisible red on the right
    alpha = np.zeros((8, 8), np.float32)
    alpha[:, :4] = 1.0
    out = make(catalog, "resize", width=6, resample="bilinear").apply(Frame(pixels, alpha))
    assert out.alpha is not None and out.alpha.shape == (6, 6)
    assert out.pixels[..., 0].max() < 1e-6, "red leaked from transparent pixels"
    visible = out.alpha > 0.01
    assert np.allclose(out.pixels[visible][:, 2], 1.0, atol=1e-5)
    assert out.alpha[:, 0].min() > 0.99 and out.alpha[:, -1].max() < 0.01


# -- crop ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "box"),
    [
        ({"left": 10, "top": 5, "width": 20, "height": 30}, (10, 5, 20, 30)),
        ({"width": 20, "height": 30}, (40, 15, 20, 30)),
        ({"left": 90}, (90, 0, 10, 60)),
        ({"height": 10}, (0, 25, 100, 10)),
        ({"aspect": "1:1"}, (20, 0, 60, 60)),
        ({"aspect": "16/9"}, (0, 2, 100, 56)),
        ({"aspect": "0.5"}, (35, 0, 30, 60)),
    ],
)
def test_crop_boxes(catalog: Catalog, raw: dict[str, Any], box: tuple[int, ...]) -> None:
    frame = random_frame(60, 100, alpha=True)
    out = make(catalog, "crop", **raw).apply(frame)
    left, top, w, h = box
    assert np.array_equal(out.pixels, frame.pixels[top : top + h, left : left + w])
    assert frame.alpha is not None and out.alpha is not None
    assert np.array_equal(out.alpha, frame.alpha[top : top + h, left : left + w])


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"left": 90, "width": 20}, "width"),
        ({"width": 101}, "width"),
        ({"top": 60}, "top"),
        ({"left": 200}, "left"),
    ],
)
def test_crop_box_outside_the_image_is_a_clear_error(
    catalog: Catalog, raw: dict[str, Any], key: str
) -> None:
    crop = make(catalog, "crop", **raw)  # valid until it meets an image
    with pytest.raises(ParamError) as info:
        crop.apply(random_frame(60, 100))
    assert info.value.key == key
    assert "does not fit the image" in info.value.message


@pytest.mark.parametrize(
    ("raw", "key"),
    [({}, "width"), ({"aspect": "1:1", "left": 3}, "aspect"), ({"aspect": "wide"}, "aspect")],
)
def test_crop_parameter_errors(catalog: Catalog, raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ParamError) as info:
        make(catalog, "crop", **raw)
    assert info.value.key == key


# -- tone ---------------------------------------------------------------------------


def test_grayscale_weights_and_alpha(catalog: Catalog) -> None:
    pixels = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=np.float32)
    alpha = np.array([[0.2, 0.5, 1.0]], dtype=np.float32)
    out = make(catalog, "grayscale").apply(Frame(pixels, alpha))
    assert out.channels == 1
    assert np.allclose(out.pixels[0, :, 0], [0.299, 0.587, 0.114], atol=1e-6)
    assert out.alpha is alpha
    assert make(catalog, "grayscale", keep_rgb=True).apply(Frame(pixels)).channels == 3


def test_autocontrast_stretches_and_cuts(catalog: Catalog) -> None:
    pixels = np.linspace(0.2, 0.6, 300, dtype=np.float32).reshape(10, 30, 1)
    out = make(catalog, "autocontrast").apply(Frame(pixels))
    assert out.pixels.min() == 0.0 and abs(out.pixels.max() - 1.0) < 1e-6
    pixels[0, 0, 0], pixels[0, 1, 0] = 0.0, 1.0  # two outliers
    plain = make(catalog, "autocontrast").apply(Frame(pixels))
    cut = make(catalog, "autocontrast", cutoff=1.0).apply(Frame(pixels))
    assert np.ptp(plain.pixels[2:, :, 0]) < 0.5 < np.ptp(cut.pixels[2:, :, 0])


def test_autocontrast_ignores_transparent_pixels_and_flat_images(catalog: Catalog) -> None:
    pixels = np.full((4, 4, 3), 0.5, np.float32)
    pixels[1, 1] = 0.7
    pixels[0, 0] = 0.0  # invisible: must not set the black point
    alpha = np.ones((4, 4), np.float32)
    alpha[0, 0] = 0.0
    out = make(catalog, "autocontrast").apply(Frame(pixels, alpha))
    assert out.pixels[1, 1].max() == 1.0 and out.pixels[2, 2].max() == 0.0
    flat = Frame(np.full((4, 4, 3), 0.3, np.float32))
    assert np.array_equal(make(catalog, "autocontrast").apply(flat).pixels, flat.pixels)


def test_autocontrast_per_channel_removes_a_cast(catalog: Catalog) -> None:
    ramp = np.linspace(0, 1, 64, dtype=np.float32)
    pixels = np.stack([ramp * 0.5 + 0.5, ramp, ramp * 0.5], axis=1)[None]
    joint = make(catalog, "autocontrast").apply(Frame(pixels))
    split = make(catalog, "autocontrast", per_channel=True).apply(Frame(pixels))
    assert np.allclose(joint.pixels, pixels)  # already spans 0..1 overall
    for c in range(3):
        assert split.pixels[..., c].min() == 0.0 and split.pixels[..., c].max() > 0.999


@pytest.mark.parametrize(
    ("key", "factor", "enhancer"),
    [
        ("brightness", 0.7, ImageEnhance.Brightness),
        ("contrast", 1.5, ImageEnhance.Contrast),
        ("saturation", 1.5, ImageEnhance.Color),
        ("saturation", 0.0, ImageEnhance.Color),
    ],
)
def test_adjust_matches_pillow_enhance(
    catalog: Catalog, key: str, factor: float, enhancer: Any
) -> None:
    image = photo_like(3)
    out = make(catalog, "adjust", **{key: factor}).apply(Frame.from_pil(image))
    diff = level_diff(out, enhancer(image).enhance(factor))
    assert diff.max() <= 1


def test_adjust_extremes(catalog: Catalog) -> None:
    frame = random_frame(alpha=True)
    dark = make(catalog, "adjust", brightness=0).apply(frame)
    assert dark.pixels.max() == 0.0 and dark.alpha is frame.alpha
    flat = make(catalog, "adjust", contrast=0).apply(frame)
    assert np.ptp(flat.pixels) < 1e-6
    gray = make(catalog, "adjust", saturation=0).apply(frame)
    assert np.allclose(gray.pixels[..., 0], gray.pixels[..., 2], atol=1e-6)


def test_convert_modes_and_alpha(catalog: Catalog) -> None:
    frame = random_frame(alpha=True)
    gray = make(catalog, "convert", mode="gray").apply(frame)
    assert gray.channels == 1 and gray.alpha is frame.alpha
    rgb = make(catalog, "convert", mode="rgb").apply(gray)
    assert rgb.channels == 3 and np.array_equal(rgb.pixels[..., 1], gray.pixels[..., 0])
    dropped = make(catalog, "convert", alpha="drop").apply(frame)
    assert dropped.alpha is None and np.array_equal(dropped.pixels, frame.pixels)


def test_convert_flatten(catalog: Catalog) -> None:
    pixels = np.zeros((1, 3, 1), np.float32)
    alpha = np.array([[0.0, 0.5, 1.0]], np.float32)
    out = make(catalog, "convert", alpha="flatten").apply(Frame(pixels, alpha))
    assert out.alpha is None and np.allclose(out.pixels[0, :, 0], [1.0, 0.5, 0.0])
    red = make(catalog, "convert", alpha="flatten", background="#f00").apply(Frame(pixels, alpha))
    assert red.channels == 3 and np.allclose(red.pixels[0, 0], [1, 0, 0])
    with pytest.raises(ParamError) as info:
        make(catalog, "convert", background="red")
    assert info.value.key == "background"


def test_convert_depth(catalog: Catalog) -> None:
    frame = Frame(np.full((2, 2, 3), 1000 / 65535, np.float32), bit_depth=16)
    eight = make(catalog, "convert", depth=8).apply(frame)
    assert eight.bit_depth == 8 and np.allclose(eight.pixels * 255, 4.0, atol=1e-4)
    sixteen = make(catalog, "convert", depth=16).apply(Frame.from_pil(photo_like()))
    assert sixteen.bit_depth == 16
    assert make(catalog, "convert").apply(frame).bit_depth == 16


# -- detail -------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [1.0, 2.0, 3.5, 4.5, 8.0, 20.0])
def test_gaussian_blur_has_the_right_spread(sigma: float) -> None:
    impulse = np.zeros((241, 241, 1), np.float32)
    impulse[120, 120] = 1.0
    out = gaussian_blur(impulse, sigma)[:, :, 0].astype(np.float64)
    x = np.arange(241) - 120
    variance = float((out.sum(axis=0) * x * x).sum() / out.sum())
    assert abs(out.sum() - 1.0) < 1e-5
    assert abs(variance - sigma**2) / sigma**2 < 0.05
    assert np.allclose(out, out.T, atol=1e-7)  # isotropic


@pytest.mark.parametrize("radius", [1.0, 2.0, 6.0, 12.0])
def test_blur_close_to_pillow(catalog: Catalog, radius: float) -> None:
    image = photo_like(4)
    out = make(catalog, "blur", radius=radius).apply(Frame.from_pil(image))
    inner = level_diff(out, image.filter(ImageFilter.GaussianBlur(radius)))[16:-16, 16:-16]
    assert inner.mean() < 0.6 and inner.max() <= 3


def test_blur_keeps_flat_images_and_treats_alpha(catalog: Catalog) -> None:
    flat = Frame(np.full((20, 20, 3), 0.25, np.float32))
    assert np.allclose(make(catalog, "blur", radius=5).apply(flat).pixels, 0.25, atol=1e-6)
    pixels = np.zeros((20, 20, 3), np.float32)
    pixels[:, :10, 1] = 1.0
    pixels[:, 10:, 0] = 1.0  # invisible red
    alpha = np.zeros((20, 20), np.float32)
    alpha[:, :10] = 1.0
    out = make(catalog, "blur", radius=2).apply(Frame(pixels, alpha))
    assert out.alpha is not None and 0.2 < out.alpha[10, 10] < 0.8  # alpha is blurred too
    assert out.pixels[..., 0].max() < 1e-6  # no red from invisible pixels


@pytest.mark.parametrize("radius", [1, 2, 5])
def test_sharpen_close_to_pillow_unsharp_mask(catalog: Catalog, radius: int) -> None:
    image = photo_like(5)
    out = make(catalog, "sharpen", radius=radius).apply(Frame.from_pil(image))
    inner = level_diff(out, image.filter(ImageFilter.UnsharpMask(radius, 150, 3)))[12:-12, 12:-12]
    assert inner.mean() < 1.0 and inner.max() <= 12


def test_sharpen_raises_edge_contrast_and_respects_threshold(catalog: Catalog) -> None:
    pixels = np.full((16, 16, 1), 0.4, np.float32)
    pixels[:, 8:] = 0.6
    out = make(catalog, "sharpen", radius=1, percent=100).apply(Frame(pixels))
    assert out.pixels[:, 7].max() < 0.4 and out.pixels[:, 8].min() > 0.6
    assert np.allclose(out.pixels[:, :4], 0.4) and np.allclose(out.pixels[:, 12:], 0.6)
    gentle = make(catalog, "sharpen", radius=1, threshold=60).apply(Frame(pixels))
    assert np.array_equal(gentle.pixels, pixels)  # a 51-level step is below 60
