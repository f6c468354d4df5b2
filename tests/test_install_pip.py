"""``stylepipe install NAME`` through pip: which names may go to pip, the undo of an
install that brings no plugin, and ``uninstall`` mirroring ``install``.

pip is the one outside process here. It is replaced by :class:`FakePip`, a runner
injected into the commands that does what pip does to an environment: it writes (and
deletes) ``*.dist-info`` folders in a folder on ``sys.path``, where
``importlib.metadata`` finds them, from a small made-up index. Nothing touches the
network or this environment. The last test runs the real pip, offline, on a wheel built
in ``tmp_path`` inside a throwaway virtualenv.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sharing_helpers import make_pack

from stylepipe.app import App
from stylepipe.cli import build_parser
from stylepipe.commands.install import run_install, run_uninstall
from stylepipe.errors import StylepipeError, UsageError
from stylepipe.packs import install_record
from stylepipe.packs.pip_install import removal_plan
from stylepipe.packs.pip_targets import canonical_name, pip_target
from stylepipe.paths import user_plugin_dir
from stylepipe.plugins import load_plugins
from stylepipe.ui import UI


@dataclass
class Package:
    """A package of the made-up index: its entry points in the stylepipe group (none:
    not a plugin) and the packages it requires."""

    version: str = "1.0"
    plugins: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()


@dataclass
class FakePip:
    """Does to the folder ``site`` (on ``sys.path``) what pip would do to an environment."""

    site: Path
    index: dict[str, Package]
    calls: list[list[str]] = field(default_factory=list)
    fail_install: bool = False
    fail_uninstall: bool = False

    def __call__(self, args: Sequence[str]) -> int:
        self.calls.append(list(args))
        command, names = args[0], [a for a in args[1:] if not a.startswith("-")]
        if command == "install":
            return 1 if self.fail_install else self._install(names)
        return 1 if self.fail_uninstall else self._uninstall(names)

    def _install(self, targets: list[str]) -> int:
        for target in targets:
            name = Path(target).name.split("-")[0] if target.endswith(".whl") else target
            if canonical_name(name) not in self.index:
                return 1  # "No matching distribution found"
            self.add(canonical_name(name))
        return 0

    def add(self, name: str) -> None:
        """Install ``name`` and what it requires, as pip resolves them."""
        package = self.index[name]
        for dependency in package.requires:
            if not self.installed(dependency):
                self.add(dependency)
        if self.installed(name):
            return
        info = self.site / f"{name.replace('-', '_')}-{package.version}.dist-info"
        info.mkdir()
        requires = "".join(f"Requires-Dist: {r}\n" for r in package.requires)
        info.joinpath("METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {package.version}\n{requires}"
        )
        points = "".join(f"{p} = {p}\n" for p in package.plugins)
        info.joinpath("entry_points.txt").write_text(f"[stylepipe]\n{points}")

    def _uninstall(self, names: list[str]) -> int:
        for name in names:
            for info in self.site.glob(f"{canonical_name(name).replace('-', '_')}-*.dist-info"):
                shutil.rmtree(info)
        return 0

    def installed(self, name: str) -> bool:
        return any(self.site.glob(f"{canonical_name(name).replace('-', '_')}-*.dist-info"))

    def listing(self) -> list[str]:
        return sorted(p.name for p in self.site.iterdir())


INDEX = {
    "screem": Package(requires=("colour-codes",)),  # a terminal library, not a plugin
    "colour-codes": Package(),
    "stylepipe-style-wave": Package(plugins=("stylepipe_style_wave",), requires=("wave-dep",)),
    "wave-dep": Package(),
    "stylepipe-style-mosiac": Package(),  # a typosquat: named like a plugin, holds none
    "other-app": Package(requires=("wave-dep",)),
}


@pytest.fixture
def pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePip:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return FakePip(site, dict(INDEX))


@dataclass
class Result:
    code: int
    err: str


def stylepipe(
    command: str, *argv: str, pip: FakePip, confirm: object = None, tty: bool = False
) -> Result:
    """``stylepipe install|uninstall ARGV`` as the CLI runs it, with ``pip`` injected;
    ``confirm`` answers the prompt (a terminal session) when given."""
    err = io.StringIO()
    app = App(load_plugins(), UI(stdout=io.StringIO(), stderr=err))
    args = build_parser(app).parse_args([command, *argv])
    try:
        if command == "install":
            code = run_install(args, app, pip=pip, confirm=confirm)  # type: ignore[arg-type]
        else:
            code = run_uninstall(args, app, pip=pip)
    except StylepipeError as exc:
        app.ui.error(exc)
        code = int(exc.exit_code)
    return Result(code, " ".join(err.getvalue().split()))


# --- which targets may go to pip ------------------------------------------------------------


def test_targets_are_classified_before_anything_runs(tmp_path: Path) -> None:
    assert pip_target("stylepipe-style-wave").plugin_named
    assert pip_target("Stylepipe_Style.Wave>=1.0,<2").dist == "stylepipe-style-wave"
    assert pip_target("stylepipe-style-wave[gpu]==1.2").plugin_named
    for name in ("screem", "requests==2.0", "stylepipes", "style-pipe-x"):
        assert pip_target(name).needs_consent, name
    with pytest.raises(UsageError, match="does not install or upgrade stylepipe itself"):
        pip_target("stylepipe>=0.2")
    assert pip_target("https://example.org/stylepipe_style_x-1.0-py3-none-any.whl").needs_consent
    wheel = tmp_path / "anything_at_all-2.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    local = pip_target(str(wheel))
    assert (local.local, local.dist, local.needs_consent) == (True, "anything-at-all", False)
    project = tmp_path / "my-plugin"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "Stylepipe_Invert"\n')
    editable = pip_target(str(project), editable=True)
    assert editable.pip_args() == ["--editable", str(project)]
    assert editable.dist == "stylepipe-invert"
    with pytest.raises(UsageError, match="no such file"):
        pip_target(str(tmp_path / "missing-1.0-py3-none-any.whl"))
    with pytest.raises(UsageError, match="not a package name"):
        pip_target("screem; rm -rf ~")


def test_a_mistyped_name_is_refused_and_pip_never_runs(pip: FakePip) -> None:
    result = stylepipe("install", "screem", pip=pip)
    assert result.code == 2
    assert "'screem' is not a .stylepack file or a stylepipe plugin package" in result.err
    assert "nothing was installed" in result.err and "--pip" in result.err
    assert pip.calls == [] and pip.listing() == []


def test_the_refusal_suggests_the_pack_file_or_model_that_was_meant(
    pip: FakePip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_pack(user_plugin_dir(), "scream")
    assert "did you mean the model 'scream'?" in stylepipe("install", "screem", pip=pip).err
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scream.stylepack").write_bytes(b"")
    result = stylepipe("install", "scream", pip=pip)
    assert result.code == 2 and "did you mean the file scream.stylepack?" in result.err
    assert pip.calls == []


def test_one_refused_name_installs_nothing_else(pip: FakePip) -> None:
    result = stylepipe("install", "stylepipe-style-wave", "screem", pip=pip)
    assert result.code == 2 and pip.calls == []


def test_a_terminal_prompt_can_allow_or_refuse(pip: FakePip) -> None:
    questions: list[str] = []

    def no(question: str) -> bool:
        questions.append(question)
        return False

    assert stylepipe("install", "screem", pip=pip, confirm=no).code == 2
    assert questions and "Install it from PyPI anyway?" in questions[0]
    assert pip.calls == []
    result = stylepipe("install", "screem", pip=pip, confirm=lambda q: True)
    assert result.code == 1 and "is not a stylepipe plugin" in result.err  # then undone


# --- an install that brings no plugin is undone -----------------------------------------------


def test_a_package_without_a_plugin_is_uninstalled_again(pip: FakePip) -> None:
    result = stylepipe("install", "--pip", "screem", pip=pip)
    assert result.code == 1
    assert "screem is not a stylepipe plugin" in result.err
    assert "removed again what pip added (colour-codes, screem)" in result.err
    assert pip.calls == [["install", "screem"], ["uninstall", "--yes", "colour-codes", "screem"]]
    assert pip.listing() == []
    assert install_record.load_entries() == []


def test_a_typosquat_named_like_a_plugin_is_undone_too(pip: FakePip) -> None:
    result = stylepipe("install", "stylepipe-style-mosiac", pip=pip)
    assert result.code == 1 and "is not a stylepipe plugin" in result.err
    assert pip.listing() == []


def test_a_failed_undo_says_what_to_remove_by_hand(pip: FakePip) -> None:
    pip.fail_uninstall = True
    result = stylepipe("install", "--pip", "screem", pip=pip)
    assert result.code == 1
    assert "uninstalling them again failed" in result.err
    assert "python -m pip uninstall colour-codes screem" in result.err


def test_a_failing_pip_is_an_error(pip: FakePip) -> None:
    result = stylepipe("install", "stylepipe-style-nothing", pip=pip)
    assert result.code == 1 and "pip could not install stylepipe-style-nothing" in result.err


# --- a plugin install is recorded, and uninstall mirrors it -------------------------------------


def test_uninstall_removes_what_install_added(pip: FakePip) -> None:
    result = stylepipe("install", "stylepipe-style-wave", pip=pip)
    assert result.code == 0, result.err
    assert "new stylepipe plugin 'stylepipe_style_wave' from stylepipe-style-wave 1.0" in result.err
    (entry,) = install_record.load_entries()
    assert entry.added == ("stylepipe-style-wave", "wave-dep")
    assert entry.plugins == ("stylepipe-style-wave",)

    result = stylepipe("uninstall", "stylepipe-style-wave", pip=pip)
    assert result.code == 0, result.err
    assert pip.calls[-1] == ["uninstall", "--yes", "stylepipe-style-wave", "wave-dep"]
    assert "uninstalled stylepipe-style-wave, and wave-dep, which its install added" in result.err
    assert pip.listing() == [] and install_record.load_entries() == []


def test_uninstall_keeps_a_dependency_something_else_needs(pip: FakePip) -> None:
    assert stylepipe("install", "stylepipe-style-wave", pip=pip).code == 0
    pip.add("other-app")  # installed later, outside stylepipe; it needs wave-dep too
    assert stylepipe("uninstall", "stylepipe-style-wave", pip=pip).code == 0
    assert pip.calls[-1] == ["uninstall", "--yes", "stylepipe-style-wave"]
    assert pip.installed("wave-dep") and pip.installed("other-app")


def test_reinstalling_an_installed_plugin_changes_nothing(pip: FakePip) -> None:
    assert stylepipe("install", "stylepipe-style-wave", pip=pip).code == 0
    result = stylepipe("install", "stylepipe-style-wave", pip=pip)
    assert result.code == 0 and "already installed (stylepipe-style-wave)" in result.err
    assert len(install_record.load_entries()) == 1


def test_a_local_wheel_needs_no_pip_flag(pip: FakePip, tmp_path: Path) -> None:
    wheel = tmp_path / "stylepipe_style_wave-1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    assert stylepipe("install", str(wheel), pip=pip).code == 0
    assert removal_plan(["stylepipe-style-wave"]) == ["wave-dep"]


def test_uninstall_still_refuses_packages_that_are_no_plugins(pip: FakePip) -> None:
    pip.add("screem")  # installed with pip directly, not by stylepipe
    result = stylepipe("uninstall", "screem", pip=pip)
    assert result.code == 2 and "screem is not a stylepipe plugin" in result.err
    assert pip.calls == []


# --- the real pip, offline, on a wheel built here ---------------------------------------------


def plain_wheel(folder: Path, name: str = "notaplugin", version: str = "1.0") -> Path:
    """A valid wheel of a module that is no stylepipe plugin."""
    info = f"{name}-{version}.dist-info"
    members = {
        f"{name}/__init__.py": b"VALUE = 1\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = ""
    for member, data in members.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record += f"{member},sha256={digest},{len(data)}\n"
    members[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return wheel


@pytest.mark.slow
def test_real_pip_undoes_a_local_wheel_without_a_plugin(tmp_path: Path) -> None:
    from test_packs_wheel import make_venv, stylepipe_in

    wheel = plain_wheel(tmp_path)
    python, home = make_venv(tmp_path / "venv"), tmp_path / "home"
    done = stylepipe_in(python, home, "install", "--no-index", "--no-deps", wheel)
    err = " ".join(done.stderr.split())
    assert done.returncode == 1, err
    assert "is not a stylepipe plugin" in err and "removed again what pip added (notaplugin)" in err
    assert not list((tmp_path / "venv").rglob("notaplugin*"))
    record = home / install_record.RECORD_NAME
    assert not record.exists() or json.loads(record.read_text())["installs"] == []
