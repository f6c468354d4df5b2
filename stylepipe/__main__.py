"""``python -m stylepipe``."""

from .cli import entry

entry()
