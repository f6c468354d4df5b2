"""Photo formats as cameras and phones write them: HEIC, AVIF and camera RAW in; HEIC
and AVIF out; wide-gamut profiles converted to sRGB; XMP/IPTC kept; DPI on resize.
Every file is made here from generated pixels (see photo_samples)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from photo_samples import XMP, display_p3_profile, pixels, save_avif, save_dng, save_heic
from PIL import Image, ImageCms, IptcImagePlugin
from test_cli_run import run_cli

from stylepipe.engine.plan import collect_inputs
from stylepipe.errors import ImageReadError, UsageError
from stylepipe.imaging import formats
from stylepipe.imaging.frame import Frame, ImageMetadata
from stylepipe.imaging.read import normalize_format, read_image
from stylepipe.imaging.write import SaveOptions, encode_image

IPTC = b"\x1c\x02\x05\x00\x0fHarbour at dawn\x1c\x02\x19\x00\x04boat"


def reopen(data: bytes) -> Image.Image:
    formats.register_heif()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- HEIC and AVIF ----------------------------------------------------------------------


@pytest.mark.parametrize("save", [save_heic, save_avif])
def test_heic_and_avif_are_read_with_exif_and_xmp(tmp_path: Path, save) -> None:
    exif = Image.Exif()
    exif[0x010F] = "phone"  # Make
    path = save(tmp_path / f"p.{'heic' if save is save_heic else 'avif'}", exif=exif, xmp=XMP)
    frame = read_image(path)
    assert frame.size == (32, 24) and frame.bit_depth == 8
    assert np.abs(frame.pixels * 255 - pixels()).mean() < 20  # lossy, but the same picture
    assert frame.metadata.xmp is not None and b"Harbour at dawn" in frame.metadata.xmp
    assert frame.metadata.exif is not None and b"phone" in frame.metadata.exif


@pytest.mark.parametrize("fmt", ["avif", "heif"])
def test_avif_and_heic_are_written_with_quality_and_metadata(fmt: str) -> None:
    if formats.write_problem(fmt):
        pytest.skip(formats.write_problem(fmt))
    frame = Frame(
        pixels=pixels(32, 32).astype(np.float32) / 255,
        metadata=ImageMetadata(xmp=XMP),
    )
    small = encode_image(frame, SaveOptions(fmt, quality=10))
    large = encode_image(frame, SaveOptions(fmt, quality=95))
    assert len(small) < len(large)
    image = reopen(large)
    assert image.format == formats.FORMATS[fmt] and image.size == (32, 32)
    assert b"Harbour at dawn" in image.info["xmp"]
    assert "xmp" not in reopen(encode_image(frame, SaveOptions(fmt, strip_metadata=True))).info


def test_format_names_cover_heic_and_avif() -> None:
    assert normalize_format("HEIC") == "heif" and normalize_format(".avif") == "avif"
    assert formats.format_for_suffix(".HEIC") == "heif"


def test_a_missing_heif_codec_skips_the_files_and_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_heic(tmp_path / "phone.heic")
    Image.fromarray(pixels()).save(tmp_path / "a.png")
    monkeypatch.setattr(formats, "_have", lambda module: module != "pillow_heif")
    scan = collect_inputs([tmp_path])
    assert [f.source.name for f in scan.files] == ["a.png"] and scan.non_images == 1
    (warning,) = scan.codec_warnings()
    assert "1 file skipped" in warning and "pip install 'stylepipe[heif]'" in warning
    with pytest.raises(ImageReadError, match=r"needs pillow-heif"):
        read_image(tmp_path / "phone.heic")
    code, err = run_cli("run", tmp_path, "-o", tmp_path / "out", "--filter", "grayscale")
    assert code == 0 and "stylepipe[heif]" in err


# --- camera RAW -------------------------------------------------------------------------


def test_a_dng_is_demosaiced_in_16_bits_with_the_camera_white_balance(tmp_path: Path) -> None:
    frame = read_image(save_dng(tmp_path / "cam.dng"))
    assert frame.bit_depth == 16 and frame.size == (48, 32) and frame.channels == 3
    means = frame.pixels.reshape(-1, 3).mean(axis=0)
    # green is twice as strong in the raw data; the as-shot balance makes it neutral
    assert np.ptp(means) < 0.02, means


def test_raw_inputs_default_to_16_bit_tiff_and_raw_output_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    save_dng(folder / "cam.dng")
    code, err = run_cli("run", folder, "-o", tmp_path / "out", "--filter", "grayscale")
    assert code == 0, err
    with Image.open(tmp_path / "out" / "cam.tif") as out:
        assert out.mode == "I;16" and out.size == (48, 32)
    code, err = run_cli(
        "run", folder / "cam.dng", "-o", tmp_path / "x.nef", "--filter", "grayscale"
    )
    assert code == 2 and "does not write them" in err
    with pytest.raises(UsageError, match="cannot write camera RAW"):
        normalize_format("dng")
    code, err = run_cli(
        "run", folder, "-o", tmp_path / "o", "--filter", "grayscale", "--format", "NEF"
    )
    assert code == 2 and "cannot write camera RAW (NEF)" in err


def test_a_corrupt_dng_fails_with_a_reason(tmp_path: Path) -> None:
    path = save_dng(tmp_path / "cam.dng")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="camera RAW"):
        read_image(path)


# --- colour -----------------------------------------------------------------------------


P3_RED, AS_SRGB = (200, 80, 60), (218, 67, 47)
"""P3 (200, 80, 60) is a redder red than sRGB (200, 80, 60): read as sRGB unconverted, the
colour would shift; converted, it is about sRGB (218, 67, 47)."""


def p3_photo(path: Path) -> Path:
    Image.new("RGB", (8, 6), P3_RED).save(path, icc_profile=display_p3_profile())
    return path


def description(icc: bytes) -> str:
    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))


def test_a_display_p3_photo_goes_to_srgb_for_the_networks_and_back(tmp_path: Path) -> None:
    source = p3_photo(tmp_path / "p3.png")
    plain = read_image(source)
    assert np.allclose(plain.pixels[0, 0] * 255, P3_RED, atol=0.5)  # as it is, by default
    frame = read_image(source, srgb=True)
    assert np.allclose(frame.pixels[0, 0] * 255, AS_SRGB, atol=3)
    assert frame.metadata.source_profile == display_p3_profile()
    back = reopen(encode_image(frame, SaveOptions("png")))  # default: the input's profile
    assert np.allclose(back.getpixel((0, 0)), P3_RED, atol=2)
    assert back.info["icc_profile"] == display_p3_profile()
    srgb = reopen(encode_image(frame, SaveOptions("png", output_profile="srgb")))
    assert np.allclose(srgb.getpixel((0, 0)), AS_SRGB, atol=3)
    assert "sRGB" in description(srgb.info["icc_profile"])
    bare = reopen(encode_image(frame, SaveOptions("png", strip_metadata=True)))
    assert np.allclose(bare.getpixel((0, 0)), AS_SRGB, atol=3) and "icc_profile" not in bare.info


def test_filters_without_a_network_keep_the_inputs_colours(tmp_path: Path) -> None:
    source = p3_photo(tmp_path / "p3.png")
    code, err = run_cli("run", source, "-o", tmp_path / "out.png", "--filter", "sharpen:0")
    assert code == 0, err
    with Image.open(tmp_path / "out.png") as out:
        assert out.getpixel((4, 4)) == P3_RED
        assert out.info["icc_profile"] == display_p3_profile()


def test_network_outputs_are_in_the_inputs_profile_or_srgb(tmp_path: Path) -> None:
    from model_helpers import write_sr_pack

    write_sr_pack(name="sharp-x4", scale=4, seed=1)
    source = p3_photo(tmp_path / "p3.png")
    for profile, expected in (("source", "Display P3"), ("srgb", "sRGB")):
        out = tmp_path / f"{profile}.png"
        args = ["--filter", "upscale:model=sharp-x4", "--output-profile", profile]
        code, err = run_cli("run", source, "-o", out, *args)
        assert code == 0, err
        with Image.open(out) as image:
            assert image.size == (32, 24) and expected in description(image.info["icc_profile"])


def test_an_srgb_profile_leaves_the_values_alone(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = tmp_path / "s.png"
    Image.fromarray(pixels()).save(source, icc_profile=srgb)
    frame = read_image(source, srgb=True)
    np.testing.assert_array_equal(np.rint(frame.pixels * 255), pixels())
    assert frame.metadata.icc_profile == srgb and frame.metadata.source_profile is None


# --- XMP and IPTC -----------------------------------------------------------------------


def jpeg_with_xmp_and_iptc(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(pixels()).save(buffer, "JPEG", xmp=XMP)
    data = buffer.getvalue()
    resource = b"8BIM\x04\x04\0\0" + struct.pack(">I", len(IPTC)) + IPTC
    payload = b"Photoshop 3.0\0" + resource
    path.write_bytes(
        data[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    )
    return path


@pytest.mark.parametrize("fmt", ["jpeg", "tiff", "png", "webp"])
def test_xmp_and_iptc_are_kept_where_the_format_holds_them(tmp_path: Path, fmt: str) -> None:
    frame = read_image(jpeg_with_xmp_and_iptc(tmp_path / "a.jpg"))
    assert frame.metadata.xmp == XMP and frame.metadata.iptc == IPTC
    out = reopen(encode_image(frame, SaveOptions(fmt)))
    assert b"Harbour at dawn" in out.info["xmp"]
    if fmt in ("jpeg", "tiff"):
        assert IptcImagePlugin.getiptcinfo(out)[(2, 25)] == b"boat"
    stripped = reopen(encode_image(frame, SaveOptions(fmt, strip_metadata=True)))
    assert "xmp" not in stripped.info and IptcImagePlugin.getiptcinfo(stripped) is None


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_16_bit_outputs_keep_xmp(fmt: str) -> None:
    frame = Frame(
        pixels=np.linspace(0, 1, 4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3),
        bit_depth=16,
        metadata=ImageMetadata(xmp=XMP, iptc=IPTC),
    )
    out = reopen(encode_image(frame, SaveOptions(fmt)))
    assert b"Harbour at dawn" in out.info["xmp"]
    if fmt == "tiff":
        assert IptcImagePlugin.getiptcinfo(out)[(2, 5)] == b"Harbour at dawn"


# --- DPI --------------------------------------------------------------------------------


def test_resize_divides_the_dpi_so_the_print_size_stays(tmp_path: Path) -> None:
    source = tmp_path / "scan.png"
    Image.fromarray(pixels(20, 40)).save(source, dpi=(300, 300))
    code, err = run_cli("run", source, "-o", tmp_path / "out.png", "--filter", "resize:2")
    assert code == 0, err
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (80, 40)
        assert np.allclose(out.info["dpi"], (150, 150), atol=0.1)


def test_metadata_resized_scales_each_axis() -> None:
    meta = ImageMetadata(dpi=(300.0, 200.0))
    assert meta.resized(4).dpi == (75.0, 50.0)
    assert meta.resized(2, 0.5).dpi == (150.0, 400.0)
    assert ImageMetadata().resized(4).dpi is None


# --- provenance -------------------------------------------------------------------------


def test_outputs_note_stylepipe_the_steps_and_models(tmp_path: Path) -> None:
    from model_helpers import write_sr_pack

    write_sr_pack(name="sharp-x4", scale=4, seed=1)
    source = jpeg_with_xmp_and_iptc(tmp_path / "a.jpg")
    code, err = run_cli(
        "run", source, "-o", tmp_path / "out.jpg", "--filter", "autocontrast",
        "--filter", "upscale:model=sharp-x4",
    )  # fmt: skip
    assert code == 0, err
    with Image.open(tmp_path / "out.jpg") as out:
        xmp = out.info["xmp"]
        software = out.getexif()[0x0131]
    assert b"Harbour at dawn" in xmp  # the photo's own XMP stays
    assert b'stylepipe:models="upscale: sharp-x4"' in xmp
    assert b"""autocontrast -&gt; upscale(model="sharp-x4")""" in xmp
    assert software.startswith("stylepipe ")
    code, err = run_cli(
        "run", tmp_path / "out.jpg", "-o", tmp_path / "again.jpg", "--filter", "grayscale"
    )  # fmt: skip
    with Image.open(tmp_path / "again.jpg") as again:
        assert again.info["xmp"].count(b"stylepipe:software") == 1  # replaced, not repeated
        assert b'stylepipe:pipeline="grayscale"' in again.info["xmp"]


def test_no_provenance_and_strip_metadata_leave_no_note(tmp_path: Path) -> None:
    source = tmp_path / "a.png"
    Image.fromarray(pixels()).save(source)
    for flag in ("--no-provenance", "--strip-metadata"):
        out = tmp_path / f"out{flag}.png"
        code, err = run_cli("run", source, "-o", out, "--filter", "grayscale", flag)
        assert code == 0, err
        with Image.open(out) as image:
            assert "xmp" not in image.info and 0x0131 not in image.getexif()


def test_without_the_extras_a_batch_reads_the_rest_and_names_the_extras(tmp_path: Path) -> None:
    """A real process in which pillow-heif and rawpy cannot be imported."""
    import subprocess
    import sys

    folder = tmp_path / "in"
    folder.mkdir()
    save_heic(folder / "phone.heic")
    save_dng(folder / "camera.dng")
    Image.fromarray(pixels()).save(folder / "a.jpg")
    code = (
        "import sys; sys.modules['pillow_heif'] = sys.modules['rawpy'] = None\n"
        "from stylepipe.cli import main\n"
        f"sys.exit(main(['run', {str(folder)!r}, '-o', {str(tmp_path / 'out')!r}, "
        "'--filter', 'grayscale']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    err = " ".join(done.stderr.split())
    assert (
        "1 file skipped: .heic (HEIC/HEIF) needs pillow-heif: pip install 'stylepipe[heif]'" in err
    )
    assert "1 file skipped: .dng (camera RAW) needs rawpy: pip install 'stylepipe[raw]'" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.jpg"]
