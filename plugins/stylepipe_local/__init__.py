"""Built-in plugin: registers the data-only style packs found in the user plugin dir.

Each folder of ``stylepipe.paths.user_plugin_dir()`` (``$STYLEPIPE_HOME/plugins`` when
that variable is set) holding a valid pack becomes a model, addressed by its manifest name
or as ``stylepipe_local/<name>``. ``stylepipe train`` and ``stylepipe import-model``
write such folders. Packs are data only: no code is ever imported from there. A folder
that is not a usable pack is skipped with a warning (see :mod:`stylepipe.packs.folders`).
"""

from __future__ import annotations

from collections.abc import Callable

from stylepipe import ModelSpec, hookimpl, register_pack_folder, user_plugin_dir


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register_pack_folder(user_plugin_dir(), register)
