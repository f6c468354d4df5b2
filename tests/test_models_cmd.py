"""``stylepipe models``: listing, ``models show`` and the contact sheet."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from sharing_helpers import (
    cli,
    make_pack,
    wide_terminal,  # noqa: F401 (an autouse fixture)
)

from stylepipe.commands.models import training_summary
from stylepipe.models.contact_sheet import GAP, LABEL_HEIGHT, sample_photo
from stylepipe.packs.format import WEIGHTS
from stylepipe.paths import user_plugin_dir
from stylepipe.ui import UI


@pytest.fixture
def two_packs():
    root = user_plugin_dir()
    return make_pack(root, "alpha", seed=1), make_pack(root, "beta", seed=2)


def test_json_lists_user_packs_with_source_and_training(two_packs, capsys) -> None:
    assert cli("models", "--json") == 0
    models = {m["qualified_name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    alpha = models["stylepipe_local/alpha"]
    assert alpha["origin"] == "user" and alpha["source"] == "stylepipe_local"
    assert (alpha["kind"], alpha["architecture"], alpha["scale"]) == ("style", "johnson-style", 1)
    assert alpha["arch_params"] == {"width": 4, "n_residual": 1}
    assert alpha["training_summary"] == "style_image=starry.jpg, steps=20"
    assert alpha["description"] == "test style alpha"
    assert alpha["path"] == str(two_packs[0].path)
    assert "stylepipe_local/beta" in models
    assert cli("models", "--json", "--kind", "sr") == 0
    assert not [m for m in json.loads(capsys.readouterr().out)["models"] if m["origin"] == "user"]


def test_table_names_each_model_and_its_origin(two_packs, capsys) -> None:
    assert cli("models") == 0
    out = capsys.readouterr().out
    for text in ("alpha", "beta", "user dir", "johnson-style", "x1", "starry.jpg"):
        assert text in out


def test_show_prints_the_manifest_and_where_the_preview_is(two_packs, capsys) -> None:
    assert cli("models", "show", "alpha") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == two_packs[0].manifest
    assert f"preview: {two_packs[0].path / 'preview.jpg'}" in captured.err
    assert "training: style_image=starry.jpg" in captured.err
    assert "stylepipe_local/alpha: style model, user dir" in captured.err
    assert cli("models", "show", "gamma") == 2
    assert "unknown model 'gamma'" in capsys.readouterr().err


def test_show_says_the_kind_in_words(capsys) -> None:
    """Issue 18, bug 9: "super-resolution model", not "sr model"."""
    from model_helpers import write_sr_pack

    write_sr_pack(name="sharp-x4")
    assert cli("models", "show", "sharp-x4") == 0
    err = capsys.readouterr().err
    assert "stylepipe_local/sharp-x4: super-resolution model, user dir" in err
    assert "sr model" not in err


def test_training_summary() -> None:
    assert training_summary(None) == ""
    assert training_summary("3 epochs on COCO") == "3 epochs on COCO"
    summary = training_summary(
        {
            "style_image": "C:\\art\\wave.jpg",
            "steps": 2000,
            "loss_network": {"name": "vgg16", "seed": 0},
            "final_loss": 1839.7487335,
            "settings": {"lr": 0.001},
        }
    )
    assert summary == "style_image=wave.jpg, steps=2000, loss_network=vgg16, final_loss=1840"
    assert training_summary({"lr": 0.001, "batch": 4}) == "lr=0.001, batch=4"


def test_picture_renders_half_blocks_only_on_a_terminal() -> None:
    image = Image.new("RGB", (4, 4), (255, 0, 0))
    image.paste((0, 0, 255), (0, 2, 4, 4))  # top half red, bottom half blue
    plain = io.StringIO()
    ui = UI(stdout=plain, stderr=io.StringIO())
    assert ui.picture(image) is False and plain.getvalue() == ""
    tty = io.StringIO()
    ui.out = Console(file=tty, force_terminal=True, color_system="truecolor", width=80)
    assert ui.picture(image, columns=4) is True
    text = tty.getvalue()
    assert text.count("\u2580") == 8  # 4 columns x 2 rows of cells for 4x4 pixels
    assert "38;2;255;0;0" in text and "48;2;255;0;0" in text  # red above red (top row)
    assert "48;2;0;0;255" in text  # blue below (bottom row)


def cell(sheet: Image.Image, index: int, size: int, cols: int) -> np.ndarray:
    x0 = GAP + (index % cols) * (size + GAP)
    y0 = GAP + (index // cols) * (size + LABEL_HEIGHT + GAP)
    return np.asarray(sheet.crop((x0, y0, x0 + size, y0 + size)), dtype=np.int16)


def test_contact_sheet_shows_every_style(two_packs, tmp_path: Path, capsys) -> None:
    out = tmp_path / "sheet.png"
    assert cli("models", "--contact-sheet", out, "--size", "64", "--device", "cpu") == 0
    assert "2 styled, 0 failed" in " ".join(capsys.readouterr().err.split())
    with Image.open(out) as sheet:
        assert sheet.size == (2 * (64 + GAP) + GAP, 2 * (64 + LABEL_HEIGHT + GAP) + GAP)
        original, alpha, beta = (cell(sheet, i, 64, 2) for i in range(3))
        label = np.asarray(sheet.crop((GAP, GAP + 64, GAP + 64, GAP + 64 + LABEL_HEIGHT)))
    expected = np.asarray(sample_photo(64), dtype=np.int16)
    assert np.abs(original - expected).mean() < 1  # PNG: the photo itself
    assert np.abs(alpha - original).mean() > 5 and np.abs(alpha - beta).mean() > 5
    assert label.max() > 200  # the label text is drawn


def test_contact_sheet_with_a_photo_and_a_failing_style(two_packs, tmp_path: Path, capsys) -> None:
    photo = tmp_path / "wide.jpg"
    Image.new("RGB", (120, 60), (30, 160, 90)).save(photo)
    weights = two_packs[1].path / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # sha256 no longer matches
    out = tmp_path / "sheet.jpg"
    code = cli("models", "--contact-sheet", out, "--photo", photo, "--size", "64")
    assert code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "beta" in err and "sha256" in err and "1 styled, 1 failed" in err
    with Image.open(out) as sheet:
        original, failed = cell(sheet, 0, 64, 2), cell(sheet, 2, 64, 2)
    assert np.abs(original[32, 32] - (30, 160, 90)).max() < 12  # photo centred, letterboxed
    assert np.abs(original[2, 32] - (24, 24, 24)).max() < 12
    assert np.abs(failed[32, 32] - (90, 30, 30)).max() < 12  # the failed cell


def test_contact_sheet_rejects_unknown_formats(two_packs, tmp_path: Path, capsys) -> None:
    assert cli("models", "--contact-sheet", tmp_path / "sheet.gif", "--size", "64") == 2
    assert "cannot tell the image format" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_contact_sheet_of_upscalers_shows_each_beside_bicubic(tmp_path: Path, capsys) -> None:
    from model_helpers import write_sr_pack

    write_sr_pack(name="sharp-x4")
    out = tmp_path / "sr.png"
    code = cli("models", "--kind", "sr", "--contact-sheet", out, "--size", "64", "--device", "cpu")
    err = " ".join(capsys.readouterr().err.split())
    assert code == 0, err
    assert "1 upscaled, 0 failed" in err and "no style models" not in err
    with Image.open(out) as sheet:  # original, bicubic x4, the model: a 2x2 grid
        assert sheet.size == (2 * (64 + GAP) + GAP, 2 * (64 + LABEL_HEIGHT + GAP) + GAP)
        original, baseline, model = (cell(sheet, i, 64, 2) for i in range(3))
    photo = np.asarray(sample_photo(64), dtype=np.int16)
    assert np.abs(original - photo).mean() < 1
    assert 0 < np.abs(baseline - photo).mean() < 40  # the photo, blurred by the round trip
    assert np.abs(model - baseline).mean() > 1 and np.abs(model - photo).mean() < 60


@pytest.mark.parametrize(("kind", "words"), [(None, "style models"), ("sr", "super-resolution")])
def test_contact_sheet_without_models_of_the_kind_is_refused(
    kind: str | None, words: str, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "sheet.jpg"
    args = ["models", "--contact-sheet", out, *(["--kind", kind] if kind else [])]
    assert cli(*args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"no {words}" in err and "nothing to put on a contact sheet" in err
    assert "import-model" in err
    assert not out.exists()


def test_contact_sheet_does_not_overwrite_without_overwrite(
    two_packs, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "sheet.png"
    out.write_bytes(b"my own picture")
    assert cli("models", "--contact-sheet", out, "--size", "32", "--device", "cpu") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{out} already exists" in err and "--overwrite" in err and "stylizing" not in err
    assert out.read_bytes() == b"my own picture"
    args = ["--size", "32", "--device", "cpu", "--overwrite"]
    assert cli("models", "--contact-sheet", out, *args) == 0
    with Image.open(out) as sheet:
        assert sheet.format == "PNG"


def test_contact_sheet_size_is_checked_first(two_packs, tmp_path: Path, capsys) -> None:
    assert cli("models", "--contact-sheet", tmp_path / "s.png", "--size", "16") == 2
    assert "--size must be between 32 and 2048 pixels, got 16" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
