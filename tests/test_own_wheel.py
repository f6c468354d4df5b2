"""The wheel holds every declared package and module, and no generic top-level name.

The build runs offline on a copy of the sources (so no build/ or egg-info lands in the
checkout) with ``--no-isolation`` against this environment's setuptools.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXPECTED_PACKAGES = {
    "stylepipe",
    "stylepipe.commands",
    "stylepipe.engine",
    "stylepipe.imaging",
    "stylepipe.models",
    "stylepipe.packs",
    "stylepipe.tiling",
    "stylepipe.webui",
    "stylepipe_basic",
    "stylepipe_style",
    "stylepipe_sr",
    "stylepipe_local",
    "stylepipe_ray",
    "stylepipe_training",
}


def _setuptools_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def _source_dir(package: str, package_dir: dict[str, str]) -> Path:
    top, *rest = package.split(".")
    return REPO / package_dir.get(top, top) / Path(*rest)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in ("stylepipe", "plugins", "training"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    # -x: the build requirements are checked by pip in real builds; offline, this
    # environment's setuptools (which ships bdist_wheel itself) is what we test against.
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "-x"]
    done = subprocess.run([*command, "--outdir", str(out)], cwd=src, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [path] = out.glob("stylepipe-*.whl")
    return zipfile.ZipFile(path)


def test_declared_packages_are_the_expected_ones() -> None:
    assert set(_setuptools_config()["packages"]) == EXPECTED_PACKAGES


def test_every_declared_package_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for package in EXPECTED_PACKAGES:
        assert f"{package.replace('.', '/')}/__init__.py" in names, package
    assert "stylepipe/py.typed" in names
    assert "stylepipe/data/chelsea.jpg" in names  # previews of shared packs are made from it


def test_no_stray_top_level_names(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert len(dist_info) == 1
    assert tops - dist_info == {p.split(".")[0] for p in EXPECTED_PACKAGES}
    for stray in ("plugins", "training", "tests", "benchmarks", "samples"):
        assert stray not in tops and f"{stray}.py" not in tops


def test_every_source_module_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    """Catches a sub-package that exists in the tree but is not declared (it would be
    silently left out of the wheel and fail only after pip install)."""
    config = _setuptools_config()
    names = set(wheel.namelist())
    for top in {p.split(".")[0] for p in EXPECTED_PACKAGES}:
        root = _source_dir(top, config.get("package-dir", {}))
        for module in root.rglob("*.py"):
            if "__pycache__" in module.parts:
                continue
            inside = f"{top}/{module.relative_to(root).as_posix()}"
            assert inside in names, f"{module.relative_to(REPO)} is missing from the wheel"


def test_console_script_entry_point(wheel: zipfile.ZipFile) -> None:
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "[console_scripts]" in text
    assert "stylepipe = stylepipe.cli:entry" in text


def test_declared_package_data_is_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    config = _setuptools_config()
    names = set(wheel.namelist())
    for package, patterns in config.get("package-data", {}).items():
        root = _source_dir(package, config.get("package-dir", {}))
        for pattern in patterns:
            for path in root.glob(pattern):
                if path.is_file() and "__pycache__" not in path.parts:
                    inside = f"{package.replace('.', '/')}/{path.relative_to(root).as_posix()}"
                    assert inside in names, f"{path.relative_to(REPO)} is missing from the wheel"
