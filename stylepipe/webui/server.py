"""The routes of ``stylepipe ui``: one page and a small JSON API (Starlette).

Every route is behind :class:`~stylepipe.webui.security.GuardMiddleware`. Errors are
JSON ``{"errors": [{"field", "message", "hint"}]}``: the library's own messages (the
"did you mean" and ranges of the CLI), each with the page control it belongs to
(``style.strength``, ``batch.input``...), so that the page shows it there. A bug is
logged with its traceback on the terminal, and the page gets one line: it never shows a
stack trace.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import json
import shutil
import sys
import tempfile
import threading
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from stylepipe.app import App
from stylepipe.errors import ParamError, PipelineError, StylepipeError, UsageError
from stylepipe.webui import settings
from stylepipe.webui.folders import Folders, PathRefused
from stylepipe.webui.jobs import Jobs, batch_job, render_job
from stylepipe.webui.preview import (
    DEFAULT_SIZE,
    PREVIEW_SIZES,
    Photo,
    Previewer,
    PreviewPaused,
    PreviewRequest,
    Superseded,
    View,
    before,
    read_photo,
)
from stylepipe.webui.security import Guard, GuardMiddleware

MAX_UPLOAD = 400 * 1024 * 1024
"""Bytes of a dropped photo (a camera RAW file is rarely above 100 MB)."""
THUMBNAIL = 192
Handler = Callable[[Request], Awaitable[Response]]


class FieldError(UsageError):
    """An error shown beside another control than its route's default."""

    def __init__(self, error: UsageError, field: str) -> None:
        super().__init__(error.message, hint=error.hint)
        self.field = field
        self.refused = isinstance(error, PathRefused)


class BadRequest(UsageError):
    """The request itself is malformed (not JSON, wrong shape): a bug in the page or a
    stray client, answered with a 400."""


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


# --- errors -----------------------------------------------------------------------------


def endpoint(default_field: str) -> Callable[[Handler], Handler]:
    """Turn a route's errors into JSON for the page; ``default_field``: the control an
    error without a better place is shown beside."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except Superseded:
                return JSONResponse({"stale": True, "errors": []}, 409)
            except PreviewPaused as exc:
                return JSONResponse({"paused": True, "errors": [entry(exc, "preview")]}, 409)
            except StylepipeError as exc:
                doc = getattr(request.state, "doc", None)
                refused = isinstance(exc, PathRefused) or getattr(exc, "refused", False)
                field = getattr(exc, "field", default_field)
                return JSONResponse({"errors": entries(exc, field, doc)}, 403 if refused else 400)
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                message = f"internal error ({type(exc).__name__}); the terminal shows the details"
                return JSONResponse({"errors": [{"field": "", "message": message}]}, 500)

        return run

    return wrap


def entry(exc: BaseException, field: str, message: str | None = None) -> dict[str, str]:
    hint = getattr(exc, "hint", None) or ""
    if message is None:
        message = exc.headline if isinstance(exc, StylepipeError) else str(exc)
    return {"field": field, "message": message, "hint": hint}


def entries(exc: StylepipeError, default_field: str, doc: Any) -> list[dict[str, str]]:
    """One entry per error (a :class:`~stylepipe.errors.PipelineErrors` holds several);
    an error in the page's own settings goes to the control of its step and key, and
    is shown without the location (the page is the place)."""
    found = []
    for one in getattr(exc, "errors", None) or [exc]:
        if isinstance(one, PipelineError) and one.file == settings.PAGE:
            found.append(entry(one, page_field(one, doc), one.message))
        else:
            found.append(entry(one, default_field))
    return found


def page_field(error: PipelineError, doc: Any) -> str:
    """``style.strength``, ``upscale.model`` (a step's error without a key: its model
    was not found), ``output.format``, ``runtime.device``; else ``pipeline``."""
    key = error.key or ""
    if error.step is not None:
        steps = doc.get("step") if isinstance(doc, Mapping) else None
        step = steps[error.step - 1] if isinstance(steps, list) else None
        name = step.get("filter") if isinstance(step, Mapping) else None
        return f"{name or 'step'}.{key or 'model'}"
    for table in settings.TABLES:
        if key.startswith(f"[{table}]:"):
            return f"{table}.{key.partition(':')[2]}"
    return "pipeline"


async def body(request: Request) -> dict[str, Any]:
    """The JSON object the page sent."""
    try:
        value = json.loads(await request.body())
    except ValueError:
        raise BadRequest("the request is not JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("the request must be a JSON object")
    return value


def pipeline_of(request: Request, data: Mapping[str, Any], state: WebState) -> Any:
    """The page's pipeline document, checked (errors name their controls)."""
    doc = data.get("pipeline")
    request.state.doc = doc
    return settings.check(doc if isinstance(doc, Mapping) else {}, state.app.catalog)


