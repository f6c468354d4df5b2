"""Shared fixtures: every test runs with its own STYLEPIPE_HOME and no stray plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS = REPO_ROOT.parent / "shared" / "assets"


@pytest.fixture(autouse=True)
def stylepipe_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A private user data dir, so no test reads or writes the real one."""
    home = tmp_path_factory.mktemp("stylepipe_home")
    monkeypatch.setenv("STYLEPIPE_HOME", str(home))
    monkeypatch.delenv("STYLEPIPE_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("STYLEPIPE_TRACE_PLUGINS", raising=False)
    return home


@pytest.fixture
def assets() -> Path:
    """The real data in ../shared/assets; skips (with the reason) when it is absent."""
    if not ASSETS.is_dir():
        pytest.skip(f"real assets not found at {ASSETS} (../shared/assets beside the repo)")
    return ASSETS


# Modules that test the models shipped in the built-in plugins themselves.
USES_SHIPPED_MODELS = {"test_bundled_models", "test_quality_bench"}


@pytest.fixture(autouse=True)
def _no_shipped_models(request: pytest.FixtureRequest, tmp_path_factory, monkeypatch) -> None:
    """Hide the bundled packs from in-process tests that build their own catalogs.

    Most tests reason about exactly the packs they write; the packs we ship would make
    their names ambiguous and their counts wrong. Subprocess tests still see them.
    """
    if request.module.__name__.rsplit(".", 1)[-1] in USES_SHIPPED_MODELS:
        return
    import stylepipe_sr
    import stylepipe_style

    empty = tmp_path_factory.mktemp("no-bundled-models")
    monkeypatch.setattr(stylepipe_style, "BUNDLED_MODELS", empty)
    monkeypatch.setattr(stylepipe_sr, "BUNDLED_MODELS", empty)
