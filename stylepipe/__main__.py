"""``python -m stylepipe``."""

from stylepipe.cli import entry

entry()
