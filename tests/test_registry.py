"""Registry: names, sources, duplicates, "did you mean", qualified names; and the catalog
that the registration hooks fill through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from stylepipe import Architecture, ModelSpec, NotFoundError, UsageError, hookimpl
from stylepipe.errors import DuplicateError
from stylepipe.plugins import Catalog, load_plugins
from stylepipe.registry import Registry


def make_registry(unique: bool = True) -> Registry[int]:
    registry: Registry[int] = Registry("widget", unique_names=unique)
    registry.add("alpha", 1, source="one")
    registry.add("beta", 2, source="one")
    return registry


def test_get_by_short_and_qualified_name() -> None:
    registry = make_registry()
    assert registry.get("alpha") == 1
    assert registry.get("one/beta") == 2
    entry = registry.resolve("beta")
    assert (entry.name, entry.source, entry.qualified_name) == ("beta", "one", "one/beta")


def test_duplicate_name_names_both_sources() -> None:
    registry = make_registry()
    with pytest.raises(DuplicateError) as info:
        registry.add("alpha", 3, source="two")
    assert "'one'" in str(info.value) and "'two'" in str(info.value)
    assert registry.get("alpha") == 1  # the first registration is kept


def test_same_source_and_name_twice_is_a_duplicate_even_when_names_may_repeat() -> None:
    registry = make_registry(unique=False)
    with pytest.raises(DuplicateError):
        registry.add("alpha", 3, source="one")


def test_non_unique_registry_needs_qualified_name_when_ambiguous() -> None:
    registry = make_registry(unique=False)
    registry.add("alpha", 3, source="two")
    with pytest.raises(UsageError, match="ambiguous") as info:
        registry.get("alpha")
    assert info.value.hint == "use one of: one/alpha, two/alpha"
    assert registry.get("two/alpha") == 3
    assert registry.get("beta") == 2  # unambiguous short names still work


def test_unknown_name_suggests_close_match() -> None:
    registry = make_registry()
    with pytest.raises(NotFoundError, match="unknown widget 'alpah'") as info:
        registry.get("alpah")
    assert info.value.hint is not None and "'alpha'" in info.value.hint


def test_unknown_name_without_close_match_lists_known() -> None:
    with pytest.raises(NotFoundError) as info:
        make_registry().get("zzzzzz")
    assert info.value.hint == "known: alpha, beta"
    with pytest.raises(NotFoundError) as empty:
        Registry[int]("gadget").get("x")
    assert empty.value.hint == "no gadget is registered"


def test_unknown_qualified_name() -> None:
    with pytest.raises(NotFoundError):
        make_registry().get("two/alpha")


@pytest.mark.parametrize("bad", ["", "a/b"])
def test_invalid_names_are_rejected(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid widget name"):
        make_registry().add(bad, 0, source="one")


def test_iteration_is_sorted_and_contains_works() -> None:
    registry = make_registry(unique=False)
    registry.add("alpha", 3, source="zero")
    assert [e.qualified_name for e in registry] == ["one/alpha", "zero/alpha", "one/beta"]
    assert registry.names() == ["alpha", "beta"]
    assert len(registry) == 3
    assert "beta" in registry and "one/alpha" in registry
    assert "alpha" not in registry  # ambiguous
    assert "gamma" not in registry and 3 not in registry


class ArchPlugin:
    """Registers one architecture and one model for it."""

    def __init__(self, tmp: Path, arch_id: str = "toy-arch", model: str = "toy") -> None:
        self.tmp, self.arch_id, self.model = tmp, arch_id, model

    @hookimpl
    def register_architectures(self, register):  # type: ignore[no-untyped-def]
        register(Architecture(id=self.arch_id, kind="style", build=lambda: None))

    @hookimpl
    def register_models(self, register):  # type: ignore[no-untyped-def]
        register(
            ModelSpec(
                name=self.model,
                kind="style",
                architecture=self.arch_id,
                arch_params={},
                weights=self.tmp / "w.safetensors",
            )
        )


def test_catalog_records_the_registering_plugin(tmp_path: Path) -> None:
    plugins = load_plugins(entry_points=False)
    plugins.pm.register(ArchPlugin(tmp_path), name="toy_plugin")
    catalog = Catalog.build(plugins)
    assert catalog.architectures.resolve("toy-arch").source == "toy_plugin"
    assert catalog.models.get("toy_plugin/toy").architecture == "toy-arch"
    # built-in architectures arrive through the very same hook
    assert catalog.architectures.resolve("johnson-style").source == "stylepipe_style"


def test_same_model_name_from_two_plugins_is_addressed_by_plugin(tmp_path: Path) -> None:
    plugins = load_plugins(entry_points=False)
    plugins.pm.register(ArchPlugin(tmp_path, "arch-a", "shared"), name="plug_a")
    plugins.pm.register(ArchPlugin(tmp_path, "arch-b", "shared"), name="plug_b")
    catalog = Catalog.build(plugins)
    assert catalog.models.get("plug_a/shared").architecture == "arch-a"
    assert catalog.models.get("plug_b/shared").architecture == "arch-b"
    with pytest.raises(UsageError, match="ambiguous"):
        catalog.models.get("shared")


def test_duplicate_architecture_from_two_plugins_names_both(tmp_path: Path) -> None:
    plugins = load_plugins(entry_points=False)
    plugins.pm.register(ArchPlugin(tmp_path, "same-arch", "m1"), name="plug_a")
    plugins.pm.register(ArchPlugin(tmp_path, "same-arch", "m2"), name="plug_b")
    with pytest.raises(DuplicateError) as info:
        Catalog.build(plugins)
    assert "'plug_a'" in str(info.value) and "'plug_b'" in str(info.value)
