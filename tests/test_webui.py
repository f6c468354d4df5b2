"""``stylepipe ui`` through its API (Starlette's TestClient, tiny random models): the
gallery's catalog, the preview, errors, render, batch, cancel, pipeline files, and the
token, Origin and path checks."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_helpers import write_sr_pack, write_style_pack
from PIL import Image
from webui_helpers import (
    PORT,
    Web,
    cli,
    image_size,
    make_client,
    make_photos,
    png_bytes,
    preview_info,
)

from stylepipe.app import App
from stylepipe.atomic import TEMP_MARKER
from stylepipe.plugins import load_plugins
from stylepipe.ui import UI
from stylepipe.webui import jobs as jobs_module
from stylepipe.webui import settings as page_settings

STYLE = {"step": [{"filter": "style", "model": "tiny"}]}
STYLE_UP = {
    "step": [{"filter": "style", "model": "tiny"}, {"filter": "upscale", "model": "tiny-x4"}]
}
TIMING = re.compile(r"\(\d+\.\d s(, [\d.]+ images/s)?\)")


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    """Tiny models in the user dir (``tiny``, ``tiny-b``, ``tiny-x4``) and a server
    confined to ``tmp_path/root``."""
    from stylepipe.webui.server import create_app, create_state

    write_style_pack(name="tiny")
    write_style_pack(name="tiny-b", seed=1)
    write_sr_pack(name="tiny-x4")
    root = tmp_path / "root"
    root.mkdir()
    app = App(load_plugins(), UI(stdout=io.StringIO(), stderr=io.StringIO()))
    state = create_state(app, root=root, port=PORT)
    yield Web(state, make_client(create_app(state)), root)
    state.close()


def test_the_gallery_lists_what_models_json_lists(web: Web) -> None:
    code, out, _ = cli("models", "--json")
    assert code == 0
    answer = web.get("/api/models")
    assert answer.status_code == 200
    assert answer.json() == json.loads(out)
    names = {m["qualified_name"] for m in answer.json()["models"]}
    assert {"stylepipe_local/tiny", "stylepipe_local/tiny-x4"} <= names


def test_a_model_without_pictures_has_no_thumbnail(web: Web) -> None:
    answer = web.get("/api/thumbnail", params={"name": "tiny"})
    assert answer.status_code == 404
    (error,) = web.get("/api/thumbnail", params={"name": "tinny"}).json()["errors"]
    assert error["field"] == "gallery" and error["hint"].startswith("did you mean 'tiny'")


def test_the_preview_png_has_the_expected_size(web: Web) -> None:
    assert web.upload(png_bytes(300, 200), "cat.png").json()["photo"]["width"] == 300
    whole = web.post("/api/preview", {"pipeline": STYLE, "view": {"size": 256}})
    assert whole.status_code == 200 and whole.headers["content-type"] == "image/png"
    assert image_size(whole.content) == (256, 171)
    view = {"mode": "crop", "size": 256, "x": 0.9, "y": 0.1}
    crop = web.post("/api/preview", {"pipeline": STYLE_UP, "view": view})
    assert image_size(crop.content) == (256, 256)  # a 64-pixel crop, upscaled x4
    box = preview_info(crop)["box"]
    assert box == pytest.approx([236 / 300, 0.0, 64 / 300, 64 / 200])
    before = web.post("/api/preview", {"pipeline": STYLE_UP, "view": view, "side": "before"})
    assert image_size(before.content) == (256, 256)
    notes = preview_info(web.post("/api/preview", {"pipeline": STYLE_UP, "view": {}}))["notes"]
    assert notes == ['upscale(model="tiny-x4"): shown in the 100% crop view']


def test_the_preview_changes_with_strength_and_zero_is_the_photo(web: Web) -> None:
    web.upload(png_bytes(64, 48), "cat.png")

    def pixels(strength: float) -> np.ndarray:
        doc = {"step": [{"filter": "style", "model": "tiny", "strength": strength}]}
        answer = web.post("/api/preview", {"pipeline": doc, "view": {"size": 256}})
        assert answer.status_code == 200, answer.text
        return np.asarray(Image.open(io.BytesIO(answer.content)), dtype=int)

    full, half, none = pixels(1.0), pixels(0.5), pixels(0.0)
    assert np.abs(full - half).mean() > 1
    photo = np.asarray(Image.open(io.BytesIO(png_bytes(64, 48))), dtype=int)
    assert np.abs(none - photo).max() <= 1


def test_the_preview_never_compiles(web: Web, monkeypatch) -> None:
    """``[runtime] compile`` is for the render (a batch); a preview would wait for it."""
    import torch

    compiled: list[object] = []
    monkeypatch.setattr(torch, "compile", lambda module, **_: compiled.append(module) or module)
    web.upload(png_bytes(64, 48), "cat.png")
    doc = {**STYLE, "runtime": {"tile": 0, "compile": True}}
    answer = web.post("/api/preview", {"pipeline": doc, "view": {"size": 256}})
    assert answer.status_code == 200, answer.text
    assert compiled == []


def test_a_bad_parameter_gives_400_with_the_filters_message(web: Web) -> None:
    web.upload(png_bytes(32, 32), "cat.png")
    cases = {
        "strength": (1.5, "style.strength", "style: strength=1.5 is out of range (0.0 to 1.0)"),
        "model": ("tiyn", "style.model", "style: unknown model 'tiyn'"),
        "work_size": (5, "style.work_size", "style: work_size=5 is too small"),
    }
    for key, (value, field, message) in cases.items():
        doc = {"step": [{"filter": "style", "model": "tiny", key: value}]}
        answer = web.post("/api/preview", {"pipeline": doc, "view": {}})
        assert answer.status_code == 400
        (error,) = answer.json()["errors"]
        assert (error["field"], error["message"]) == (field, message)
        spec = page_settings.filter_spec(doc["step"][0])
        err = _cli_error(spec)
        assert message.removeprefix("style: ") in err and error["hint"] in err
    answer = web.post("/api/preview", {"pipeline": STYLE, "view": {"size": 300}})
    assert answer.json()["errors"][0]["field"] == "view.size"


def _cli_error(spec: str) -> str:
    """What ``stylepipe run`` says about ``--filter spec`` (it stops before any input)."""
    code, _, err = cli("run", "nothing", "-o", "out", "--filter", spec)
    assert code == 2
    return err


def test_several_errors_each_go_to_their_control(web: Web) -> None:
    doc = {
        "step": [{"filter": "style", "strength": -1}, {"filter": "upscale", "scale": 9}],
        "output": {"format": "bmpp"},
    }
    answer = web.post("/api/command", {"pipeline": doc})
    assert answer.status_code == 400
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["style.strength", "upscale.scale", "output.format"]


def test_a_dropped_file_that_is_not_an_image_is_named_not_its_folder(web: Web) -> None:
    answer = web.upload(b"not a picture", "notes.txt")
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "photo"
    answer = web.upload(b"\x89PNG\r\n\x1a\n broken", "../../broken.png")
    (error,) = answer.json()["errors"]
    assert error["message"].startswith("broken.png: ")
    assert str(web.state.private) not in json.dumps(answer.json())
    assert not (web.root.parent / "broken.png").exists()


def test_batch_progress_partial_failure_and_the_summary_of_run(web: Web, monkeypatch) -> None:
    make_photos(web.root / "in", 3)
    (web.root / "in" / "zbad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    seen: list[int] = []
    advance = jobs_module.JobProgress.advance

    def counting(self, status: str) -> None:
        advance(self, status)
        seen.append(self.running.status()["finished"])

    monkeypatch.setattr(jobs_module.JobProgress, "advance", counting)
    batch = {"input": "in", "output": "out", "existing": "fail"}
    answer = web.post("/api/batch", {"pipeline": STYLE, "batch": batch})
    assert answer.status_code == 200, answer.text
    job = web.wait()
    assert seen == [1, 2, 3, 4]
    assert (job["state"], job["total"], job["done"], job["failed"]) == ("finished", 4, 3, 1)
    (failure,) = job["failures"]
    assert failure["file"].endswith("zbad.png") and "not an image" in failure["reason"]
    assert sorted(p.name for p in (web.root / "out").iterdir()) == [
        "photo0.png", "photo1.png", "photo2.png",
    ]  # fmt: skip
    code, _, err = cli("run", web.root / "in", "-o", web.root / "out", "--filter", "style:tiny",
                       "--overwrite")  # fmt: skip
    assert code == 1
    cli_summary = err[re.search(r"^\d+ done", err, re.M).start() :]  # type: ignore[union-attr]
    assert TIMING.sub("(T)", job["summary"]) == TIMING.sub("(T)", cli_summary)


def test_cancel_stops_before_the_next_file_and_leaves_no_partial_file(
    web: Web, monkeypatch
) -> None:
    make_photos(web.root / "in", 8)
    calls = {"n": 0}
    from stylepipe_style.filter import StyleFilter

    apply = StyleFilter.apply

    def cancelling(self, frame):
        calls["n"] += 1
        if calls["n"] == 2:
            web.post("/api/job/cancel")
        return apply(self, frame)

    monkeypatch.setattr(StyleFilter, "apply", cancelling)
    batch = {"input": "in", "output": "out"}
    assert web.post("/api/batch", {"pipeline": STYLE, "batch": batch}).status_code == 200
    job = web.wait()
    assert job["state"] == "cancelled"
    assert (job["done"], job["total"]) == (2, 8)
    written = sorted((web.root / "out").iterdir())
    assert [p.name for p in written] == ["photo0.png", "photo1.png"]
    assert not [p for p in written if TEMP_MARKER in p.name]
    for path in written:
        with Image.open(path) as image:
            image.load()  # complete files
    assert "6 files not processed" in job["summary"]


def test_render_goes_through_the_engine_of_run(web: Web, tmp_path: Path) -> None:
    data = png_bytes(40, 30)
    web.upload(data, "cat.png")
    doc = {**STYLE_UP, "runtime": {"tile": 16}}
    assert web.post("/api/render", {"pipeline": doc}).status_code == 200
    job = web.wait()
    assert (job["state"], job["result"]) == ("finished", "cat.png")
    download = web.get("/api/render/result")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    (tmp_path / "cat.png").write_bytes(data)
    code, _, err = cli("run", tmp_path / "cat.png", "-o", tmp_path / "out",
                       *_filters(doc), "--tile", "16")  # fmt: skip
    assert code == 0, err
    ours = np.asarray(Image.open(io.BytesIO(download.content)))
    theirs = np.asarray(Image.open(tmp_path / "out" / "cat.png"))
    assert ours.shape == (120, 160, 3) and np.array_equal(ours, theirs)
    assert str(web.state.private) not in json.dumps(job)
    assert web.post("/api/render", {"pipeline": STYLE}).status_code == 200
    assert web.wait()["state"] == "finished"
    assert [p.name for p in (web.state.private / "render").iterdir()] == ["cat.png"]
    with web.state.jobs.busy:  # a render waits for the processor: it is running
        assert web.post("/api/render", {"pipeline": STYLE}).status_code == 200
        refused = web.post("/api/render", {"pipeline": STYLE})
    assert refused.status_code == 400 and "is running" in refused.json()["errors"][0]["message"]
    web.wait()


def _filters(doc: dict) -> list[str]:
    return [arg for step in doc["step"] for arg in ("--filter", page_settings.filter_spec(step))]


def test_save_load_and_the_command_line_run_the_same_batch(web: Web, monkeypatch) -> None:
    monkeypatch.chdir(web.root)  # the page says: run it in the root
    make_photos(web.root / "in", 2)
    doc = {
        "description": 'a "quoted" name',
        "step": [{"filter": "style", "model": "tiny", "strength": 0.5, "preserve_color": True}],
        "output": {"format": "webp", "quality": 80},
    }
    batch = {"input": "in", "output": "out", "existing": "skip"}
    saved = web.post("/api/pipeline/save", {"pipeline": doc, "path": "p/mine.toml", "batch": batch})
    assert saved.status_code == 200, saved.text
    assert tomllib.loads((web.root / "p" / "mine.toml").read_text()) == doc
    again = web.post("/api/pipeline/save", {"pipeline": doc, "path": "p/mine.toml"})
    assert again.status_code == 400 and "exists" in again.json()["errors"][0]["message"]
    loaded = web.post("/api/pipeline/load", {"path": "p/mine.toml"})
    assert loaded.json() == {"pipeline": doc, "path": os.path.join("p", "mine.toml")}
    assert web.post("/api/batch", {"pipeline": doc, "batch": batch}).status_code == 200
    assert web.wait()["done"] == 2
    for answer in (saved, web.post("/api/command", {"pipeline": doc, "batch": batch})):
        argv = shlex.split(answer.json()["command"])
        assert argv[:2] == ["stylepipe", "run"] and "--skip-existing" in argv
        assert argv[2] == "in" and argv[argv.index("-o") + 1] == "out"
        argv[argv.index("-o") + 1] = "out-cli"
        code, _, err = cli(*argv[1:])
        assert code == 0, err
        for name in ("photo0.webp", "photo1.webp"):
            ours = np.asarray(Image.open(web.root / "out" / name))
            theirs = np.asarray(Image.open(web.root / "out-cli" / name))
            assert np.array_equal(ours, theirs)


def test_a_broken_pipeline_file_reports_every_error_with_its_place(web: Web) -> None:
    (web.root / "bad.toml").write_text('[[step]]\nfilter = "styel"\n\n[output]\nqualty = 3\n')
    answer = web.post("/api/pipeline/load", {"path": "bad.toml"})
    assert answer.status_code == 400
    messages = [(e["field"], e["message"], e["hint"]) for e in answer.json()["errors"]]
    assert messages[0][0] == "pipeline.file" and "bad.toml:step 1:filter" in messages[0][1]
    assert "did you mean 'style'?" in messages[0][2]
    assert "[output]:qualty" in messages[1][1] and "quality" in messages[1][2]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"x-stylepipe-token": ""}, "token"),
        ({"x-stylepipe-token": "guess"}, "token"),
        ({"origin": "http://evil.example"}, "evil.example"),
        ({"origin": "null"}, "null"),
        ({"host": "attacker.example:8765"}, "Host"),
        ({"sec-fetch-site": "cross-site"}, "another site"),
    ],
)
def test_a_wrong_token_origin_or_host_is_refused(web: Web, change, problem) -> None:
    for method in ("get", "post"):
        headers = {**web.headers, **change}
        call = getattr(web.client, method)
        answer = call("/api/job" if method == "get" else "/api/job/cancel", headers=headers)
        assert answer.status_code == 403, (method, change)
        assert problem in answer.json()["errors"][0]["message"]


def test_the_page_needs_the_token_and_changes_need_the_origin(web: Web) -> None:
    token = web.state.guard.token
    assert web.client.get("/").status_code == 403
    page = web.client.get(f"/?token={token}", headers={"sec-fetch-site": "none"})
    assert page.status_code == 200 and "<title>stylepipe ui</title>" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    no_origin = web.client.post("/api/job/cancel", headers={"x-stylepipe-token": token})
    assert no_origin.status_code == 403 and "Origin" in no_origin.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("batch", "field"),
    [
        ({"input": "../outside", "output": "out"}, "batch.input"),
        ({"input": "/etc", "output": "out"}, "batch.input"),
        ({"input": "in/../../outside", "output": "out"}, "batch.input"),
        ({"input": "in", "output": "../elsewhere"}, "batch.output"),
        ({"input": "in", "output": "~/out"}, "batch.output"),
    ],
)
def test_paths_outside_the_root_are_refused(web: Web, batch, field) -> None:
    make_photos(web.root / "in", 1)
    make_photos(web.root.parent / "outside", 1)
    answer = web.post("/api/batch", {"pipeline": STYLE, "batch": batch})
    assert answer.status_code == 403, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == field and "is outside" in error["message"]
    assert not (web.root.parent / "elsewhere").exists()


def test_pipeline_files_outside_the_root_are_refused(web: Web) -> None:
    for path in ("../evil.toml", "/tmp/evil.toml", "sub/../../evil.toml"):
        answer = web.post("/api/pipeline/save", {"pipeline": STYLE, "path": path})
        assert answer.status_code == 403 and answer.json()["errors"][0]["field"] == "pipeline.file"
    assert not (web.root.parent / "evil.toml").exists()
    for path in ("../../../../etc/passwd", "/etc/passwd"):
        assert web.post("/api/pipeline/load", {"path": path}).status_code == 403
    (web.root.parent / "secret.toml").write_text('[[step]]\nfilter = "style"\n')
    (web.root / "link.toml").symlink_to(web.root.parent / "secret.toml")
    assert web.post("/api/pipeline/load", {"path": "link.toml"}).status_code == 403


def test_links_out_of_the_chosen_folders_are_not_followed(web: Web) -> None:
    make_photos(web.root / "in", 2)
    (secret,) = make_photos(web.root.parent / "private", 1)
    (web.root / "in" / "zz-link.png").symlink_to(secret)
    batch = {"input": "in", "output": "out"}
    assert web.post("/api/batch", {"pipeline": STYLE, "batch": batch}).status_code == 200
    job = web.wait()
    assert (job["total"], job["done"]) == (2, 2)
    assert "1 file left out: symbolic links to files outside the input folder" in job["warnings"]
    (web.root / "out2").mkdir()
    (web.root / "out2" / "sub").symlink_to(web.root.parent / "private", target_is_directory=True)
    (web.root / "in" / "sub").mkdir()
    make_photos(web.root / "in" / "sub", 1)
    batch = {"input": "in", "output": "out2", "recursive": True}
    answer = web.post("/api/batch", {"pipeline": STYLE, "batch": batch})
    assert answer.status_code == 403 and "outside the output folder" in answer.text


def test_the_preview_pauses_while_a_job_holds_the_processor(web: Web) -> None:
    web.upload(png_bytes(32, 32), "cat.png")
    with web.state.jobs.busy:
        answer = web.post("/api/preview", {"pipeline": STYLE, "view": {}})
    assert answer.status_code == 409 and answer.json()["paused"] is True
    assert web.post("/api/preview", {"pipeline": STYLE, "view": {}}).status_code == 200


def test_stale_preview_requests_are_dropped(web: Web, monkeypatch) -> None:
    from stylepipe.webui import preview
    from stylepipe.webui.photo import View

    web.upload(png_bytes(32, 32), "cat.png")
    started, release = threading.Event(), threading.Event()
    run_plan = preview.run_plan
    computed = []

    def slow(cache, pipeline, planned):
        computed.append(pipeline.steps[0].filter.params.strength)
        started.set()
        release.wait(10)
        return run_plan(cache, pipeline, planned)

    monkeypatch.setattr(preview, "run_plan", slow)
    photo, view = web.state.photo, View()

    def request(strength: float) -> preview.PreviewRequest:
        doc = {"step": [{"filter": "style", "model": "tiny", "strength": strength}]}
        pipeline = page_settings.check(doc, web.state.app.catalog)
        return preview.PreviewRequest(photo, pipeline, view)

    first = web.state.previewer.submit(request(0.1))
    assert started.wait(10)
    middle = [web.state.previewer.submit(request(s)) for s in (0.2, 0.3, 0.4)]
    last = web.state.previewer.submit(request(0.5))
    release.set()
    assert first.result(10).png and last.result(10).png
    for future in middle:
        with pytest.raises(preview.Superseded):
            future.result(10)
    assert computed == [0.1, 0.5]


def test_a_bug_is_one_line_on_the_page_and_a_traceback_on_the_terminal(
    web: Web, monkeypatch, capsys
) -> None:
    def broken(*args, **kwargs):
        raise ValueError("secret internals")

    monkeypatch.setattr(page_settings, "check", broken)
    answer = web.post("/api/command", {"pipeline": STYLE})
    assert answer.status_code == 500
    assert answer.json()["errors"][0]["message"] == (
        "internal error (ValueError); the terminal shows the details"
    )
    assert "secret internals" not in answer.text and "Traceback" not in answer.text
    assert "Traceback" in capsys.readouterr().err


def test_ui_without_the_extra_names_the_install(monkeypatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "uvicorn" else find_spec(name, *a),
    )
    code, _, err = cli("ui")
    assert code == 2 and "needs uvicorn" in err and "pip install 'stylepipe[ui]'" in err


_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
_SCALAR = st.one_of(st.booleans(), st.integers(-(2**60), 2**60), _TEXT,
                    st.floats(allow_nan=False, allow_infinity=False))  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    description=_TEXT,
    step=st.dictionaries(_TEXT.filter(lambda k: k != "filter"), _SCALAR, max_size=4),
)
def test_settings_become_toml_that_reads_back_the_same(description: str, step: dict) -> None:
    doc = {"description": description, "step": [{"filter": "style", **step}]}
    assert tomllib.loads(page_settings.to_toml(doc)) == doc


def test_work_size_in_the_preview_keeps_the_strokes_of_the_render() -> None:
    from stylepipe.webui.planning import crop_work, whole_work

    assert whole_work(0, 4000, 384) == (0, True)  # native on a big photo: coarser here
    assert whole_work(200, 4000, 384) == (200, False)  # the render's 200 px, here too
    assert whole_work(0, 300, 300) == (0, False)
    assert crop_work(0, 4000, 96) == (0, False)  # native: a crop is at the render's scale
    assert crop_work(1000, 4000, 384) == (96, False)  # a quarter, as in the render
    assert crop_work(100, 4000, 384) == (16, True)


def test_the_100_percent_crop_of_a_style_is_the_renders_pixels(web: Web) -> None:
    """A photo the style sees whole (at most CONTEXT pixels): the crop is cut from the
    stylized photo, so it holds the render's own pixels."""
    web.upload(png_bytes(500, 400), "cat.png")
    doc = {**STYLE, "runtime": {"tile": 0, "precision": "fp32"}}
    view = {"mode": "crop", "size": 256, "x": 0.3, "y": 0.6}
    crop = web.post("/api/preview", {"pipeline": doc, "view": view})
    assert crop.status_code == 200 and preview_info(crop)["notes"] == []
    left, top = round(0.3 * 500 - 128), round(0.6 * 400 - 128)
    assert preview_info(crop)["box"] == pytest.approx([left / 500, top / 400, 256 / 500, 0.64])
    assert web.post("/api/render", {"pipeline": doc}).status_code == 200
    assert web.wait()["state"] == "finished"
    rendered = np.asarray(Image.open(io.BytesIO(web.get("/api/render/result").content)), int)
    ours = np.asarray(Image.open(io.BytesIO(crop.content)), int)
    assert ours.shape == (256, 256, 3)
    assert np.abs(ours - rendered[top : top + 256, left : left + 256]).max() <= 1


