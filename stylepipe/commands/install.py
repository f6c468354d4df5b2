"""``stylepipe install`` and ``stylepipe uninstall``.

A ``.stylepack`` file is data: it is checked completely, then unpacked into the user
plugin dir (see :mod:`stylepipe.packs.archive`). Anything else is a Python package
(a PyPI name, a wheel, a folder) and goes to pip, run as ``sys.executable -m pip`` so
that it lands in the environment stylepipe itself runs in, where its entry points are
found (as simonw/llm does). Which names may go to pip is decided first
(:mod:`stylepipe.packs.pip_targets`); an install that brings no plugin is undone, and
``uninstall`` removes what ``install`` added (:mod:`stylepipe.packs.pip_install`).
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from stylepipe.app import App
from stylepipe.commands._consent import Confirm, check_consent, terminal_confirm
from stylepipe.errors import ExitCode, NotFoundError, StylepipeError, UsageError
from stylepipe.models.spec import ModelSpec
from stylepipe.packs import install_record
from stylepipe.packs.format import LOCAL_PLUGIN, NAME_RE
from stylepipe.packs.pip_install import Installed, PipRunner, install_target, removal_plan
from stylepipe.packs.pip_targets import pip_target
from stylepipe.paths import user_plugin_dir
from stylepipe.plugins import ENTRY_POINT_GROUP
from stylepipe.registry import Entry
from stylepipe.wording import model_noun

PACK_SUFFIX = ".stylepack"

INSTALL_EPILOG = """\
examples:
  stylepipe install starry.stylepack            a shared style (data only, checked first)
  stylepipe install starry.stylepack --force    replace the installed 'starry'
  stylepipe install stylepipe-style-starry      a plugin package from PyPI, through pip
  stylepipe install dist/stylepipe_style_starry-1.0.0-py3-none-any.whl
  stylepipe install -e ./my-plugin              a plugin you are developing
  stylepipe install --pip some-plugin           a plugin not named stylepipe-...

A .stylepack is refused, and nothing is installed, when anything about it is wrong or
unsafe: its manifest, architecture, weights (safetensors only, never pickles), checksums,
member names or sizes. Packages run code when imported: install only those you trust.
From PyPI, only names starting with stylepipe- are installed without --pip (or a yes at
the prompt on a terminal), so a mistyped style name installs nothing. A package that
turns out to hold no stylepipe plugin is uninstalled again (exit status 1).
"""

UNINSTALL_EPILOG = """\
examples:
  stylepipe uninstall starry                    a style from a .stylepack, or its package
  stylepipe uninstall stylepipe_local/starry    the .stylepack one, when a package has it too
  stylepipe uninstall stylepipe-style-starry    a plugin package, through pip