def choice_of(data: Mapping[str, Any]) -> settings.BatchChoice:
    raw = data.get("batch") or {}
    if not isinstance(raw, Mapping):
        raise BadRequest("batch must be an object")
    return settings.BatchChoice(
        input=str(raw.get("input") or ""),
        output=str(raw.get("output") or ""),
        recursive=bool(raw.get("recursive")),
        existing=str(raw.get("existing") or "fail"),
    )


# --- routes -----------------------------------------------------------------------------


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


def create_app(state: WebState) -> Starlette:
    """The Starlette application of ``state``, behind its guard."""
    handlers = globals()
    routes = [
        Route(path, _bind(state, handlers[name], field), methods=list(methods))
        for path, name, field, methods in ROUTES
    ]
    return Starlette(routes=routes, middleware=[Middleware(GuardMiddleware, guard=state.guard)])


def _bind(state: WebState, handler: RouteHandler, field: str) -> Handler:
    @endpoint(field)
    async def run(request: Request) -> Response:
        return await handler(request, state)

    return run


def json_response(value: Any, status: int = 200) -> Response:
    """JSON as ``stylepipe models --json`` writes it (values it cannot encode as text)."""
    return Response(json.dumps(value, default=str), status, media_type="application/json")


async def page(request: Request, state: WebState) -> Response:
    html = importlib.resources.files("stylepipe.webui").joinpath("page.html").read_text("utf-8")
    return HTMLResponse(html)


async def get_state(request: Request, state: WebState) -> Response:
    """What the page needs to start: versions, folders, formats, parameters, the photo
    and the latest job."""
    from stylepipe import __version__
    from stylepipe.imaging.formats import FORMATS, write_problem

    return JSONResponse(
        {
            "version": __version__,
            "root": str(state.folders.root),
            "formats": [f for f in FORMATS if write_problem(f) is None],
            "preview_sizes": list(PREVIEW_SIZES),
            "preview_size": DEFAULT_SIZE,
            "params": _param_specs(state),
            "defaults": _defaults(state),
            "photo": _photo_info(state.photo),
            "job": state.jobs.latest.status() if state.jobs.latest else None,
        }
    )


def _param_specs(state: WebState) -> dict[str, list[dict[str, Any]]]:
    specs = {}
    for entry_ in state.app.catalog.filters:
        if entry_.name in ("style", "upscale"):
            specs[entry_.name] = [
                {"name": s.name, "type": s.type.__name__, "default": s.default, "min": s.min,
                 "max": s.max, "help": s.help, "optional": s.optional}
                for s in entry_.item.param_specs()
            ]  # fmt: skip
    return specs


def _defaults(state: WebState) -> dict[str, str | None]:
    """The model each filter takes when the page names none (``None``: not installed)."""
    found: dict[str, str | None] = {}
    for name in ("style", "upscale"):
        try:
            pipeline = settings.check({"step": [{"filter": name}]}, state.app.catalog)
        except StylepipeError:
            found[name] = None
        else:
            found[name] = pipeline.steps[0].fields.get("model")
    return found


def _photo_info(photo: Photo | None) -> dict[str, Any] | None:
    if photo is None:
        return None
    return {"name": photo.name, "width": photo.frame.width, "height": photo.frame.height}


async def models(request: Request, state: WebState) -> Response:
    """The catalog as ``stylepipe models --json`` prints it."""
    from stylepipe.commands.models import model_record

    catalog = state.app.catalog
    records = [model_record(state.app, e) for e in catalog.models]
    return json_response({"models": records, "warnings": list(catalog.warnings)})


async def thumbnail(request: Request, state: WebState) -> Response:
    """A model's preview picture (from its pack folder), small, as JPEG."""
    name = request.query_params.get("name", "")
    if name not in state.thumbnails:
        entry_ = state.app.catalog.models.resolve(name)
        picture = await run_in_threadpool(_thumbnail, entry_.item)
        if picture is None:
            return JSONResponse({"errors": [{"field": "gallery", "message": "no picture"}]}, 404)
        state.thumbnails[name] = picture
    return Response(state.thumbnails[name], media_type="image/jpeg")


def _thumbnail(spec: Any) -> bytes | None:
    import io

    from PIL import Image

    from stylepipe.packs.format import PICTURES

    folder = Path(spec.folder or Path(spec.weights).parent)
    for name in PICTURES:
        if (folder / name).is_file():
            with Image.open(folder / name) as image:
                image.thumbnail((THUMBNAIL, THUMBNAIL))
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, "JPEG", quality=85)
                return buffer.getvalue()
    return None


async def upload_photo(request: Request, state: WebState) -> Response:
    """The dropped photo (raw bytes; its name in ``X-Photo-Name``)."""
    name = unquote(request.headers.get("x-photo-name", ""))
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_UPLOAD:
            raise UsageError(f"the photo is larger than {MAX_UPLOAD // 2**20} MB")
    photo = await run_in_threadpool(read_photo, bytes(data), name, state.private / "photo")
    state.photo = photo
    return JSONResponse({"photo": _photo_info(photo)})


