"""``stylepipe package``: the wheel (checked against the wheel spec and installed with
pip into a fresh virtualenv), the sdist and its source tree."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sharing_helpers import (
    cli,
    jpeg_bytes,
    make_pack,
    wide_terminal,  # noqa: F401 (an autouse fixture)
)

from stylepipe.errors import UsageError
from stylepipe.packs.format import MANIFEST, WEIGHTS
from stylepipe.packs.wheel import build_package, package_info, plugin_source
from stylepipe.paths import user_plugin_dir

MODULE = "stylepipe_style_tiny"


@pytest.fixture
def pack(tmp_path: Path):
    return make_pack(tmp_path / "src", extra={"author": "Manifest Author", "license": "MIT"})


def wheel_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_metadata_comes_from_options_then_manifest_then_defaults(pack) -> None:
    info = package_info(pack)
    assert (info.version, info.author, info.license) == ("1.0.0", "Manifest Author", "MIT")
    assert info.summary == "test style tiny"
    info = package_info(pack, version="2.1rc1", author="Ann", license="CC-BY-4.0")
    assert (info.version, info.author, info.license) == ("2.1rc1", "Ann", "CC-BY-4.0")
    assert (info.dist_name, info.module) == ("stylepipe-style-tiny", MODULE)
    assert info.wheel_name == "stylepipe_style_tiny-2.1rc1-py3-none-any.whl"
    with pytest.raises(UsageError, match="invalid package version 'v1 beta'"):
        package_info(pack, version="v1 beta")


def test_names_with_dots_and_dashes_are_normalized(tmp_path: Path) -> None:
    info = package_info(make_pack(tmp_path, "van-gogh.v2"))
    assert info.dist_name == "stylepipe-style-van-gogh-v2"
    assert info.module == "stylepipe_style_van_gogh_v2"
    assert info.wheel_name.startswith("stylepipe_style_van_gogh_v2-1.0.0-")


def test_wheel_follows_the_spec(pack, tmp_path: Path) -> None:
    preview = jpeg_bytes((5, 6, 7))
    info = package_info(pack, version="1.2.0")
    result = build_package(pack, info, tmp_path / "dist", preview=preview)
    members = wheel_members(result.wheel)
    dist_info = "stylepipe_style_tiny-1.2.0.dist-info"
    assert sorted(members) == sorted(
        [f"{MODULE}/{n}" for n in ("__init__.py", MANIFEST, WEIGHTS, "preview.jpg", "style.jpg")]
        + [f"{dist_info}/{n}" for n in ("METADATA", "WHEEL", "entry_points.txt")]
        + [f"{dist_info}/top_level.txt", f"{dist_info}/RECORD"]
    )
    assert list(members)[-1] == f"{dist_info}/RECORD"
    for name in (WEIGHTS, "style.jpg"):
        assert members[f"{MODULE}/{name}"] == (pack.path / name).read_bytes()
    assert members[f"{MODULE}/preview.jpg"] == preview  # the given one, never the pack's own
    manifest = json.loads(members[f"{MODULE}/{MANIFEST}"])
    assert manifest["training"]["style_image"] == "starry.jpg"  # no folder of the trainer's
    assert manifest["files"]["preview.jpg"] == hashlib.sha256(preview).hexdigest()
    wheel = Parser().parsestr(members[f"{dist_info}/WHEEL"].decode())
    assert (wheel["Wheel-Version"], wheel["Root-Is-Purelib"], wheel["Tag"]) == (
        "1.0",
        "true",
        "py3-none-any",
    )
    meta = Parser().parsestr(members[f"{dist_info}/METADATA"].decode())
    assert (meta["Name"], meta["Version"], meta["Author"]) == (
        "stylepipe-style-tiny",
        "1.2.0",
        "Manifest Author",
    )
    assert meta["Requires-Dist"].startswith("stylepipe")
    assert "--filter style:model=tiny" in meta.get_payload()
    entry_points = members[f"{dist_info}/entry_points.txt"].decode()
    assert entry_points == f"[stylepipe]\n{MODULE} = {MODULE}\n"
    record = members[f"{dist_info}/RECORD"].decode().splitlines()
    assert record[-1] == f"{dist_info}/RECORD,,"
    for line in record[:-1]:
        name, digest, size = line.rsplit(",", 2)
        data = members[name]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        assert digest == "sha256=" + expected.decode() and int(size) == len(data)
    assert len(record) == len(members)


def test_builds_are_reproducible(pack, tmp_path: Path) -> None:
    info = package_info(pack)
    first = build_package(pack, info, tmp_path / "a")
    second = build_package(pack, info, tmp_path / "b")
    assert first.wheel.read_bytes() == second.wheel.read_bytes()
    assert first.sdist.read_bytes() == second.sdist.read_bytes()


def test_metadata_cannot_be_forged_through_newlines(pack, tmp_path: Path) -> None:
    info = package_info(pack, description="nice\nRequires-Dist: evil-package", author="A\r\nB")
    result = build_package(pack, info, tmp_path)
    meta = wheel_members(result.wheel)["stylepipe_style_tiny-1.0.0.dist-info/METADATA"].decode()
    headers = Parser().parsestr(meta)
    assert headers.get_all("Requires-Dist") == [headers["Requires-Dist"]]
    assert "evil-package" not in headers["Requires-Dist"]
    assert headers["Summary"] == "nice Requires-Dist: evil-package"
    assert headers["Author"] == "A B"


def test_source_tree_and_sdist(pack, tmp_path: Path) -> None:
    info = package_info(pack, description='quote " and \\ and ünïcode')
    result = build_package(pack, info, tmp_path, preview=jpeg_bytes())
    pyproject = tomllib.loads((result.source_tree / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "stylepipe-style-tiny"
    assert pyproject["project"]["description"] == 'quote " and \\ and ünïcode'
    assert pyproject["project"]["entry-points"]["stylepipe"] == {MODULE: MODULE}
    data = pyproject["tool"]["setuptools"]["package-data"][MODULE]
    assert sorted(data) == sorted([MANIFEST, WEIGHTS, "preview.jpg", "style.jpg"])
    module = result.source_tree / "src" / MODULE
    assert (module / "__init__.py").read_text() == plugin_source(info)
    assert (module / WEIGHTS).read_bytes() == (pack.path / WEIGHTS).read_bytes()
    assert "MIT" in (result.source_tree / "LICENSE.txt").read_text()
    with tarfile.open(result.sdist) as tar:
        names = tar.getnames()
    base = "stylepipe_style_tiny-1.0.0"
    assert f"{base}/PKG-INFO" in names and f"{base}/pyproject.toml" in names
    assert f"{base}/src/{MODULE}/{WEIGHTS}" in names


def test_plugin_source_uses_only_the_public_api(pack) -> None:
    import stylepipe

    source = plugin_source(package_info(pack))
    imported = [line for line in source.splitlines() if line.startswith("from stylepipe")]
    assert imported == ["from stylepipe import ModelSpec, hookimpl, read_pack"]
    assert {"ModelSpec", "hookimpl", "read_pack"} <= set(stylepipe.__all__)


def test_cli_package_writes_files_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_pack(user_plugin_dir())
    dist = tmp_path / "dist"
    assert cli("package", "tiny", "-o", dist, "--version", "0.3.0") == 0
    err = capsys.readouterr().err
    assert "no licence given" in err and "stylepipe-style-tiny 0.3.0" in err
    assert (dist / "stylepipe_style_tiny-0.3.0-py3-none-any.whl").is_file()
    assert (dist / "stylepipe_style_tiny-0.3.0.tar.gz").is_file()
    assert cli("package", "tiny", "-o", dist, "--version", "0.3.0") == 2
    assert "already exists" in capsys.readouterr().err
    assert cli("package", "tiny", "-o", dist, "--version", "0.3.0", "--force") == 0


# --- pip, in a fresh virtualenv -------------------------------------------------------------


def make_venv(path: Path) -> Path:
    """A virtualenv that sees this environment's packages (stylepipe, torch, pip) through
    a .pth file, so that nothing is downloaded; returns its python."""
    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    here = sysconfig.get_paths()["purelib"]
    # addsitedir (not a bare path line) also runs the .pth files there: the editable
    # install of stylepipe is one.
    Path(purelib, "_stylepipe_parent.pth").write_text(f"import site; site.addsitedir({here!r})\n")
    return python


def stylepipe_in(python: Path, home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEPIPE_")}
    env["STYLEPIPE_HOME"] = str(home)
    return subprocess.run(
        [python, "-m", "stylepipe", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


DRIVER = """
import io, json, sys
from stylepipe.cli import main
from stylepipe.ui import UI
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, ui=UI(stdout=out, stderr=err))
    results.append({"code": code, "out": out.getvalue(), "err": " ".join(err.getvalue().split())})
