"""The record of what ``stylepipe install`` added through pip, so that ``uninstall``
removes the same: the plugin package and the dependencies its install brought in.

``<user data dir>/pip-installs.json``::

    {"format": 1, "installs": [
        {"target": "stylepipe-style-mosaic", "plugins": ["stylepipe-style-mosaic"],
         "added": ["stylepipe-style-mosaic", "some-dependency"], "at": "2025-..."}]}

Names are normalized distribution names. The file is rewritten atomically; a missing
or unreadable one is an empty record (packages installed before it existed are still
uninstalled, just without their dependencies).
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from stylepipe.packs.pip_targets import canonical_name
from stylepipe.paths import user_data_dir

RECORD_NAME = "pip-installs.json"
FORMAT = 1


@dataclass(frozen=True)
class InstallEntry:
    """One successful pip install by ``stylepipe install``."""

    target: str
    plugins: tuple[str, ...]
    added: tuple[str, ...]
    at: str = ""


def record_path() -> Path:
    """Where the record lives (under ``$STYLEPIPE_HOME`` when it is set)."""
    return user_data_dir() / RECORD_NAME


def load_entries() -> list[InstallEntry]:
    """Every recorded install; ``[]`` when there is no readable record."""
    try:
        data = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    entries = []
    for item in data.get("installs", []) if isinstance(data, dict) else []:
        try:
            entries.append(
                InstallEntry(
                    target=str(item["target"]),
                    plugins=tuple(map(str, item["plugins"])),
                    added=tuple(map(str, item["added"])),
                    at=str(item.get("at", "")),
                )
            )
        except (KeyError, TypeError):
            continue  # a hand-edited entry we cannot read is skipped, not fatal
    return entries


def remember(target: str, plugins: Iterable[str], added: Iterable[str]) -> InstallEntry:
    """Add an install to the record; returns the entry written."""
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    entry = InstallEntry(target, tuple(sorted(plugins)), tuple(sorted(added)), now)
    _save([*load_entries(), entry])
    return entry


def forget(dists: Iterable[str]) -> None:
    """Drop the entries of installs whose plugins are all among ``dists``."""
    gone = {canonical_name(d) for d in dists}
    kept = [e for e in load_entries() if not set(e.plugins) <= gone]
    _save(kept)


def _save(entries: list[InstallEntry]) -> None:
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "installs": [asdict(e) for e in entries]}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