A package is removed with the dependencies its `stylepipe install` added, except those
another install added too or an installed package still needs.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``install`` and ``uninstall`` to the command line."""
    parser = subparsers.add_parser(
        "install",
        help="install a .stylepack file or a plugin package",
        description="Install shared styles (.stylepack files) into the user plugin dir, "
        "and plugin packages with pip into stylepipe's own environment.",
        epilog=INSTALL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("targets", nargs="*", metavar="PACK_OR_PACKAGE")
    parser.add_argument("--force", action="store_true", help="replace a .stylepack's namesake")
    parser.add_argument(
        "--pip", action="store_true",
        help="allow PyPI packages whose names do not start with stylepipe-",
    )  # fmt: skip
    parser.add_argument("-U", "--upgrade", action="store_true", help="pip: upgrade packages")
    parser.add_argument(
        "-e", "--editable", action="append", default=[], metavar="PATH",
        help="pip: install a plugin project in development mode",
    )  # fmt: skip
    parser.add_argument("--force-reinstall", action="store_true", help="pip: reinstall")
    parser.add_argument("--no-deps", action="store_true", help="pip: skip dependencies")
    parser.add_argument("--no-index", action="store_true", help="pip: do not use PyPI")
    parser.add_argument("--pre", action="store_true", help="pip: allow pre-releases")
    parser.add_argument(
        "-f", "--find-links", action="append", default=[], metavar="URL",
        help="pip: also look for packages here (a folder of wheels works offline)",
    )  # fmt: skip
    parser.set_defaults(handler=run_install)
    parser = subparsers.add_parser(
        "uninstall",
        help="remove an installed style or plugin package",
        description="Remove styles installed from .stylepack files (their folder in the "
        "user plugin dir) and plugin packages (with pip). Asks no questions.",
        epilog=UNINSTALL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="+", metavar="NAME", help="model or package name")
    parser.set_defaults(handler=run_uninstall)


def run_install(
    args: argparse.Namespace,
    app: App,
    *,
    pip: PipRunner | None = None,
    confirm: Confirm | None = None,
) -> int:
    """Check every target first (a typo installs nothing), then install each .stylepack
    and hand each package to pip, checked. ``pip`` runs pip (default: :func:`run_pip`);
    ``confirm`` asks a yes/no question (default: a prompt when stdin is a terminal)."""
    packs = [t for t in args.targets if t.lower().endswith(PACK_SUFFIX)]
    packages = [pip_target(t) for t in args.targets if t not in packs]
    packages += [pip_target(path, editable=True) for path in args.editable]
    if not packs and not packages:
        raise UsageError("nothing to install", hint="give a .stylepack file or a package name")
    asking = confirm if confirm is not None else terminal_confirm(app)
    check_consent(app, [t for t in packages if t.needs_consent], args.pip, asking)
    status = ExitCode.OK
    for target in packs:
        try:
            _install_pack(app, Path(target), force=args.force)
        except StylepipeError as exc:  # reported here; the other targets still install
            app.ui.error(exc)
            status = max(status, exc.exit_code)
    runner = pip or functools.partial(run_pip, app)
    for package in packages:
        try:
            _report(app, install_target(package, _pip_flags(args), runner))
        except StylepipeError as exc:
            app.ui.error(exc)
            status = max(status, exc.exit_code)
    if packages:
        app.ui.info("`stylepipe models` lists the models, `stylepipe plugins` the plugins")
    return int(status)


def _install_pack(app: App, path: Path, *, force: bool) -> None:
    from stylepipe.packs.archive import install_stylepack

    app.ui.info(f"checking {path} ...")
    result = install_stylepack(path, user_plugin_dir(), app.catalog, force=force)
    pack = result.pack
    verb = "replaced" if result.replaced else "installed"
    app.ui.success(f"{verb} {model_noun(pack.manifest['kind'])} {pack.name!r} in {pack.path}")
    use = "style" if pack.manifest["kind"] == "style" else "upscale"
    name = f"{LOCAL_PLUGIN}/{pack.name}" if result.shadows else pack.name
    if result.shadows:
        app.ui.warn(f"{', '.join(result.shadows)} share the name; use the qualified name {name}")
    app.ui.info(f"use it: stylepipe run PHOTOS -o OUT --filter {use}:model={name}")


def _pip_flags(args: argparse.Namespace) -> list[str]:
    flags = [
        flag
        for flag, wanted in (
            ("--upgrade", args.upgrade),
            ("--force-reinstall", args.force_reinstall),
            ("--no-deps", args.no_deps),
            ("--no-index", args.no_index),
            ("--pre", args.pre),
        )
        if wanted
    ]
    for link in args.find_links:
        flags += ["--find-links", link]
    return flags


def _report(app: App, installed: Installed) -> None:
    """Say which plugins the install brought, or that they were there already."""
    if not installed.added and not installed.changed:
        names = ", ".join(sorted({d for _, d in installed.plugins}))
        app.ui.info(f"{installed.target.text}: already installed ({names})")
        return
    for plugin, dist in installed.plugins:
        version = installed_version(dist)
        app.ui.success(f"new stylepipe plugin {plugin!r} from {dist} {version}")


def installed_version(dist: str) -> str:
    """The installed version of ``dist`` ("?" when it cannot be read)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def run_pip(app: App, pip_args: Sequence[str]) -> int:
    """Run pip in stylepipe's interpreter, relaying its output to stderr; its exit status."""
    if importlib.util.find_spec("pip") is None:
        raise UsageError(
            f"pip is not available in {sys.executable}",
            hint=f"install it with: {sys.executable} -m ensurepip",
        )
    command = [sys.executable, "-m", "pip", *pip_args]
    app.ui.info("running: " + shlex.join(command))
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        assert process.stdout is not None  # PIPE was asked for
        for line in process.stdout:
            app.ui.info(line.rstrip("\n"))
    return process.returncode


