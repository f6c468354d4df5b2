"""The routes of ``stylepipe ui`` that show things: the page itself, the state the page
starts from (versions, folders, formats, parameters, defaults, the photo, the latest
job), the model gallery and its thumbnails, the dropped photo and the live preview. Each
handler takes the request and the server's :class:`~stylepipe.webui.state.WebState`;
:mod:`~stylepipe.webui.server` binds them to their paths.
"""

from __future__ import annotations

import asyncio
import importlib.resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from stylepipe.errors import ParamError, StylepipeError, UsageError
from stylepipe.webui import settings
from stylepipe.webui.photo import DEFAULT_SIZE, PREVIEW_SIZES, Photo, View, read_photo
from stylepipe.webui.preview import PreviewRequest, before
from stylepipe.webui.requests import FieldError, body, json_response, pipeline_of

if TYPE_CHECKING:
    from stylepipe.webui.state import WebState

MAX_UPLOAD = 400 * 1024 * 1024
"""Bytes of a dropped photo (a camera RAW file is rarely above 100 MB)."""
THUMBNAIL = 192


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
