"""The server of ``stylepipe ui``: the table of its routes (one page and a small JSON API,
Starlette), :func:`create_app`, which binds each route's handler to the server's state and
puts every route behind :class:`~stylepipe.webui.security.GuardMiddleware`, and serving
it with uvicorn on 127.0.0.1 until Ctrl-C (:func:`listen`, :func:`make_server`,
:func:`serve`). The handlers are in :mod:`~stylepipe.webui.routes_gallery` and
:mod:`~stylepipe.webui.routes_jobs`, what they share in :mod:`~stylepipe.webui.state`,
and the request and error plumbing in :mod:`~stylepipe.webui.requests`; the names this
module held before they moved there are still importable from here.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stylepipe.app import App
from stylepipe.errors import UsageError
from stylepipe.webui.requests import (
    BadRequest,
    FieldError,
    Handler,
    body,
    choice_of,
    endpoint,
    entries,
    entry,
    json_response,
    page_field,
    pipeline_of,
)
from stylepipe.webui.routes_gallery import (
    MAX_UPLOAD,
    THUMBNAIL,
    get_state,
    models,
    page,
    preview,
    thumbnail,
    upload_photo,
)
from stylepipe.webui.routes_jobs import (
    cancel_job,
    command,
    job_status,
    load_pipeline,
    render_result,
    save_pipeline,
    start_batch,
    start_render,
)
from stylepipe.webui.security import GuardMiddleware
from stylepipe.webui.state import WebState, create_state

__all__ = [
    "MAX_UPLOAD",
    "ROUTES",
    "THUMBNAIL",
    "BadRequest",
    "FieldError",
    "Handler",
    "RouteHandler",
    "WebState",
    "body",
    "choice_of",
    "create_app",
    "create_state",
    "endpoint",
    "entries",
    "entry",
    "json_response",
    "listen",
    "make_server",
    "page_field",
    "pipeline_of",
    "serve",
]

#: path, handler, the control its errors go to by default, methods
ROUTES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("/", "page", "", ("GET",)),
    ("/api/state", "get_state", "", ("GET",)),
    ("/api/models", "models", "gallery", ("GET",)),
    ("/api/thumbnail", "thumbnail", "gallery", ("GET",)),
    ("/api/photo", "upload_photo", "photo", ("POST",)),
    ("/api/preview", "preview", "preview", ("POST",)),
    ("/api/command", "command", "pipeline", ("POST",)),
    ("/api/render", "start_render", "render", ("POST",)),
    ("/api/render/result", "render_result", "render", ("GET",)),
    ("/api/batch", "start_batch", "batch", ("POST",)),
    ("/api/job", "job_status", "batch", ("GET",)),
    ("/api/job/cancel", "cancel_job", "batch", ("POST",)),
    ("/api/pipeline/save", "save_pipeline", "pipeline.file", ("POST",)),
    ("/api/pipeline/load", "load_pipeline", "pipeline.file", ("POST",)),
]
RouteHandler = Callable[[Request, WebState], Awaitable[Response]]
#: the handlers :data:`ROUTES` names, by name
_HANDLERS: dict[str, RouteHandler] = {
    handler.__name__: handler
    for handler in (
        page,
        get_state,
        models,
        thumbnail,
        upload_photo,
        preview,
        command,
        start_render,
        render_result,
        start_batch,
        job_status,
        cancel_job,
        save_pipeline,
        load_pipeline,
    )
}


def create_app(state: WebState) -> Starlette:
    """The Starlette application of ``state``, behind its guard."""
    routes = [
        Route(path, _bind(state, _HANDLERS[name], field), methods=list(methods))
        for path, name, field, methods in ROUTES
    ]
    return Starlette(routes=routes, middleware=[Middleware(GuardMiddleware, guard=state.guard)])


def _bind(state: WebState, handler: RouteHandler, field: str) -> Handler:
    @endpoint(field)
    async def run(request: Request) -> Response:
        return await handler(request, state)

    return run


# --- serving ----------------------------------------------------------------------------


def listen(port: int) -> Any:
    """A socket bound to 127.0.0.1:``port`` (0: any free port); :class:`UsageError` when
    the port is taken or not allowed."""
    import socket

    from stylepipe.webui.security import LOOPBACK

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, port))
        sock.listen(128)  # connections wait from now on, before the server loop starts
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {LOOPBACK}:{port}: {exc.strerror or exc}",
            hint="choose another --port, or leave it out for any free one",
        ) from None
    return sock


def make_server(state: WebState) -> Any:
    """The uvicorn server of ``state`` (run it with ``.run(sockets=[listen(port)])``)."""
    import uvicorn

    config = uvicorn.Config(
        create_app(state),
        log_level="warning",
        access_log=False,  # an access log would write the token into logs
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def serve(app: App, *, root: Path, port: int, open_browser: bool) -> None:
    """Serve the page until Ctrl-C; the private folder is deleted at the end."""
    sock = listen(port)
    state = create_state(app, root=root, port=sock.getsockname()[1])
    threading.Thread(target=_warm_up, name="stylepipe-warm-up", daemon=True).start()
    server = make_server(state)
    app.ui.success(f"stylepipe ui: open {state.guard.url}")
    app.ui.info(f"files: only inside {state.folders.root}; Ctrl-C stops the server")
    if open_browser:
        import webbrowser

        webbrowser.open(state.guard.url)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops on Ctrl-C, then raises it again: done
        pass
    finally:
        state.close()
        sock.close()
    app.ui.info("stylepipe ui stopped")


def _warm_up() -> None:
    """Import torch while the user opens the page, so that the first preview is quick."""
    import importlib

    importlib.import_module("torch")