# --- uninstall -----------------------------------------------------------------------------


def run_uninstall(args: argparse.Namespace, app: App, *, pip: PipRunner | None = None) -> int:
    """Work out what each name means first (so a typo changes nothing), then remove:
    pack folders, and plugin packages with what their install added (see
    :func:`stylepipe.packs.pip_install.removal_plan`). ``pip`` runs pip (default:
    :func:`run_pip`)."""
    plans = [_plan(app, name) for name in args.names]
    dists = []
    for name, (kind, target) in zip(args.names, plans, strict=True):
        if kind == "folder":
            _remove_folder(Path(target))
            app.ui.success(f"removed {name}: deleted {target}")
        elif target not in dists:
            dists.append(target)
    if dists:
        return _uninstall_packages(app, dists, pip or functools.partial(run_pip, app))
    return int(ExitCode.OK)


def _uninstall_packages(app: App, dists: list[str], runner: PipRunner) -> int:
    """pip uninstall the plugin packages and the dependencies their install added."""
    extra = removal_plan(dists)
    code = runner(["uninstall", "--yes", *dists, *extra])
    if code != 0:
        app.ui.error(StylepipeError(f"pip uninstall failed (exit status {code})"))
        return int(ExitCode.FAILURES)
    install_record.forget(dists)
    also = f", and {', '.join(extra)}, which its install added" if extra else ""
    app.ui.success(f"uninstalled {', '.join(dists)}{also}")
    return int(ExitCode.OK)


def _plan(app: App, name: str) -> tuple[str, str]:
    """``("folder", path)`` for a pack in the user plugin dir, ``("dist", name)`` for a
    plugin package; raises when the name is unknown, ambiguous or built in."""
    source, _, short = name.rpartition("/")
    folder = user_plugin_dir() / short
    candidates: dict[str, tuple[str, str]] = {}
    if (
        source in ("", LOCAL_PLUGIN)
        and NAME_RE.match(short)
        and (folder.is_dir() or folder.is_symlink())
    ):
        candidates[f"{LOCAL_PLUGIN}/{short}"] = ("folder", str(folder))
    if not source:
        dist = _plugin_distribution(name)
        if dist is not None:
            candidates[f"package {dist}"] = ("dist", dist)
    builtin = []
    for entry in _models_named(app, short, source):
        package = app.plugins.dists.get(entry.source)
        if package is not None:
            candidates[entry.qualified_name] = ("dist", package[0])
        elif entry.source != LOCAL_PLUGIN:
            builtin.append(entry.qualified_name)
    if len(set(candidates.values())) > 1:
        raise UsageError(f"{name!r} is ambiguous", hint="use one of: " + ", ".join(candidates))
    if candidates:
        return next(iter(candidates.values()))
    if builtin:
        raise UsageError(f"{', '.join(builtin)} comes with stylepipe and cannot be uninstalled")
    raise NotFoundError(
        f"nothing named {name!r} is installed",
        hint="`stylepipe models` lists models, `stylepipe plugins` plugin packages",
    )


def _models_named(app: App, short: str, source: str) -> list[Entry[ModelSpec]]:
    try:
        models = list(app.catalog.models)
    except StylepipeError as exc:  # a broken plugin must not block its own removal
        app.ui.warn(f"the model catalog could not be built ({exc}); looking at names only")
        return []
    return [e for e in models if e.name == short and (not source or e.source == source)]


def _plugin_distribution(name: str) -> str | None:
    """The installed distribution called ``name``, if it provides stylepipe plugins."""
    try:
        dist = importlib.metadata.distribution(name)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    dist_name = str(dist.metadata["Name"])
    if dist_name.lower() == "stylepipe":
        raise UsageError("refusing to uninstall stylepipe itself", hint="use pip for that")
    if not any(ep.group == ENTRY_POINT_GROUP for ep in dist.entry_points):
        raise UsageError(
            f"{dist_name} is not a stylepipe plugin", hint="use pip to remove other packages"
        )
    return dist_name


def _remove_folder(folder: Path) -> None:
    """Delete a pack folder; it vanishes at once (renamed aside, then deleted)."""
    if folder.is_symlink():
        folder.unlink()
        return
    trash = folder.with_name(f".{folder.name}.removing-{os.getpid()}")
    os.replace(folder, trash)
    shutil.rmtree(trash)
