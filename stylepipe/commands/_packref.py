"""Finding the pack folder behind a model name, for ``export``, ``package`` and
``models show``, and what sharing a pack tells the user (not a command itself)."""

from __future__ import annotations

from pathlib import Path

from stylepipe.app import App
from stylepipe.errors import NotFoundError, StylepipeError, UsageError
from stylepipe.models.spec import ModelSpec
from stylepipe.packs.format import MANIFEST, NAME_RE, Pack, read_pack
from stylepipe.paths import user_plugin_dir
from stylepipe.registry import Entry


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


def shared_preview(app: App, pack: Pack) -> bytes | None:
    """The preview a shared pack carries: the shipped sample photo through its model.
    None, with a warning, when the model cannot make one (the pack is shared without)."""
    from stylepipe.packs.previews import render_preview

    app.ui.info(f"making the preview: the sample photo through {pack.name} ...")
    try:
        return render_preview(pack, app.catalog.architectures)
    except StylepipeError as exc:
        app.ui.warn(f"the shared pack gets no preview: {exc}")
        return None


def report_privacy(app: App, pack: Pack, preview: bytes | None) -> None:
    """Say what sharing left out: folder names in the manifest, the pack's own preview."""
    from stylepipe.packs.shared import public_manifest

    scrubbed = public_manifest(pack.manifest)[1]
    if scrubbed:
        app.ui.info(f"paths cut to file names (no folders of this machine): {', '.join(scrubbed)}")
    if preview is not None:
        app.ui.info("preview: the sample photo through the model; the pack's own stays here")
