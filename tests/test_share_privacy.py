"""Shared packs carry nothing private: no folder of the trainer's machine in the manifest,
and a preview of the shipped sample photo instead of the pack's own (a training photo).
For ``export`` (.stylepack) and ``package`` (wheel) alike."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from sharing_helpers import (
    builtin_catalog,
    cli,
    jpeg_bytes,
    make_pack,
    members_of,
    wide_terminal,  # noqa: F401 (an autouse fixture)
)

from stylepipe.packs.format import MANIFEST, WEIGHTS, read_pack
from stylepipe.packs.previews import render_preview
from stylepipe.packs.shared import path_name, public_manifest
from stylepipe.paths import user_plugin_dir

BUNDLED = Path(__file__).resolve().parent.parent / "plugins" / "stylepipe_style" / "models"


def test_public_manifest_cuts_paths_to_names() -> None:
    manifest = {
        "format": "stylepipe-pack",
        "files": {"weights.safetensors": "0" * 64},
        "description": "Mosaic (style image from pytorch/examples), see https://x.org/a/b",
        "training": {
            "style_image": "/home/ann/Private Art/wave.jpg",
            "data": "../../ann/photos/",
            "preview": "C:\\Users\\Ann Smith\\kids.jpg",
            "relative": "samples/photos/chelsea.jpg",
            "command": "stylepipe train style ~/art/wave.jpg --data=/home/ann/photos -o ./x",
            "list": ["/srv/data/a.png", 3],
            "steps": 20,
        },
    }
    public, changed = public_manifest(manifest)
    training = public["training"]
    assert training["style_image"] == "wave.jpg"
    assert training["data"] == "photos"
    assert training["preview"] == "kids.jpg"
    assert training["relative"] == "samples/photos/chelsea.jpg"  # relative: nothing to hide
    assert training["command"] == "stylepipe train style wave.jpg --data=photos -o x"
    assert training["list"] == ["a.png", 3] and training["steps"] == 20
    assert public["description"] == manifest["description"]  # no path in it
    assert public["files"] == manifest["files"]
    assert changed == (
        "training.style_image",
        "training.data",
        "training.preview",
        "training.command",
        "training.list[0]",
    )
    assert manifest["training"]["data"] == "../../ann/photos/"  # the original is untouched
    assert path_name("/") == "."


@pytest.fixture
def mosaic() -> Path:
    """The bundled mosaic pack as a trainer has it in the user dir: its manifest records
    where the training photos and the style image were on the training machine."""
    dest = user_plugin_dir() / "mosaic"
    shutil.copytree(BUNDLED / "mosaic", dest)
    return dest


def test_export_of_a_trained_pack_leaks_no_path_and_no_private_preview(
    mosaic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = read_pack(mosaic)
    assert "/work/" in json.dumps(original.manifest)  # the trainer's folders are there
    archive = tmp_path / "mosaic.stylepack"
    assert cli("export", "mosaic", "-o", archive) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "paths cut to file names (no folders of this machine): training.settings.data" in err
    members = members_of(archive)
    text = members[MANIFEST].decode()
    for private in ("/work/", "../shared", "shared/assets"):
        assert private not in text
    manifest = json.loads(text)
    assert manifest["training"]["settings"]["data"] == "training_photos"
    assert manifest["training"]["settings"]["style_image"] == "mosaic.jpg"
    assert members[WEIGHTS] == (mosaic / WEIGHTS).read_bytes()
    assert members["preview.jpg"] == render_preview(original, builtin_catalog().architectures)
    assert members["preview.jpg"] != (mosaic / "preview.jpg").read_bytes()


def test_package_shares_the_same_way(mosaic: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    assert cli("package", "mosaic", "-o", dist) == 0
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        manifest = archive.read("stylepipe_style_mosaic/manifest.json").decode()
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
        preview = archive.read("stylepipe_style_mosaic/preview.jpg")
    for text in (manifest, metadata):  # the README (in METADATA) shows the training record
        assert "/work/" not in text and "../shared" not in text
    sources = (dist / wheel.name.split("-py3")[0]).rglob("*")
    for path in (p for p in sources if p.suffix in (".json", ".md", ".toml", "")):
        if path.is_file():
            assert "/work/" not in path.read_text(errors="replace"), path
    assert preview != (mosaic / "preview.jpg").read_bytes()


def test_a_pack_that_cannot_make_a_preview_is_shared_without_one(
    mosaic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model that gives black on the sample photo (the mosaic with a manifest that says
    0-255): the export says so and ships no preview (never the pack's own)."""
    manifest = json.loads((mosaic / MANIFEST).read_text())
    (mosaic / MANIFEST).write_text(json.dumps({**manifest, "input_range": 255.0}))
    archive = tmp_path / "dark.stylepack"
    assert cli("export", "mosaic", "-o", archive) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "the shared pack gets no preview" in err and "is black" in err
    assert "preview.jpg" not in members_of(archive)


def test_an_existing_file_is_refused_before_the_preview_is_made(
    mosaic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "mosaic.stylepack"
    archive.write_bytes(b"keep")
    assert cli("export", "mosaic", "-o", archive) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "making the preview" not in err
    assert archive.read_bytes() == b"keep"


def test_a_given_preview_replaces_the_packs_own(tmp_path: Path) -> None:
    from stylepipe.packs.archive import export_stylepack

    pack = make_pack(tmp_path / "src")
    mine = jpeg_bytes((9, 9, 9))
    members = members_of(export_stylepack(pack, tmp_path / "t.stylepack", preview=mine))
    assert members["preview.jpg"] == mine
