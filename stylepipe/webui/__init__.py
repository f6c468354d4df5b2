"""``stylepipe ui``: one local browser page to pick a style, tune it on a photo with a
live preview, render it at full resolution and run the batch (the ``ui`` extra:
Starlette and uvicorn).

Modules: :mod:`~stylepipe.webui.security` (token, Origin and Host checks),
:mod:`~stylepipe.webui.folders` (no file access outside the chosen folders),
:mod:`~stylepipe.webui.settings` (the page's pipeline as TOML and as a ``stylepipe run``
line), :mod:`~stylepipe.webui.photo` (the dropped photo and the preview's view),
:mod:`~stylepipe.webui.planning` (what a preview computes), :mod:`~stylepipe.webui.preview`
(the live preview's worker), :mod:`~stylepipe.webui.jobs`
(full-resolution render and batch through the engine of ``run``),
:mod:`~stylepipe.webui.state` (what the routes share), :mod:`~stylepipe.webui.requests`
(reading requests, errors as JSON for the page), :mod:`~stylepipe.webui.routes_gallery`
and :mod:`~stylepipe.webui.routes_jobs` (the routes), :mod:`~stylepipe.webui.server`
(the route table and serving) and ``page.html`` (the page itself, one file with its
script and styles: nothing is fetched from elsewhere).

Like every subpackage's, this ``__init__`` imports nothing.
"""
