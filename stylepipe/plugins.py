"""Plugin discovery and the catalog of filters, architectures and models.

Built-in plugins are listed in :data:`DEFAULT_PLUGINS` and registered exactly like
third-party ones; third-party plugins come from the ``stylepipe`` entry-point group.
``STYLEPIPE_LOAD_PLUGINS=a,b`` limits which entry points load (empty: none);
``STYLEPIPE_TRACE_PLUGINS=1`` traces every hook call to stderr. A plugin that fails to
import is recorded in :attr:`Plugins.failures` and skipped.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from stylepipe import hookspecs
from stylepipe.errors import PluginError, PluginWarning, StylepipeError
from stylepipe.filters import Filter
from stylepipe.models.spec import Architecture, ModelSpec
from stylepipe.registry import Registry

if TYPE_CHECKING:
    from stylepipe.engine.engines import Engine

ENTRY_POINT_GROUP = "stylepipe"
LOAD_ENV = "STYLEPIPE_LOAD_PLUGINS"
TRACE_ENV = "STYLEPIPE_TRACE_PLUGINS"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "stylepipe.builtin_hooks",
    "stylepipe.commands",
    "stylepipe_basic",
    "stylepipe_style",
    "stylepipe_sr",
    "stylepipe_local",
    "stylepipe_ray",
    "stylepipe_training.plugin",
)


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded, and why."""

    name: str
    error: str


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as ``stylepipe plugins`` lists it."""

    name: str
    hooks: tuple[str, ...]
    builtin: bool
    version: str | None = None
    package: str | None = None


@dataclass
class Plugins:
    """A loaded plugin manager with what failed to load."""

    pm: pluggy.PluginManager
    failures: list[PluginFailure] = field(default_factory=list)
    dists: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (dist, version)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def info(self) -> list[PluginInfo]:
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or []))
            dist = self.dists.get(name)
            rows.append(
                PluginInfo(
                    name=name,
                    hooks=hooks,
                    builtin=name in DEFAULT_PLUGINS,
                    package=dist[0] if dist else None,
                    version=dist[1] if dist else None,
                )
            )
        return sorted(rows, key=lambda r: (not r.builtin, r.name))

    def call_per_plugin(self, hook_name: str, make_kwargs: Callable[[str], dict[str, Any]]) -> None:
        """Call a registration hook once per implementing plugin, so that each call's
        ``register`` knows which plugin (source) it belongs to."""
        caller = getattr(self.pm.hook, hook_name)
        names = [impl.plugin_name for impl in caller.get_hookimpls()]
        for name in names:
            others = [p for n, p in self.pm.list_name_plugin() if n != name and p is not None]
            call = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
            try:
                call(**make_kwargs(name))
            except StylepipeError:
                raise
            except Exception as exc:  # a plugin bug: name the plugin instead of a traceback
                raise PluginError(
                    f"plugin {name!r} failed in {hook_name}: {type(exc).__name__}: {exc}",
                    hint="fix or uninstall the plugin, or leave it out with " + LOAD_ENV,
                ) from exc


def load_plugins(*, entry_points: bool = True) -> Plugins:
    """A new plugin manager with the built-ins and (unless disabled) the entry points."""
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm)
    for module_name in DEFAULT_PLUGINS:
        _register_module(
            plugins, module_name, functools.partial(importlib.import_module, module_name)
        )
    if entry_points:
        _load_entry_points(plugins)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} implements an unknown hook: {exc}") from exc
    if os.environ.get(TRACE_ENV):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return plugins


def _allowed_entry_points() -> set[str] | None:
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _load_entry_points(plugins: Plugins) -> None:
    allowed = _allowed_entry_points()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist_name = ep.dist.name if ep.dist else None
        if allowed is not None and ep.name not in allowed and dist_name not in allowed:
            continue
        if plugins.pm.has_plugin(ep.name):
            owner = "a built-in plugin" if ep.name in DEFAULT_PLUGINS else "another package"
            plugins.failures.append(
                PluginFailure(ep.name, f"entry point name already used by {owner}; skipped")
            )
            continue
        if ep.dist is not None:
            plugins.dists[ep.name] = (ep.dist.name, ep.dist.version)
        _register_module(plugins, ep.name, ep.load)


def _register_module(plugins: Plugins, name: str, load: Callable[[], object]) -> None:
    try:
        module = load()
        plugins.pm.register(module, name=name)
    except Exception as exc:  # a broken plugin is reported by name and skipped
        plugins.failures.append(PluginFailure(name, f"{type(exc).__name__}: {exc}"))


@dataclass
class Catalog:
    """Everything the plugins registered, by kind, with the source plugin of each item.
    ``warnings``: the :class:`PluginWarning` messages plugins issued while registering
    (for example style packs they skipped), for the CLI to show. ``engines``: what can
    run a batch (``--engine``)."""

    filters: Registry[type[Filter]]
    architectures: Registry[Architecture]
    models: Registry[ModelSpec]
    warnings: list[str] = field(default_factory=list)
    engines: Registry[type[Engine]] = field(default_factory=lambda: Registry("engine"))

    @classmethod
    def build(cls, plugins: Plugins) -> Catalog:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PluginWarning)
            catalog = cls._build(plugins)
        for item in caught:
            if issubclass(item.category, PluginWarning):
                catalog.warnings.append(str(item.message))
            else:  # not ours to collect: let it through as Python would have
                warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
        return catalog

    @classmethod
    def _build(cls, plugins: Plugins) -> Catalog:
        catalog = cls(
            filters=Registry("filter"),
            architectures=Registry("architecture"),
            models=Registry("model", unique_names=False),
        )

        def binder(add: Callable[[str, Any], None]) -> Callable[[str], dict[str, Any]]:
            # a partial (not a lambda) so that STYLEPIPE_TRACE_PLUGINS shows the plugin
            return lambda source: {"register": functools.partial(add, source)}

        plugins.call_per_plugin(
            "register_filters",
            binder(lambda src, f: catalog.filters.add(f.name, f, source=src)),
        )
        plugins.call_per_plugin(
            "register_architectures",
            binder(lambda src, a: catalog.architectures.add(a.id, a, source=src)),
        )
        plugins.call_per_plugin(
            "register_models",
            binder(lambda src, m: catalog.models.add(m.name, m, source=src)),
        )
        plugins.call_per_plugin(
            "register_engines",
            binder(lambda src, e: catalog.engines.add(e.name, e, source=src)),
        )
        return catalog
