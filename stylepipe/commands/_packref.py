"""Finding the pack folder behind a model name, for ``export``, ``package`` and
``models show`` (not a command itself)."""

from __future__ import annotations

from pathlib import Path

from ..app import App
from ..errors import NotFoundError, UsageError
from ..models import ModelSpec
from ..paths import user_plugin_dir
from ..registry import Entry
from ..stylepacks import MANIFEST, NAME_RE, Pack, read_pack


def resolve_pack(app: App, name: str) -> tuple[Pack, Entry[ModelSpec] | None]:
    """The pack of model ``name`` (short or ``source/name``) and its catalog entry.

    A folder in the user plugin dir that the catalog lacks (its manifest is broken, or
    the plugin that registers such folders is disabled) is still found, so that the
    error explains what is wrong with it."""
    try:
        entry = app.catalog.models.resolve(name)
    except NotFoundError:
        folder = user_plugin_dir() / name
        if NAME_RE.match(name) and folder.is_dir():
            return read_pack(folder), None
        raise
    return pack_of(entry), entry


def pack_of(entry: Entry[ModelSpec]) -> Pack:
    """The pack folder holding a registered model's weights and manifest."""
    spec = entry.item
    folder = Path(spec.weights).parent
    if not (folder / MANIFEST).is_file():
        raise UsageError(
            f"model {entry.qualified_name} is not a style pack (no {MANIFEST} beside "
            f"{spec.weights})",
            hint=f"share it through the plugin that provides it ({entry.source})",
        )
    pack = read_pack(folder)
    if pack.weights.resolve() != Path(spec.weights).resolve():
        raise UsageError(
            f"model {entry.qualified_name}: {spec.weights} is not the weights of the pack "
            f"in {folder}",
            hint=f"share it through the plugin that provides it ({entry.source})",
        )
    return pack
