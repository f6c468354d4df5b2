"""The ``stylepipe ui`` page in a real browser: headless Chromium (Debian's
``chromium-headless-shell``) driven by Playwright through ``executable_path``, against a
real uvicorn server. Skipped, with the reason, when Playwright or the browser is absent.

``STYLEPIPE_SCREENSHOT=docs/ui.png`` also writes the README's screenshot there.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from model_helpers import write_sr_pack, write_style_pack
from PIL import Image
from webui_helpers import make_photos, png_bytes

from stylepipe.app import App
from stylepipe.plugins import load_plugins
from stylepipe.ui import UI

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip)")
pytest.importorskip("uvicorn", reason="stylepipe ui needs the ui extra (uvicorn)")

REPO = Path(__file__).resolve().parent.parent
CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser")
TIMEOUT_MS = 90_000


def chromium() -> str:
    """The browser binary: ``STYLEPIPE_CHROMIUM``, else one on PATH (never downloaded)."""
    given = os.environ.get("STYLEPIPE_CHROMIUM")
    found = given or next((p for p in map(shutil.which, CANDIDATES) if p), None)
    if not found or not Path(found).exists():
        pytest.skip(
            "no headless Chromium found: apt-get install chromium-headless-shell "
            "(or set STYLEPIPE_CHROMIUM); `playwright install` is not used"
        )
    return found


@dataclass
class Served:
    state: Any
    url: str
    root: Path


def serve(tmp_path: Path, folder: str = "root") -> Iterator[Served]:
    """A real server on a free port, in a thread, confined to ``tmp_path/folder``."""
    from stylepipe.webui.server import create_state, listen, make_server

    root = tmp_path / folder
    root.mkdir()
    sock = listen(0)
    app = App(load_plugins(), UI(stdout=io.StringIO(), stderr=io.StringIO()))
    state = create_state(app, root=root, port=sock.getsockname()[1])
    server = make_server(state)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield Served(state, state.guard.url, root)
    finally:
        server.should_exit = True
        thread.join(30)
        state.close()
        sock.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    write_style_pack(name="tiny")
    write_sr_pack(name="tiny-x4")
    yield from serve(tmp_path)


@pytest.fixture
def browser() -> Iterator[Any]:
    path = chromium()
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path)
        yield launched
        launched.close()


def open_page(browser: Any, served: Served) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(served.url)
    page.wait_for_selector("body[data-ready='1']")
    return page


def drop(page: Any, data: bytes, name: str, mime: str = "image/png") -> None:
    """Drop a file on the photo area, as a user dragging it from a file manager."""
    transfer = page.evaluate_handle(
        """([bytes, name, type]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
            return transfer;
        }""",
        [list(data), name, mime],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def wait_preview(page: Any, seq: int) -> None:
    page.wait_for_function("(n) => Number(document.body.dataset.previewSeq || 0) >= n", arg=seq)


def wait_text(page: Any, selector: str, text: str, *, exact: bool = False) -> None:
    """Wait until the element's text is (or holds) ``text``. Functions, not strings: the
    page's Content-Security-Policy forbids evaluating strings."""
    page.wait_for_function(
        """([selector, text, exact]) => {
            const found = document.querySelector(selector).textContent;
            return exact ? found === text : found.includes(text);
        }""",
        arg=[selector, text, exact],
    )


def after_pixels(page: Any) -> np.ndarray:
    """The preview's pixels as the browser decoded them."""
    values = page.evaluate(
        """() => {
            const img = document.getElementById("after");
            const canvas = document.createElement("canvas");
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const context = canvas.getContext("2d");
            context.drawImage(img, 0, 0);
            return [canvas.width, canvas.height,
                    Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data)];
        }"""
    )
    width, height, data = values
    return np.array(data, dtype=np.int32).reshape(height, width, 4)


