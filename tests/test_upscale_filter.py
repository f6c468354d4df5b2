"""The ``upscale`` filter: exact output size, alpha, grayscale, model choice, histogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import stylepipe_sr
import torch
from model_helpers import catalog, context, frame, to_pixels, to_tensor, write_sr_pack
from stylepipe_sr.filter import UpscaleFilter, upscale_alpha
from stylepipe_sr.histogram import match_histograms

from stylepipe import NotFoundError, ParamError, UsageError


def ready(**params: object) -> UpscaleFilter:
    filt = UpscaleFilter.from_raw(params)
    assert isinstance(filt, UpscaleFilter)
    ctx, _ = context()
    filt.check(ctx.catalog)
    filt.setup(ctx)
    return filt


@pytest.fixture
def packs() -> None:
    write_sr_pack(name="sharp-x4", scale=4, seed=1)
    write_sr_pack(name="sharp-x8", scale=8, seed=2)


@pytest.mark.usefixtures("packs")
@pytest.mark.parametrize(("model", "scale"), [("sharp-x4", 4), ("sharp-x8", 8)])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (7, 3), (10, 13)])
def test_output_is_exactly_scale_times_the_input(
    model: str, scale: int, height: int, width: int
) -> None:
    filt = ready(model=model)
    out = filt.apply(frame(height, width))
    assert out.pixels.shape == (height * scale, width * scale, 3)
    assert out.pixels.dtype == np.float32 and out.pixels.flags["C_CONTIGUOUS"]
    assert out.pixels.min() >= 0.0 and out.pixels.max() <= 1.0


@pytest.mark.usefixtures("packs")
def test_output_is_the_model_output() -> None:
    filt = ready(model="sharp-x4")
    source = frame(9, 6)
    assert filt.model is not None
    expected = to_pixels(filt.model(to_tensor(source.pixels)))
    np.testing.assert_array_equal(filt.apply(source).pixels, expected)


@pytest.mark.usefixtures("packs")
def test_alpha_is_upscaled_separately_with_bicubic() -> None:
    filt = ready(model="sharp-x4")
    source = frame(8, 10, alpha=True)
    out = filt.apply(source)
    assert out.alpha is not None and out.alpha.shape == (32, 40)
    assert out.alpha.dtype == np.float32
    np.testing.assert_allclose(out.alpha[:, :16], 1.0, atol=1e-6)  # well inside the opaque half
    np.testing.assert_allclose(out.alpha[:, 24:], 0.0, atol=1e-6)
    assert 0.0 < out.alpha[0, 20] < 1.0  # the edge is interpolated, not copied
    plane = torch.from_numpy(source.alpha)[None, None]
    expected = torch.nn.functional.interpolate(plane, size=(32, 40), mode="bicubic").clamp(0, 1)
    np.testing.assert_allclose(out.alpha, expected[0, 0].numpy(), atol=1e-6)


def test_upscale_alpha_keeps_a_flat_plane_flat() -> None:
    flat = np.full((3, 5), 0.4, np.float32)
    np.testing.assert_allclose(upscale_alpha(flat, 8), np.full((24, 40), 0.4), atol=1e-6)


@pytest.mark.usefixtures("packs")
def test_grayscale_stays_grayscale() -> None:
    filt = ready(model="sharp-x4")
    source = frame(6, 7, channels=1).replace(bit_depth=16)
    out = filt.apply(source)
    assert out.pixels.shape == (24, 28, 1) and out.bit_depth == 16
    assert filt.model is not None
    rgb = to_pixels(filt.model(to_tensor(source.rgb())))
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    np.testing.assert_allclose(out.pixels[:, :, 0], luma, atol=1e-6)


@pytest.mark.usefixtures("packs")
def test_match_histogram_gives_the_input_distribution() -> None:
    plain, matched = ready(model="sharp-x4"), ready(model="sharp-x4", match_histogram=True)
    source = frame(20, 24)
    # a colour cast for the matching to remove, net of the random network's own drift
    drift = plain.apply(source).pixels.mean((0, 1)) - source.pixels.mean((0, 1))
    cast = torch.tensor(np.array([0.06, -0.05, 0.04]) - drift, dtype=torch.float32)
    for filt in (plain, matched):
        assert filt.model is not None
        with torch.no_grad():
            filt.model.net.tail.conv2d.bias.add_(cast)
    raw, out = plain.apply(source).pixels, matched.apply(source).pixels
    levels = np.linspace(0.05, 0.95, 19)
    for c in range(3):
        want = np.quantile(source.pixels[..., c], levels)
        assert np.abs(np.quantile(out[..., c], levels) - want).max() < 0.01
        assert np.abs(np.quantile(raw[..., c], levels) - want).max() > 0.02


def test_histogram_matching_undoes_a_monotone_tone_change() -> None:
    rng = np.random.default_rng(0)
    reference = rng.random((40, 30, 3), dtype=np.float32)
    big = np.repeat(np.repeat(reference, 4, axis=0), 4, axis=1)
    darker = big**2.0
    restored = match_histograms(darker, reference)
    assert restored.shape == big.shape and restored.dtype == np.float32
    assert np.abs(restored - big).max() < 0.01


@pytest.mark.usefixtures("packs")
def test_scale_picks_the_model_and_must_agree_with_a_named_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_sr_pack(tmp_path, name="bundled-x4", scale=4)
    monkeypatch.setattr(stylepipe_sr, "BUNDLED_MODELS", tmp_path)
    assert ready().choose(catalog()).name == "bundled-x4"  # default scale 4
    assert ready(model="sharp-x8").model is not None
    assert ready(model="sharp-x8").model.scale == 8  # type: ignore[union-attr]
    with pytest.raises(NotFoundError, match="no bundled super-resolution model for x8") as info:
        UpscaleFilter.from_raw({"scale": "8"}, from_text=True).check(catalog())
    assert "stylepipe_local/sharp-x8" in str(info.value)
    with pytest.raises(ParamError, match="scale=8 is more than .*sharp-x4 gives") as big:
        UpscaleFilter.from_raw({"scale": 8, "model": "sharp-x4"}).check(catalog())
    assert big.value.key == "scale"
    with pytest.raises(UsageError, match="not a style model"):
        from stylepipe_style.filter import StyleFilter

        StyleFilter.from_raw({"model": "sharp-x4"}).check(catalog())


@pytest.mark.usefixtures("packs")
def test_a_scale_below_the_models_picks_the_smallest_model_that_reaches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_sr_pack(tmp_path, name="bundled-x4", scale=4)
    write_sr_pack(tmp_path, name="bundled-x8", scale=8)
    monkeypatch.setattr(stylepipe_sr, "BUNDLED_MODELS", tmp_path)
    picks = {s: ready(scale=s).choose(catalog()).name for s in (2, 3, 4, 5, 8)}
    assert picks == {
        2: "bundled-x4",
        3: "bundled-x4",
        4: "bundled-x4",
        5: "bundled-x8",
        8: "bundled-x8",
    }
    assert ready(scale=2).name_fields(catalog()) == {"model": "bundled-x4", "scale": "2"}
    assert ready().name_fields(catalog()) == {"model": "bundled-x4", "scale": "4"}


@pytest.mark.usefixtures("packs")
@pytest.mark.parametrize(("scale", "model"), [(2, "sharp-x4"), (3, "sharp-x4"), (6, "sharp-x8")])
def test_a_scale_below_the_models_resizes_its_result_down_with_lanczos(
    scale: int, model: str
) -> None:
    """Real-ESRGAN's --outscale: run the model, then Lanczos down to exactly scale x."""
    from PIL import Image

    full, small = ready(model=model), ready(model=model, scale=scale)
    source = frame(9, 7, alpha=True)
    out = small.apply(source)
    assert out.pixels.shape == (9 * scale, 7 * scale, 3)
    assert out.alpha is not None and out.alpha.shape == (9 * scale, 7 * scale)
    big = full.apply(source).pixels
    expected = np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(big[:, :, c])).resize(
                    (7 * scale, 9 * scale), Image.Resampling.LANCZOS
                )
            )
            for c in range(3)
        ],
        axis=2,
    )
    np.testing.assert_allclose(out.pixels, np.clip(expected, 0, 1), atol=1e-6)
    np.testing.assert_allclose(out.alpha, upscale_alpha(source.alpha, scale), atol=1e-6)