def test_a_photo_too_big_to_stylize_whole_is_stylized_on_the_crop_and_says_so(web: Web) -> None:
    web.upload(png_bytes(600, 100), "wide.png")
    answer = web.post("/api/preview", {"pipeline": STYLE, "view": {"mode": "crop", "size": 256}})
    assert image_size(answer.content) == (256, 100)
    assert preview_info(answer)["notes"] == [
        "style: run on the crop alone, so its colours may differ a little"
    ]


def test_stylepipe_ui_serves_on_loopback_until_ctrl_c(tmp_path: Path) -> None:
    """The real command: it prints the address, serves the page with the token only,
    and stops on Ctrl-C with status 0, deleting its private folder."""
    private = tmp_path / "tmp"
    private.mkdir()
    env = {**os.environ, "TMPDIR": str(private), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "stylepipe", "ui", "--root", str(tmp_path)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    threading.Thread(target=lambda: [lines.put(x) for x in process.stderr], daemon=True).start()
    try:
        found = None
        while found is None:
            found = re.search(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+", lines.get(timeout=60))
        url = found.group(0)
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and b"<title>stylepipe ui</title>" in page.read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.split("?")[0], timeout=30)
        assert refused.value.code == 403
        assert list(private.iterdir())  # the server's private folder, while it runs
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert list(private.iterdir()) == []
    finally:
        if process.poll() is None:
            process.kill()
