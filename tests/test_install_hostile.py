"""Hostile and broken .stylepack files: each is refused with exit status 2 and a message
saying why, and leaves nothing behind in the user plugin dir (or anywhere else)."""

from __future__ import annotations

import io
import json
import pickle
import stat
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from sharing_helpers import (
    builtin_catalog,
    cli,
    jpeg_bytes,
    listing,
    make_pack,
    members_of,
    tiny_state,
    wide_terminal,  # noqa: F401 (an autouse fixture)
    with_checksums,
    write_zip,
)

from stylepipe.errors import InvalidPackError
from stylepipe.packs.archive import export_stylepack, install_stylepack
from stylepipe.packs.format import MANIFEST, WEIGHTS
from stylepipe.packs.validate import ArchiveLimits
from stylepipe.paths import user_plugin_dir

pytestmark = pytest.mark.reliability


@pytest.fixture
def good(tmp_path: Path) -> dict[str, bytes]:
    """The members of a valid exported pack."""
    pack = make_pack(tmp_path / "src")
    return members_of(export_stylepack(pack, tmp_path / "good.stylepack", preview=jpeg_bytes()))


def refused(archive: Path, capsys: pytest.CaptureFixture[str], *fragments: str, home: Path) -> str:
    """Install through the CLI: exit status 2, every fragment in the message, nothing
    left under the user data dir."""
    before = listing(home)
    assert cli("install", archive) == 2
    err = capsys.readouterr().err
    flat = " ".join(err.split())
    for fragment in fragments:
        assert fragment in flat, flat
    assert "nothing was installed" in flat
    assert listing(home) == before
    return flat