def test_the_help_says_how_small_scales_are_made() -> None:
    spec = {s.name: s for s in UpscaleFilter.param_specs()}["scale"]
    assert "Lanczos" in spec.help and "Lanczos" in UpscaleFilter.summary
    assert (spec.min, spec.max) == (1, 8)  # x1: restoration models (community, spandrel)


def test_no_model_installed_is_a_clear_error() -> None:
    # conftest hides the shipped packs from in-process catalogs
    with pytest.raises(NotFoundError, match="no bundled super-resolution model for x4") as info:
        UpscaleFilter().check(catalog())
    assert "import-model" in (info.value.hint or "")


@pytest.mark.parametrize("scale", ["0", "9"])
def test_scale_must_be_1_to_8(scale: str) -> None:
    with pytest.raises(ParamError, match="out of range"):
        UpscaleFilter.from_raw({"scale": scale}, from_text=True)


@pytest.mark.usefixtures("packs")
def test_upscale_from_the_command_line(tmp_path: Path) -> None:
    """End to end, in process: `run --filter upscale:model=NAME` on RGBA and gray PNGs."""
    import io

    from PIL import Image

    from stylepipe.cli import main
    from stylepipe.ui import UI

    photos = tmp_path / "photos"
    photos.mkdir()
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., :3], rgba[:, :3, 3] = 120, 255
    Image.fromarray(rgba, "RGBA").save(photos / "a.png")
    Image.fromarray(np.full((6, 3), 90, np.uint8), "L").save(photos / "g.png")
    err = io.StringIO()
    code = main(
        ["run", str(photos), "-o", str(tmp_path / "out"), "--filter", "upscale:model=sharp-x8"],
        ui=UI(stdout=io.StringIO(), stderr=err),
    )
    assert code == 0, err.getvalue()
    with Image.open(tmp_path / "out" / "a.png") as a, Image.open(tmp_path / "out" / "g.png") as g:
        assert (a.size, a.mode) == ((56, 40), "RGBA")
        assert (g.size, g.mode) == ((24, 48), "L")
        alpha = np.asarray(a)[:, :, 3]
        assert alpha[:, :20].min() == 255 and alpha[:, 28:].max() == 0


@pytest.mark.usefixtures("packs")
def test_upscale_divides_the_dpi_so_the_print_size_stays() -> None:
    """A x4 upscale of a 300 dpi scan prints at the same size: 75 dpi."""
    from stylepipe import ImageMetadata

    source = frame(5, 6).replace(metadata=ImageMetadata(dpi=(300.0, 300.0)))
    out = ready(model="sharp-x4").apply(source)
    assert out.size == (24, 20) and out.metadata.dpi == (75.0, 75.0)
    assert ready(model="sharp-x4", scale=2).apply(source).metadata.dpi == (150.0, 150.0)
