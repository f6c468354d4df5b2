"""Installing plugin packages with pip, checked: an install that adds no stylepipe plugin
is undone, and each successful one is recorded so that ``uninstall`` can mirror it.

pip itself is an outside process, reached only through a :data:`PipRunner` (``pip``'s
arguments in, its exit status out), so the logic here can be exercised without it.
What pip changed is read from the environment's package metadata before and after.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from stylepipe.errors import StylepipeError
from stylepipe.packs import install_record
from stylepipe.packs.pip_targets import PipTarget, canonical_name
from stylepipe.plugins import ENTRY_POINT_GROUP

PipRunner = Callable[[Sequence[str]], int]
_REQUIRED_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class Environment:
    """The installed distributions: version and stylepipe entry points by name."""

    versions: dict[str, str]
    plugins: dict[str, tuple[str, ...]]
    requires: dict[str, frozenset[str]]


@dataclass(frozen=True)
class Installed:
    """What one checked pip install did: the plugins it provides (entry point name,
    distribution), the distributions it added and those it changed the version of."""

    target: PipTarget
    plugins: tuple[tuple[str, str], ...]
    added: tuple[str, ...]
    changed: tuple[str, ...]


class NotAPluginError(StylepipeError):
    """pip installed something that provides no stylepipe plugin; it was removed again."""


def environment() -> Environment:
    """A fresh look at the installed distributions (caches invalidated first)."""
    importlib.invalidate_caches()
    versions: dict[str, str] = {}
    plugins: dict[str, tuple[str, ...]] = {}
    requires: dict[str, frozenset[str]] = {}
    for dist in importlib.metadata.distributions():
        raw = dist.metadata["Name"]
        if not raw:
            continue
        name = canonical_name(str(raw))
        versions.setdefault(name, dist.version)
        points = tuple(ep.name for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP)
        plugins[name] = plugins.get(name, ()) + points
        requires[name] = frozenset(_required_names(dist.requires or []))
    return Environment(versions, plugins, requires)


def _required_names(requirements: Sequence[str]) -> list[str]:
    found = (_REQUIRED_NAME.match(r) for r in requirements)
    return [canonical_name(m[1]) for m in found if m]


def install_target(target: PipTarget, flags: Sequence[str], runner: PipRunner) -> Installed:
    """``pip install`` one target; keep it only if it provides a stylepipe plugin.

    Raises :class:`StylepipeError` when pip fails and :class:`NotAPluginError` when the
    install adds no plugin; in both cases what it added was uninstalled again (pip
    cannot undo a version change of something already installed; the message says
    which). On success the install is recorded for ``uninstall``."""
    before = environment()
    code = runner(["install", *flags, *target.pip_args()])
    after = environment()
    added = tuple(sorted(set(after.versions) - set(before.versions)))
    changed = tuple(
        sorted(
            n for n, v in after.versions.items() if n in before.versions and before.versions[n] != v
        )
    )
    if code != 0:
        undone = _undo(added, runner)
        raise StylepipeError(f"pip could not install {target.text} (exit status {code}){undone}")
    candidates = {*added, *changed, *([target.dist] if target.dist in after.versions else [])}
    plugins = tuple(sorted((ep, d) for d in candidates for ep in after.plugins.get(d, ())))
    if not plugins:
        undone = _undo(added, runner)
        also = f"; pip also changed the version of {', '.join(changed)}" if changed else ""
        raise NotAPluginError(
            f"{target.text} is not a stylepipe plugin: it provides nothing in the "
            f"{ENTRY_POINT_GROUP!r} entry-point group{undone}{also}",
            hint="style packs are .stylepack files; plugin packages are named stylepipe-NAME",
        )
    if added:
        install_record.remember(target.text, {d for _, d in plugins}, added)
    return Installed(target, plugins, added, changed)


def _undo(added: Sequence[str], runner: PipRunner) -> str:
    """Uninstall ``added``; the phrase that ends the error message saying so."""
    if not added:
        return "; nothing was installed"
    if runner(["uninstall", "--yes", *added]) != 0:
        raise StylepipeError(
            f"pip installed {', '.join(added)}, and uninstalling them again failed",
            hint="remove them yourself: python -m pip uninstall " + " ".join(added),
        )
    return f"; removed again what pip added ({', '.join(added)})"


def removal_plan(dists: Collection[str], env: Environment | None = None) -> list[str]:
    """The dependencies to uninstall with the plugin packages ``dists``, so that removing
    them mirrors how they were installed: what their recorded installs added, except
    what another recorded install also added or a package staying installed requires."""
    env = env or environment()
    wanted = {canonical_name(d) for d in dists}
    entries = install_record.load_entries()
    mine = [e for e in entries if set(e.plugins) & wanted]
    others = {d for e in entries if e not in mine for d in e.added}
    extra = ({d for e in mine for d in e.added} - wanted - others) & set(env.versions)
    while True:  # a dependency a staying package needs must stay, and so must its own
        staying = set(env.versions) - wanted - extra
        kept = extra & {r for name in staying for r in env.requires.get(name, ())}
        if not kept:
            return sorted(extra)
        extra -= kept
