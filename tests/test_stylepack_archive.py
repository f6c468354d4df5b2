"""Exporting and installing .stylepack files: the happy paths, replacement, clashes and
the export-side refusals. Hostile archives are in test_install_hostile.py."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from sharing_helpers import (
    builtin_catalog,
    cli,
    jpeg_bytes,
    listing,
    make_pack,
    members_of,
    wide_terminal,  # noqa: F401 (an autouse fixture)
)

from stylepipe.errors import InvalidPackError, StylepackError, UsageError
from stylepipe.models.spec import ModelSpec
from stylepipe.packs.archive import COMMENT, export_stylepack, install_stylepack
from stylepipe.packs.format import MANIFEST, WEIGHTS, read_pack
from stylepipe.packs.validate import read_stylepack_manifest
from stylepipe.paths import user_plugin_dir


@pytest.fixture
def pack(tmp_path: Path):
    return make_pack(tmp_path / "src")


def test_export_holds_manifest_weights_and_pictures_with_checksums(pack, tmp_path: Path) -> None:
    preview = jpeg_bytes((1, 2, 3))
    out = export_stylepack(pack, tmp_path / "tiny.stylepack", preview=preview)
    members = members_of(out)
    assert sorted(members) == sorted([MANIFEST, WEIGHTS, "preview.jpg", "style.jpg"])
    for name in (WEIGHTS, "style.jpg"):
        assert members[name] == (pack.path / name).read_bytes()
    assert members["preview.jpg"] == preview  # the given one, never the pack's own
    manifest = json.loads(members[MANIFEST])
    assert manifest["files"] == {
        name: hashlib.sha256(members[name]).hexdigest()
        for name in (WEIGHTS, "preview.jpg", "style.jpg")
    }
    assert manifest["training"] == {"style_image": "starry.jpg", "steps": 20}  # no folders
    for key in ("name", "kind", "architecture", "arch_params", "input_range", "description"):
        assert manifest[key] == pack.manifest[key]
    with zipfile.ZipFile(out) as zf:
        assert zf.comment == COMMENT


def test_without_a_preview_the_packs_own_stays_out(pack, tmp_path: Path) -> None:
    members = members_of(export_stylepack(pack, tmp_path / "tiny.stylepack"))
    assert sorted(members) == sorted([MANIFEST, WEIGHTS, "style.jpg"])
    assert set(json.loads(members[MANIFEST])["files"]) == {WEIGHTS, "style.jpg"}


def test_export_is_reproducible(pack, tmp_path: Path) -> None:
    first = export_stylepack(pack, tmp_path / "a.stylepack").read_bytes()
    second = export_stylepack(pack, tmp_path / "b.stylepack").read_bytes()
    assert first == second


def test_round_trip_installs_identical_files(pack, tmp_path: Path) -> None:
    out = export_stylepack(pack, tmp_path / "tiny.stylepack", preview=jpeg_bytes())
    root = tmp_path / "other" / "plugins"
    result = install_stylepack(out, root, builtin_catalog())
    assert result.pack.path == root / "tiny" and not result.replaced
    for name, data in members_of(out).items():
        assert (root / "tiny" / name).read_bytes() == data
    read_pack(root / "tiny").verify()
    assert listing(root) == sorted(
        ["tiny", *(f"tiny/{n}" for n in (MANIFEST, WEIGHTS, "preview.jpg", "style.jpg"))]
    )  # no staging folder left beside it


def test_read_manifest_without_installing(pack, tmp_path: Path) -> None:
    out = export_stylepack(pack, tmp_path / "tiny.stylepack")
    assert read_stylepack_manifest(out) == json.loads(members_of(out)[MANIFEST])


def test_force_replaces_an_installed_pack(pack, tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    install_stylepack(export_stylepack(pack, tmp_path / "v1.stylepack"), root, builtin_catalog())
    newer = make_pack(tmp_path / "src2", seed=1)
    archive = export_stylepack(newer, tmp_path / "v2.stylepack")
    with pytest.raises(InvalidPackError, match="already installed"):
        install_stylepack(archive, root, builtin_catalog())
    assert (root / "tiny" / WEIGHTS).read_bytes() == (pack.path / WEIGHTS).read_bytes()
    result = install_stylepack(archive, root, builtin_catalog(), force=True)
    assert result.replaced
    assert (root / "tiny" / WEIGHTS).read_bytes() == (newer.path / WEIGHTS).read_bytes()
    assert sorted(p.name for p in root.iterdir()) == ["tiny"]


def test_a_name_used_by_another_plugin_needs_force(pack, tmp_path: Path) -> None:
    catalog = builtin_catalog()
    other = ModelSpec("tiny", "style", "johnson-style", {}, tmp_path / "w.safetensors")
    catalog.models.add("tiny", other, source="someplugin")
    archive = export_stylepack(pack, tmp_path / "tiny.stylepack")
    with pytest.raises(InvalidPackError, match="someplugin/tiny") as caught:
        install_stylepack(archive, tmp_path / "plugins", catalog)
    assert caught.value.hint and "--force" in caught.value.hint
    assert not (tmp_path / "plugins").exists()
    result = install_stylepack(archive, tmp_path / "plugins", catalog, force=True)
    assert result.shadows == ("someplugin/tiny",)


def test_export_refuses_a_modified_pack(pack, tmp_path: Path) -> None:
    weights = pack.path / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(StylepackError, match="checksum"):
        export_stylepack(pack, tmp_path / "tiny.stylepack")
    assert not (tmp_path / "tiny.stylepack").exists()
    assert not list(tmp_path.glob(".tiny.stylepack*"))


def test_export_refuses_files_outside_the_allow_list(tmp_path: Path) -> None:
    from sharing_helpers import tiny_state

    from stylepipe.packs.format import write_pack

    manifest = {
        "name": "odd",
        "kind": "style",
        "architecture": "johnson-style",
        "arch_params": {"width": 4, "n_residual": 1},
        "input_range": 1.0,
        "scale": 1,
    }
    odd = write_pack(tmp_path / "odd", manifest, tiny_state(), {"run.py": b"print(1)"})
    with pytest.raises(StylepackError, match=r"run\.py cannot be shared"):
        export_stylepack(odd, tmp_path / "odd.stylepack")


def test_export_does_not_overwrite_without_force(pack, tmp_path: Path) -> None:
    out = tmp_path / "tiny.stylepack"
    out.write_bytes(b"keep me")
    with pytest.raises(UsageError, match="already exists"):
        export_stylepack(pack, out)
    assert out.read_bytes() == b"keep me"
    export_stylepack(pack, out, overwrite=True)
    assert zipfile.is_zipfile(out)


def test_cli_export_then_install_into_a_second_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_pack(user_plugin_dir())
    out = tmp_path / "share"
    out.mkdir()
    assert cli("export", "tiny", "-o", out) == 0
    archive = out / "tiny.stylepack"
    assert archive.is_file()
    assert cli("export", "tiny", "-o", archive) == 2  # exists: refused
    assert "already exists" in capsys.readouterr().err
    second = tmp_path / "home2"
    monkeypatch.setenv("STYLEPIPE_HOME", str(second))
    assert cli("install", archive) == 0
    assert "installed style model 'tiny'" in capsys.readouterr().err
    read_pack(second / "plugins" / "tiny").verify()
    assert cli("models", "--json") == 0
    models = json.loads(capsys.readouterr().out)["models"]
    mine = [m for m in models if m["qualified_name"] == "stylepipe_local/tiny"]
    assert mine and mine[0]["origin"] == "user"


def test_cli_export_of_an_unknown_model_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli("export", "nosuchstyle") == 2
    assert "unknown model 'nosuchstyle'" in capsys.readouterr().err


def test_cli_export_of_a_broken_user_pack_says_why(capsys: pytest.CaptureFixture[str]) -> None:
    folder = user_plugin_dir() / "broken"
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text("{not json")
    assert cli("export", "broken") == 1
    assert "unreadable manifest" in capsys.readouterr().err


def sr_pack(root: Path, *, manifest_scale: int = 4):
    import torch
    from stylepipe_sr import build as build_sr

    from stylepipe.packs.format import write_pack

    torch.manual_seed(0)
    params = {"scale": 4, "width": 4, "n_residual": 1}
    manifest = {
        "name": "sr4",
        "kind": "sr",
        "architecture": "johnson-sr",
        "arch_params": params,
        "input_range": 1.0,
        "scale": manifest_scale,
    }
    return write_pack(root / "sr4", manifest, build_sr(**params).state_dict())


def test_super_resolution_packs_travel_too(tmp_path: Path, capsys) -> None:
    archive = export_stylepack(sr_pack(tmp_path / "src"), tmp_path / "sr4.stylepack")
    assert cli("install", archive) == 0
    assert "use it: stylepipe run PHOTOS -o OUT --filter upscale:model=sr4" in " ".join(
        capsys.readouterr().err.split()
    )
    assert read_pack(user_plugin_dir() / "sr4").manifest["kind"] == "sr"


def test_a_scale_that_the_network_does_not_have_is_refused(tmp_path: Path) -> None:
    archive = export_stylepack(
        sr_pack(tmp_path / "src", manifest_scale=8), tmp_path / "sr.stylepack"
    )
    with pytest.raises(InvalidPackError, match=r"scale 8 does not match the network \(x4\)"):
        install_stylepack(archive, tmp_path / "plugins", builtin_catalog())
    assert not (tmp_path / "plugins").exists()


def test_an_unwritable_plugin_dir_is_not_blamed_on_the_pack(pack, tmp_path: Path) -> None:
    from stylepipe.errors import StylepipeError

    archive = export_stylepack(pack, tmp_path / "tiny.stylepack")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the plugin dir's parent should be")
    with pytest.raises(StylepipeError, match="cannot install into") as caught:
        install_stylepack(archive, blocker / "plugins", builtin_catalog())
    assert not isinstance(caught.value, InvalidPackError)
    assert blocker.read_text().startswith("a file")


def test_uninstall_removes_a_user_pack_folder(capsys) -> None:
    installed = make_pack(user_plugin_dir())
    assert cli("uninstall", "tiny") == 0
    assert f"removed tiny: deleted {installed.path}" in " ".join(capsys.readouterr().err.split())
    assert listing(user_plugin_dir()) == []
    assert cli("uninstall", "tiny") == 2
    assert "nothing named 'tiny' is installed" in capsys.readouterr().err


def test_uninstall_removes_a_broken_pack_and_checks_every_name_first(capsys) -> None:
    make_pack(user_plugin_dir(), "good")
    broken = user_plugin_dir() / "broken"
    broken.mkdir()
    (broken / MANIFEST).write_text("{")
    assert cli("uninstall", "broken", "typo") == 2  # one unknown name: nothing removed
    assert "nothing named 'typo'" in capsys.readouterr().err
    assert broken.is_dir()
    assert cli("uninstall", "broken", "stylepipe_local/good") == 0
    assert listing(user_plugin_dir()) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("stylepipe", "refusing to uninstall stylepipe itself"),
        ("numpy", "numpy is not a stylepipe plugin"),
        ("../etc", "nothing named '../etc' is installed"),
    ],
)
def test_uninstall_refuses_what_is_not_a_plugin(name: str, message: str, capsys) -> None:
    assert cli("uninstall", name) == 2
    assert message in capsys.readouterr().err


def test_a_kind_the_architecture_does_not_make_is_refused_in_words(tmp_path: Path) -> None:
    from sharing_helpers import tiny_state

    from stylepipe.packs.format import write_pack

    manifest = {
        "name": "odd",
        "kind": "sr",
        "architecture": "johnson-style",
        "arch_params": {"width": 4, "n_residual": 1},
        "input_range": 1.0,
        "scale": 1,
    }
    archive = export_stylepack(write_pack(tmp_path / "odd", manifest, tiny_state()), tmp_path / "o")
    message = "architecture 'johnson-style' makes a style model, not a super-resolution model"
    with pytest.raises(InvalidPackError, match=message):
        install_stylepack(archive, tmp_path / "plugins", builtin_catalog())
