"""Style packs: the data-only pack format, archive checks and installs, pack folders,
shared copies, pip wheels and pip installs of plugins.

Import the modules themselves; this file stays empty so that importing one
module never loads the others (nor torch)."""
