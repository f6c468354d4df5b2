"""The application object handed to every command: plugins, catalog, UI."""

from __future__ import annotations

from dataclasses import dataclass, field

from stylepipe.plugins import Catalog, Plugins
from stylepipe.ui import UI


@dataclass
class App:
    """Loaded plugins plus the lazily built catalog and the UI of one CLI invocation."""

    plugins: Plugins
    ui: UI = field(default_factory=UI)
    _catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog.build(self.plugins)
            for message in self._catalog.warnings:
                self.ui.warn(message)
        return self._catalog
