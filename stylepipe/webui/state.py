"""What the routes of one ``stylepipe ui`` run share: :class:`WebState` (the app, the
checks, the folders the server may use, its private folder, the preview worker, the jobs,
the dropped photo and the cached thumbnails) and :func:`create_state`, which builds it for
a port and a root folder. :meth:`WebState.close` undoes it at the end of the run. Its own
module so that the route modules can name it without importing the server.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from stylepipe.app import App
from stylepipe.webui.folders import Folders
from stylepipe.webui.jobs import Jobs
from stylepipe.webui.photo import Photo
from stylepipe.webui.preview import Previewer
from stylepipe.webui.security import Guard


@dataclass
class WebState:
    """Everything the routes share: the app (plugins, catalog), the checks, the
    server's private folder (dropped photos, renders), the preview worker and jobs."""

    app: App
    guard: Guard
    folders: Folders
    private: Path
    previewer: Previewer
    jobs: Jobs
    photo: Photo | None = None
    thumbnails: dict[str, bytes] = field(default_factory=dict)

    def close(self) -> None:
        """Stop the preview worker, cancel a running job, delete the private folder."""
        self.previewer.close()
        self.jobs.cancel()
        self.jobs.wait(timeout=60)
        shutil.rmtree(self.private, ignore_errors=True)


def create_state(app: App, *, root: Path, port: int) -> WebState:
    """The state of one server run on ``port``, confined to ``root``."""
    busy = threading.Lock()
    private = Path(tempfile.mkdtemp(prefix="stylepipe-ui-"))
    select_device = app.plugins.hook.select_device
    return WebState(
        app=app,
        guard=Guard(port),
        folders=Folders(root),
        private=private,
        previewer=Previewer(app.catalog, select_device, busy),
        jobs=Jobs(app, busy),
    )