def test_dropping_a_photo_shows_a_preview(browser: Any, served: Served) -> None:
    page = open_page(browser, served)
    page.click(".card[data-short='tiny']")
    drop(page, png_bytes(300, 200), "cat.png")
    wait_preview(page, 1)
    assert page.inner_text("#photo-info") == "cat.png: 300 × 200"
    pixels = after_pixels(page)
    assert pixels.shape == (200, 300, 4)  # smaller than the preview size: as it is
    assert pixels[:, :, :3].std() > 1  # not blank
    assert not page.is_hidden("#split")
    assert page.inner_text("[data-field='style.model']") == ""


def test_moving_the_slider_changes_the_preview(browser: Any, served: Served) -> None:
    page = open_page(browser, served)
    page.click(".card[data-short='tiny']")
    drop(page, png_bytes(200, 150), "cat.png")
    wait_preview(page, 1)
    full = after_pixels(page)
    page.fill("#strength", "0.3")
    wait_preview(page, 2)  # requested after the slider moved: the first one had ended
    weak = after_pixels(page)
    assert full.shape == weak.shape
    assert np.abs(full - weak)[:, :, :3].mean() > 2
    wait_text(page, "#command", "0.3")
    assert "style:model=tiny,strength=0.3" in page.inner_text("#command")


def test_an_out_of_range_value_is_shown_beside_its_control(browser: Any, served: Served) -> None:
    page = open_page(browser, served)
    page.fill("#work-size", "5")
    slot = "[data-field='style.work_size']"
    wait_text(page, slot, "style: ")
    assert page.inner_text(slot).startswith("style: work_size=5 is too small")
    assert "Traceback" not in page.content()


def test_a_batch_of_three_reaches_3_of_3(browser: Any, served: Served) -> None:
    make_photos(served.root / "in", 3)
    page = open_page(browser, served)
    page.click(".card[data-short='tiny']")
    page.fill("#batch-input", "in")
    page.fill("#batch-output", "out")
    page.select_option("#format", "jpeg")
    page.click("#batch-start")
    wait_text(page, "#batch-count", "3/3 files", exact=True)
    wait_text(page, "#batch-summary", "3 done")
    names = sorted(p.name for p in (served.root / "out").iterdir())
    assert names == ["photo0.jpg", "photo1.jpg", "photo2.jpg"]
    assert page.inner_text("#batch-summary").startswith("3 done, 0 failed of 3 files")


def test_screenshot_for_the_readme(browser: Any, tmp_path: Path, monkeypatch) -> None:
    """The bundled styles on a sample photo (CC0, samples/LICENSES.md)."""
    import stylepipe_sr
    import stylepipe_style

    for plugin in (stylepipe_style, stylepipe_sr):
        monkeypatch.setattr(plugin, "BUNDLED_MODELS", Path(plugin.__file__).parent / "models")
    for served in serve(tmp_path, "Pictures"):
        shutil.copytree(REPO / "samples" / "photos", served.root / "photos")
        page = open_page(browser, served)
        page.wait_for_selector(".card[data-short='starry-night'] img")
        page.click(".card[data-short='mosaic']")
        drop(page, (REPO / "samples" / "photos" / "chelsea.jpg").read_bytes(), "chelsea.jpg")
        wait_preview(page, 1)
        page.fill("#strength", "0.8")  # the model is loaded now: the time shown is warm
        wait_preview(page, 2)
        page.fill("#batch-input", "photos")
        page.fill("#batch-output", "styled")
        page.fill("#pipeline-path", "mosaic.toml")
        wait_text(page, "#command", "styled")
        shot = tmp_path / "ui.png"
        page.screenshot(path=str(shot), full_page=True)
        with Image.open(shot) as image:
            assert image.width == 1400 and image.height >= 700
        target = os.environ.get("STYLEPIPE_SCREENSHOT")
        if target:  # 256 colours: a third of the bytes, for the repository
            with Image.open(shot) as image:
                image.convert("RGB").quantize(256).save(REPO / target, optimize=True)
