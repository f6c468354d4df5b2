"""The routes of ``stylepipe ui`` that act on the page's settings: the equivalent
``stylepipe run`` line, the full-resolution render and its download, the batch, the
latest job's progress and its cancelling (the jobs themselves are in
:mod:`~stylepipe.webui.jobs`), and saving and loading the settings as a pipeline file
inside the root. Each handler takes the request and the server's
:class:`~stylepipe.webui.state.WebState`; :mod:`~stylepipe.webui.server` binds them to
their paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from stylepipe.errors import UsageError
from stylepipe.webui import settings
from stylepipe.webui.jobs import batch_job, render_job
from stylepipe.webui.requests import FieldError, body, choice_of, pipeline_of

if TYPE_CHECKING:
    from stylepipe.webui.state import WebState


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
