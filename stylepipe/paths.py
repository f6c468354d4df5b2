"""Where stylepipe keeps user data (platformdirs), with the STYLEPIPE_HOME override."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "stylepipe"
HOME_ENV = "STYLEPIPE_HOME"


def user_data_dir() -> Path:
    """``$STYLEPIPE_HOME`` if set, else the platform's user data dir for stylepipe."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_plugin_dir() -> Path:
    """Data-only style packs live here, one folder each; no code is ever imported from it."""
    return user_data_dir() / "plugins"


def user_cache_dir() -> Path:
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser() / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
