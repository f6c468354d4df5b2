"""Images in and out: reading and writing with Pillow (metadata, 16-bit, atomic writes) and
the in-memory frame.

Import the modules themselves; this file stays empty so that importing one
module never loads the others (nor torch)."""
