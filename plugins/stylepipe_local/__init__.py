"""Built-in plugin: registers the data-only style packs found in the user plugin dir."""
