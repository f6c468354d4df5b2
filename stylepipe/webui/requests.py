"""How a route of ``stylepipe ui`` reads its request and answers an error: the JSON body
(:func:`body`), the page's pipeline document and batch folders in it (:func:`pipeline_of`,
:func:`choice_of`), JSON answers (:func:`json_response`) and :func:`endpoint`, which turns
a route's errors into JSON ``{"errors": [{"field", "message", "hint"}]}``: the library's
own messages (the "did you mean" and ranges of the CLI), each with the page control it
belongs to (``style.strength``, ``batch.input``...), so that the page shows it there
(:class:`FieldError` names another control than the route's default). A bug is logged
with its traceback on the terminal, and the page gets one line: it never shows a stack
trace.
"""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from stylepipe.errors import PipelineError, StylepipeError, UsageError
from stylepipe.webui import settings
from stylepipe.webui.folders import PathRefused
from stylepipe.webui.preview import PreviewPaused, Superseded

if TYPE_CHECKING:
    from stylepipe.webui.state import WebState

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


# --- requests and answers ---------------------------------------------------------------


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


def json_response(value: Any, status: int = 200) -> Response:
    """JSON as ``stylepipe models --json`` writes it (values it cannot encode as text)."""
    return Response(json.dumps(value, default=str), status, media_type="application/json")