class Payload:
    """Unpickling this creates ``marker``: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("kind", ["protocol2", "protocol0", "torch.save"])
def test_pickled_weights_never_run(
    kind: str,
    good: dict[str, bytes],
    tmp_path: Path,
    stylepipe_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    marker = tmp_path / "pwned"
    state = {"conv1.conv2d.weight": Payload(marker)}
    if kind == "torch.save":
        buffer = io.BytesIO()
        torch.save(state, buffer)
        evil = buffer.getvalue()
    else:
        evil = pickle.dumps(state, protocol=2 if kind == "protocol2" else 0)
    archive = write_zip(tmp_path / "evil.stylepack", with_checksums({**good, WEIGHTS: evil}))
    message = refused(archive, capsys, home=stylepipe_home)
    assert "safetensors" in message
    assert not marker.exists()
    # The control: these very bytes do run code when something unpickles them.
    if kind == "torch.save":
        torch.load(io.BytesIO(evil), weights_only=False)
    else:
        pickle.loads(evil)
    assert marker.exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.txt", "it contains '..'"),
        ("sub/../../evil.txt", "it contains '..'"),
        ("/tmp/evil.txt", "it is an absolute path"),
        ("..\\evil.txt", "it contains a backslash"),
        ("C:/evil.txt", "it is an absolute path"),
    ],
)
def test_zip_slip_names_are_refused(
    name: str,
    reason: str,
    good: dict[str, bytes],
    tmp_path: Path,
    stylepipe_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = write_zip(tmp_path / "slip.stylepack", [*good.items(), (name, b"gotcha")])
    refused(archive, capsys, "unsafe member name", reason, home=stylepipe_home)
    assert not list(tmp_path.parent.rglob("evil.txt"))


def test_symlink_members_are_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    link = zipfile.ZipInfo("preview.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    members = [(n, d) for n, d in good.items() if n != "preview.jpg"] + [(link, b"/etc/passwd")]
    archive = write_zip(tmp_path / "link.stylepack", members)
    refused(archive, capsys, "'preview.jpg' is a symbolic link", home=stylepipe_home)


def test_members_outside_the_allow_list_are_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    archive = write_zip(tmp_path / "x.stylepack", with_checksums({**good, "plugin.py": b"1"}))
    refused(archive, capsys, "unexpected member 'plugin.py'", home=stylepipe_home)
    archive = write_zip(tmp_path / "y.stylepack", [*good.items(), ("tiny/", b"")])
    refused(archive, capsys, "is in a folder", home=stylepipe_home)


@pytest.mark.parametrize("cut", [0.5, 0.98])
def test_truncated_archives_are_refused(
    cut: float, good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    whole = write_zip(tmp_path / "whole.stylepack", good).read_bytes()
    archive = tmp_path / "cut.stylepack"
    archive.write_bytes(whole[: int(len(whole) * cut)])
    refused(archive, capsys, "not a readable zip archive", home=stylepipe_home)


def test_corrupt_member_data_is_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    members = with_checksums({MANIFEST: good[MANIFEST], WEIGHTS: good[WEIGHTS]})
    raw = bytearray(write_zip(tmp_path / "a.stylepack", members).read_bytes())
    start = raw.index(b"PK\x03\x04", 10)  # the weights' local header: flip a data byte
    raw[start + 30 + len(WEIGHTS) + 200] ^= 0xFF
    archive = tmp_path / "corrupt.stylepack"
    archive.write_bytes(bytes(raw))
    refused(archive, capsys, f"cannot extract {WEIGHTS}", home=stylepipe_home)


def test_checksum_mismatch_is_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    manifest = json.loads(good[MANIFEST])
    manifest["files"][WEIGHTS] = "0" * 64
    archive = write_zip(
        tmp_path / "sum.stylepack", {**good, MANIFEST: json.dumps(manifest).encode()}
    )
    refused(archive, capsys, f"checksum of {WEIGHTS} does not match", home=stylepipe_home)


def test_unknown_architecture_is_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    members = with_checksums(good, architecture="vit-huge")
    archive = write_zip(tmp_path / "arch.stylepack", members)
    refused(archive, capsys, "unknown architecture 'vit-huge'", home=stylepipe_home)


def test_parameters_that_do_not_build_are_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    members = with_checksums(good, arch_params={"width": 4, "depth": 3})
    archive = write_zip(tmp_path / "params.stylepack", members)
    refused(archive, capsys, "do not build 'johnson-style'", "depth", home=stylepipe_home)


def test_weights_of_another_shape_are_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    members = with_checksums(good, arch_params={"width": 8, "n_residual": 1})
    archive = write_zip(tmp_path / "shape.stylepack", members)
    refused(
        archive,
        capsys,
        "do not fit the network",
        "conv1.conv2d.weight (4, 3, 9, 9) (network: (8, 3, 9, 9))",
        home=stylepipe_home,
    )


def test_nan_weights_are_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    from safetensors.torch import save

    state = tiny_state()
    state["conv1.conv2d.bias"][0] = float("nan")
    members = with_checksums({**good, WEIGHTS: save(state)})
    archive = write_zip(tmp_path / "nan.stylepack", members)
    refused(archive, capsys, "conv1.conv2d.bias holds NaN", home=stylepipe_home)


def test_bad_manifests_are_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    archive = write_zip(tmp_path / "v.stylepack", with_checksums(good, format_version=99))
    refused(archive, capsys, "unsupported format_version 99", home=stylepipe_home)
    archive = write_zip(tmp_path / "j.stylepack", {**good, MANIFEST: b"{nope"})
    refused(archive, capsys, "not valid UTF-8 JSON", home=stylepipe_home)
    unlisted = with_checksums(good)
    manifest = json.loads(unlisted[MANIFEST])
    del manifest["files"]["style.jpg"]
    unlisted[MANIFEST] = json.dumps(manifest).encode()
    archive = write_zip(tmp_path / "u.stylepack", unlisted)
    refused(
        archive, capsys, "style.jpg in the archive but not in the manifest", home=stylepipe_home
    )
    missing = {n: d for n, d in good.items() if n != "style.jpg"}
    archive = write_zip(tmp_path / "m.stylepack", missing)
    refused(archive, capsys, "style.jpg listed but not in the archive", home=stylepipe_home)


def test_pictures_must_be_pictures(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    members = with_checksums({**good, "preview.jpg": b"#!/bin/sh\nrm -rf ~\n"})
    archive = write_zip(tmp_path / "pic.stylepack", members)
    refused(archive, capsys, "preview.jpg is not a readable picture", home=stylepipe_home)
    png = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (8, 8)).save(png, "PNG")
    members = with_checksums({**good, "preview.jpg": png.getvalue()})
    archive = write_zip(tmp_path / "png.stylepack", members)
    refused(archive, capsys, "preview.jpg is a PNG file, expected JPEG", home=stylepipe_home)


def test_duplicate_name_keeps_the_installed_pack(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    installed = make_pack(user_plugin_dir(), seed=7)
    before = {p.name: p.read_bytes() for p in installed.path.iterdir()}
    archive = write_zip(tmp_path / "dup.stylepack", good)
    refused(archive, capsys, "a model named 'tiny' is already installed", home=stylepipe_home)
    assert {p.name: p.read_bytes() for p in installed.path.iterdir()} == before


def test_duplicate_members_are_refused(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    items = [*good.items(), ("preview.jpg", jpeg_bytes((0, 0, 0)))]
    with pytest.warns(UserWarning, match="Duplicate name"):
        archive = write_zip(tmp_path / "dup.stylepack", items)
    refused(archive, capsys, "member 'preview.jpg' appears twice", home=stylepipe_home)


def test_oversized_members_are_refused_from_their_declared_size(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    big = with_checksums({**good, "preview.jpg": b"\0" * (17 << 20)})  # deflates to ~17 kB
    archive = write_zip(tmp_path / "big.stylepack", big)
    assert archive.stat().st_size < 1 << 20
    refused(archive, capsys, "preview.jpg is 17825792 bytes, over the", home=stylepipe_home)
    manifest = json.loads(good[MANIFEST])
    manifest["description"] = "x" * (1 << 20)
    huge = {**good, MANIFEST: json.dumps(manifest).encode()}
    archive = write_zip(tmp_path / "manifest.stylepack", huge)
    refused(archive, capsys, "manifest.json is", "over the 1048576-byte limit", home=stylepipe_home)


def test_zip_bombs_are_refused_by_compression_ratio(
    good: dict[str, bytes], tmp_path: Path, stylepipe_home: Path, capsys
) -> None:
    bomb = with_checksums({**good, WEIGHTS: b"\0" * (8 << 20)})
    archive = write_zip(tmp_path / "bomb.stylepack", bomb)
    refused(archive, capsys, "refusing a likely zip bomb", home=stylepipe_home)


def test_too_many_members_and_too_large_a_total(good: dict[str, bytes], tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    with pytest.warns(UserWarning):
        many = write_zip(tmp_path / "many.stylepack", [*good.items()] * 5)
    with pytest.raises(InvalidPackError, match="20 members; a pack has at most 16"):
        install_stylepack(many, root, builtin_catalog())
    archive = write_zip(tmp_path / "ok.stylepack", good)
    small = ArchiveLimits(max_total=len(good[WEIGHTS]))
    with pytest.raises(InvalidPackError, match="members add up to"):
        install_stylepack(archive, root, builtin_catalog(), limits=small)
    assert not root.exists()


def test_a_header_that_understates_the_size_is_caught_while_extracting(
    good: dict[str, bytes], tmp_path: Path
) -> None:
    """The central directory claims fewer bytes than the member inflates to: the copy
    stops at the declared size instead of trusting it."""
    archive = write_zip(tmp_path / "liar.stylepack", good)
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(WEIGHTS)
    true_size, lie = info.file_size, info.file_size // 2
    old = struct.pack("<I", true_size)
    assert raw.count(old) == 2  # once in the local header, once in the central directory
    archive.write_bytes(bytes(raw).replace(old, struct.pack("<I", lie)))
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo(WEIGHTS).file_size == lie
    root = tmp_path / "plugins"
    with pytest.raises(InvalidPackError, match=f"cannot extract {WEIGHTS}|inflates past"):
        install_stylepack(archive, root, builtin_catalog())
    assert not root.exists()


def test_not_a_file_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert cli("install", tmp_path / "missing.stylepack") == 2
    assert "no such file" in capsys.readouterr().err