print(json.dumps(results))
"""


def stylepipe_steps(python: Path, home: Path, *steps: list[str | Path]) -> list[dict[str, str]]:
    """Several stylepipe commands in one process of ``python`` (each pays no second
    torch import): their exit codes, stdout and whitespace-normalized stderr."""
    argv = json.dumps([[str(a) for a in step] for step in steps])
    env = {k: v for k, v in os.environ.items() if not k.startswith("STYLEPIPE_")}
    env["STYLEPIPE_HOME"] = str(home)
    done = subprocess.run(
        [python, "-c", DRIVER, argv], capture_output=True, text=True, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_wheel_installs_with_pip_lists_runs_and_uninstalls(tmp_path: Path) -> None:
    make_pack(user_plugin_dir())
    dist = tmp_path / "dist"
    assert cli("package", "tiny", "-o", dist, "--version", "1.2.0", "--license", "MIT") == 0
    assert cli("export", "tiny", "-o", tmp_path / "tiny.stylepack") == 0
    wheel = dist / "stylepipe_style_tiny-1.2.0-py3-none-any.whl"
    python, home = make_venv(tmp_path / "venv"), tmp_path / "home2"

    done = stylepipe_in(python, home, "install", "--no-deps", "--no-index", wheel)
    assert done.returncode == 0, done.stderr
    assert "new stylepipe plugin 'stylepipe_style_tiny'" in done.stderr
    models = json.loads(stylepipe_in(python, home, "models", "--json").stdout)["models"]
    mine = [m for m in models if m["qualified_name"] == f"{MODULE}/tiny"]
    assert mine and mine[0]["origin"] == "package"
    assert (mine[0]["package"], mine[0]["package_version"]) == ("stylepipe-style-tiny", "1.2.0")

    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photos / "a.png")
    pack = tmp_path / "tiny.stylepack"
    steps = stylepipe_steps(
        python,
        home,
        ["run", photos, "-o", out, "--filter", "style:model=tiny"],
        ["install", pack],  # the same short name as the package's model: refused
        ["install", pack, "--force"],
        ["models", "show", "tiny"],
        ["uninstall", "tiny"],
        ["uninstall", "stylepipe_local/tiny"],
        ["uninstall", "tiny"],
        ["models", "--json"],
        ["uninstall", "tiny"],
    )
    run, clash, forced, show, ambiguous, local, package, listed, gone = steps
    assert run["code"] == 0, run["err"]
    with Image.open(out / "a.png") as result:
        assert result.size == (48, 40)
        assert not np.array_equal(np.asarray(result.convert("RGB")), pixels)
    assert clash["code"] == 2 and f"already used by {MODULE}/tiny" in clash["err"]
    assert forced["code"] == 0 and "qualified name stylepipe_local/tiny" in forced["err"]
    assert show["code"] == 2 and f"stylepipe_local/tiny, {MODULE}/tiny" in show["err"]
    assert ambiguous["code"] == 2 and "'tiny' is ambiguous" in ambiguous["err"]
    assert local["code"] == 0 and not (home / "plugins" / "tiny").exists()
    assert package["code"] == 0 and "uninstalled stylepipe-style-tiny" in package["err"]
    assert not [m for m in json.loads(listed["out"])["models"] if m["name"] == "tiny"]
    assert gone["code"] == 2 and "nothing named 'tiny' is installed" in gone["err"]
    assert not list((tmp_path / "venv").rglob("stylepipe_style_tiny*"))
    assert importlib.util.find_spec(MODULE) is None  # this environment was never touched


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("build") is None or importlib.util.find_spec("setuptools") is None,
    reason="needs the dev tools build and setuptools (pip install -e '.[dev]')",
)
def test_source_tree_rebuilds_the_same_package_offline(pack, tmp_path: Path) -> None:
    result = build_package(pack, package_info(pack, license="MIT"), tmp_path / "dist")
    out = tmp_path / "rebuilt"
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", out],
        cwd=result.source_tree,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (rebuilt,) = out.glob("*.whl")
    assert rebuilt.name == result.wheel.name
    ours, theirs = wheel_members(result.wheel), wheel_members(rebuilt)
    module_files = {n for n in ours if n.startswith(MODULE + "/")}
    assert module_files == {n for n in theirs if n.startswith(MODULE + "/")}
    for name in module_files:
        assert ours[name] == theirs[name]
    dist_info = "stylepipe_style_tiny-1.0.0.dist-info"
    assert theirs[f"{dist_info}/entry_points.txt"].decode().split() == (
        ours[f"{dist_info}/entry_points.txt"].decode().split()
    )