async def preview(request: Request, state: WebState) -> Response:
    """The preview as PNG (``"side": "before"``: the matching original); what it shows
    in the ``X-Preview`` header (JSON: crop box, notes, seconds)."""
    data = await body(request)
    if state.photo is None:
        raise UsageError("drop a photo first", hint="or click the photo area to choose one")
    pipeline = pipeline_of(request, data, state)
    try:
        view = View.parse(data.get("view"))
    except ParamError as exc:
        raise FieldError(exc, f"view.{exc.key}") from None
    if data.get("side") == "before":
        result = await run_in_threadpool(before, pipeline, state.photo, view)
    else:
        future = state.previewer.submit(PreviewRequest(state.photo, pipeline, view))
        result = await asyncio.wrap_future(future)
    return Response(result.png, media_type="image/png", headers=result.headers())


async def command(request: Request, state: WebState) -> Response:
    """The ``stylepipe run`` line of the page's settings (checked first)."""
    from stylepipe.pipeline import describe_pipeline

    data = await body(request)
    pipeline = pipeline_of(request, data, state)
    choice = _shown_choice(state, choice_of(data))
    line = settings.run_command(data["pipeline"], choice)
    return JSONResponse({"command": line, "steps": describe_pipeline(pipeline)})


def _shown_choice(state: WebState, choice: settings.BatchChoice) -> settings.BatchChoice:
    """The batch folders relative to the root (the command line runs there) when they
    are valid, else as typed."""

    def shown(text: str, what: str) -> str:
        try:
            return state.folders.shown(state.folders.resolve(text, what)) if text else text
        except UsageError:
            return text

    return settings.BatchChoice(
        shown(choice.input, "input folder"),
        shown(choice.output, "output folder"),
        choice.recursive,
        choice.existing,
    )


async def start_render(request: Request, state: WebState) -> Response:
    data = await body(request)
    if state.photo is None:
        raise UsageError("drop a photo first")
    pipeline = pipeline_of(request, data, state)
    if state.jobs.running:  # before the last render's file is replaced
        raise UsageError("a batch or render is running", hint="wait for it to end, or cancel it")
    running = render_job(pipeline, state.photo.path, state.private)
    return JSONResponse({"job": state.jobs.start(running).status()})


async def render_result(request: Request, state: WebState) -> Response:
    """The latest render's file, as a download."""
    latest = state.jobs.latest
    if latest is None or latest.kind != "render" or latest.result is None:
        raise UsageError("no render to download yet", hint="click Render first")
    return FileResponse(latest.result, filename=latest.result.name)


async def start_batch(request: Request, state: WebState) -> Response:
    data = await body(request)
    pipeline = pipeline_of(request, data, state)
    choice = choice_of(data)
    running = await run_in_threadpool(_planned_batch, state, pipeline, choice)
    return JSONResponse({"job": state.jobs.start(running).status()})


def _planned_batch(state: WebState, pipeline: Any, choice: settings.BatchChoice) -> Any:
    """Plan the batch; an error names the folder field it is about when it can."""
    try:
        state.folders.input_folder(choice.input)
    except UsageError as exc:
        raise FieldError(exc, "batch.input") from None
    try:
        state.folders.output_folder(choice.output)
    except UsageError as exc:
        raise FieldError(exc, "batch.output") from None
    return batch_job(pipeline, state.folders, choice)


async def job_status(request: Request, state: WebState) -> Response:
    latest = state.jobs.latest
    return JSONResponse({"job": latest.status() if latest else None})


async def cancel_job(request: Request, state: WebState) -> Response:
    state.jobs.cancel()
    return await job_status(request, state)


async def save_pipeline(request: Request, state: WebState) -> Response:
    """Write the page's pipeline as a TOML file (inside the root) and answer the
    ``stylepipe run -p`` line that uses it."""
    from stylepipe.atomic import write_bytes

    data = await body(request)
    pipeline_of(request, data, state)
    path = state.folders.pipeline_file(str(data.get("path") or ""), must_exist=False)
    if path.exists() and not data.get("overwrite"):
        raise UsageError(f"{state.folders.shown(path)} exists", hint="tick Replace to overwrite it")
    text = settings.to_toml(data["pipeline"])
    path.parent.mkdir(parents=True, exist_ok=True)
    await run_in_threadpool(write_bytes, path, text.encode("utf-8"))
    choice = _shown_choice(state, choice_of(data))
    line = settings.run_command(data["pipeline"], choice, state.folders.shown(path))
    return JSONResponse({"path": state.folders.shown(path), "command": line, "toml": text})


async def load_pipeline(request: Request, state: WebState) -> Response:
    """A pipeline file (inside the root), checked, as the page's document."""
    data = await body(request)
    path = state.folders.pipeline_file(str(data.get("path") or ""), must_exist=True)
    doc = await run_in_threadpool(settings.load, path, state.app.catalog)
    return JSONResponse({"pipeline": doc, "path": state.folders.shown(path)})


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
