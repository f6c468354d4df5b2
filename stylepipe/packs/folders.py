"""Registering the data-only style packs found in a folder: the user plugin dir
(``stylepipe_local``) and the bundled ``models/`` folders of the built-in plugins.

Packs are data: a folder is read (manifest, existence of the weights file) and turned
into a :class:`ModelSpec`; nothing in it is imported. A pack that cannot be used is
skipped and reported as a :class:`~stylepipe.errors.PluginWarning`, which the catalog
collects for the CLI to show; it never stops the other packs from registering. The
weights' sha256 is checked when a model is loaded (:func:`stylepipe.models.loading.load_model`),
so that listing models stays fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from stylepipe.errors import PluginWarning, StylepackError
from stylepipe.models.spec import ModelKind, ModelSpec
from stylepipe.packs.format import Pack, iter_packs
from stylepipe.wording import a_model, model_noun


def scan_pack_folder(
    root: Path, *, kind: ModelKind | None = None
) -> tuple[list[ModelSpec], list[str]]:
    """The usable packs under ``root`` (one folder each, sorted) as model specs, and a
    message for each folder that was skipped and why. A missing ``root`` is empty.
    ``kind`` restricts the packs accepted (a bundled ``sr`` folder takes only sr models)."""
    specs: list[ModelSpec] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for found in iter_packs(Path(root)):
        if isinstance(found, StylepackError):
            problems.append(f"skipped style pack: {found}")
            continue
        where = found.path
        if not found.weights.is_file():
            problems.append(f"skipped style pack {where}: {_weights_name(found)} is missing")
        elif kind is not None and found.manifest["kind"] != kind:
            problems.append(
                f"skipped style pack {where}: {a_model(found.manifest['kind'])} "
                f"in a folder of {model_noun(kind, count=2)}"
            )
        elif found.name in seen:
            problems.append(
                f"skipped style pack {where}: the name {found.name!r} is already used "
                f"by {seen[found.name]}"
            )
        else:
            seen[found.name] = where
            specs.append(found.model_spec())
    return specs, problems


def register_pack_folder(
    root: Path,
    register: Callable[[ModelSpec], None],
    *,
    kind: ModelKind | None = None,
) -> list[str]:
    """Register every usable pack under ``root`` with ``register`` (the
    ``register_models`` hook's callable); each skipped pack is issued as a
    :class:`PluginWarning` and its message returned."""
    specs, problems = scan_pack_folder(root, kind=kind)
    for spec in specs:
        register(spec)
    for message in problems:
        warnings.warn(message, PluginWarning, stacklevel=2)
    return problems


def _weights_name(pack: Pack) -> str:
    """The missing weights as a message names them: the file name of the pack's own, the
    full path of a linked file (an imported model whose original was moved)."""
    return str(pack.weights) if "weights_link" in pack.manifest else pack.weights.name
