"""Helpers for the ``stylepipe ui`` tests: a server state on tiny random models, a
client that talks like the page, generated photos."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_helpers import gradient
from PIL import Image

from stylepipe.cli import main
from stylepipe.ui import UI

pytest.importorskip("starlette", reason="stylepipe ui needs the ui extra (starlette)")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

PORT = 8765


@dataclass
class Web:
    """A server state, its test client and the root folder it may use."""

    state: Any
    client: Any
    root: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"x-stylepipe-token": self.state.guard.token, "origin": self.state.guard.origins[0]}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(
            path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs
        )

    def post(self, path: str, body: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.post(path, json=body, headers=headers, **kwargs)

    def upload(self, data: bytes, name: str) -> Any:
        headers = {**self.headers, "x-photo-name": name}
        return self.client.post("/api/photo", content=data, headers=headers)

    def wait(self) -> dict[str, Any]:
        assert self.state.jobs.wait(timeout=120), "the job did not end"
        job: dict[str, Any] = self.get("/api/job").json()["job"]
        return job


def make_client(app: Any) -> Any:
    """Starlette's TestClient (imported here: it warns about httpx vs httpx2)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Starlette 1.x: "install httpx2"
        from starlette.testclient import TestClient

    return TestClient(app, base_url=f"http://127.0.0.1:{PORT}")


def png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    pixels = (gradient(height, width, seed=seed) * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def make_photos(folder: Path, count: int, size: int = 24) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"photo{n}.png"
        path.write_bytes(png_bytes(size + n, size, seed=n))
        paths.append(path)
    return paths


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def cli(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], ui=UI(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def preview_info(response: Any) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(response.headers["x-preview"])
    return info
