"""The batch engine through its Python API, with small test filters (no plugin filters)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from stylepipe import Filter, FilterContext, FilterParams, Frame, StylepipeError, hookimpl, param
from stylepipe.app import App
from stylepipe.engine.batch import plan_batch, run_batch
from stylepipe.engine.job import BatchOptions, BatchSummary, ItemResult, WorkItem
from stylepipe.errors import ExitCode, UsageError
from stylepipe.pipeline import OutputOptions, Pipeline, Step
from stylepipe.plugins import load_plugins
from stylepipe.ui import UI


class Invert(Filter):
    name = "test-invert"
    summary = "1 - x"
    setups = 0

    def setup(self, ctx: FilterContext) -> None:
        assert ctx.catalog is not None and ctx.runtime is not None
        type(self).setups += 1

    def apply(self, frame: Frame) -> Frame:
        return frame.replace(pixels=np.ascontiguousarray(1.0 - frame.pixels))


@dataclass(frozen=True)
class PickyParams(FilterParams):
    width: int = param(3, help="width that fails")


class Picky(Filter):
    """Fails images of one width with a typed error; crashes on another."""

    name = "test-picky"
    summary = "fails some"
    Params = PickyParams

    def apply(self, frame: Frame) -> Frame:
        if frame.width == self.params.width:  # type: ignore[attr-defined]
            raise StylepipeError("this width is not allowed")
        if frame.width == 5:
            raise ValueError("boom")
        return frame


class Interrupting(Filter):
    """Raises KeyboardInterrupt on the third image, as Ctrl-C would."""

    name = "test-interrupt"
    summary = "ctrl-c"

    def __init__(self, params: FilterParams | None = None) -> None:
        super().__init__(params)
        self.calls = 0

    def apply(self, frame: Frame) -> Frame:
        self.calls += 1
        if self.calls == 3:
            raise KeyboardInterrupt
        return frame


class Events:
    """A test plugin that records every batch event."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def batch_started(self, job: Any) -> None:
        self.calls.append(("started", len(job.items)))

    @hookimpl
    def image_finished(self, item: WorkItem, result: ItemResult) -> None:
        self.calls.append(("image", (item.source.name, result.status)))

    @hookimpl
    def batch_finished(self, summary: BatchSummary) -> None:
        self.calls.append(("finished", (summary.done, summary.failed, summary.interrupted)))


@pytest.fixture
def app() -> App:
    return App(load_plugins(entry_points=False), UI(quiet=True, stderr=io.StringIO()))


def pipeline(*filters: Filter, **output: Any) -> Pipeline:
    steps = tuple(Step(i, f) for i, f in enumerate(filters, start=1))
    return Pipeline(steps, output=OutputOptions(**output))


def make_image(path: Path, width: int = 4, height: int = 3, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_outputs_mirror_the_input_tree(app: App, tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_image(src / "a.png")
    make_image(src / "x" / "b.jpg")
    make_image(src / "x" / "y" / "c.png")
    out = tmp_path / "out"
    summary = run_batch(app, pipeline(Invert()), [src], out, BatchOptions(recursive=True))
    assert (summary.done, summary.failed, summary.exit_code) == (3, 0, ExitCode.OK)
    assert files_under(out) == ["a.png", "x/b.jpg", "x/y/c.png"]
    original = np.asarray(Image.open(src / "a.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(out / "a.png")), 255 - original)


def test_without_recursive_only_the_top_level(app: App, tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    make_image(tmp_path / "in" / "sub" / "b.png")
    run_batch(app, pipeline(Invert()), [tmp_path / "in"], tmp_path / "out")
    assert files_under(tmp_path / "out") == ["a.png"]


def test_files_and_globs(app: App, tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "d1" / "a.png")
    make_image(tmp_path / "in" / "d2" / "b.png")
    make_image(tmp_path / "in" / "d2" / "c.jpg")
    single = make_image(tmp_path / "one.png")
    pattern = str(tmp_path / "in" / "*" / "*.png")
    run_batch(app, pipeline(Invert()), [pattern, single], tmp_path / "out")
    assert files_under(tmp_path / "out") == ["d1/a.png", "d2/b.png", "one.png"]


def test_hidden_and_non_images_are_counted(app: App, tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_image(src / "a.png")
    make_image(src / ".hidden.png")
    make_image(src / ".cache" / "z.png")
    (src / "notes.txt").write_text("hello")
    (src / "README").write_text("hello")
    summary = run_batch(app, pipeline(Invert()), [src], tmp_path / "out", BatchOptions(True))
    assert (summary.total, summary.hidden, summary.non_images) == (1, 2, 2)
    assert files_under(tmp_path / "out") == ["a.png"]


def test_symlink_loop_terminates(app: App, tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_image(src / "sub" / "a.png")
    (src / "sub" / "loop").symlink_to(src, target_is_directory=True)
    job = plan_batch(pipeline(Invert()), [src], tmp_path / "out", BatchOptions(recursive=True))
    assert [item.relative for item in job.items] == [Path("sub/a.png")]
    assert any("already visited" in w for w in job.warnings)


def test_output_folder_inside_input_is_not_walked(app: App, tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_image(src / "a.png")
    options = BatchOptions(recursive=True, skip_existing=True)
    run_batch(app, pipeline(Invert()), [src], src / "out", options)
    summary = run_batch(app, pipeline(Invert()), [src], src / "out", options)
    assert (summary.total, summary.skipped) == (1, 1)


def test_output_name_collisions_are_disambiguated(app: App, tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png", seed=1)
    make_image(tmp_path / "in" / "a.jpg", seed=2)
    make_image(tmp_path / "other" / "a.png", seed=3)
    job = plan_batch(pipeline(Invert(), format="webp"), [tmp_path / "in"], tmp_path / "out")
    assert [i.output.name for i in job.items] == ["a.jpg.webp", "a.png.webp"]
    assert any("a.webp" in w for w in job.warnings)
    job = plan_batch(
        pipeline(Invert()), [tmp_path / "in" / "a.png", tmp_path / "other"], tmp_path / "out"
    )
    assert [i.output.name for i in job.items] == ["a.png", "a-2.png"]
    summary = run_batch(app, pipeline(Invert(), format="webp"), [tmp_path / "in"], tmp_path / "o")
    assert summary.done == 2 and files_under(tmp_path / "o") == ["a.jpg.webp", "a.png.webp"]


def test_format_and_name_template(app: App, tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.JPEG")
    make_image(tmp_path / "in" / "b.bmp")
    make_image(tmp_path / "in" / "c.tiff")
    out = tmp_path / "out"
    run_batch(app, pipeline(Invert(), name="{stem}_{filter}{ext}"), [tmp_path / "in"], out)
    assert files_under(out) == ["a_test-invert.JPEG", "b_test-invert.png", "c_test-invert.tiff"]
    assert Image.open(out / "a_test-invert.JPEG").format == "JPEG"
    assert Image.open(out / "b_test-invert.png").format == "PNG"
    run_batch(app, pipeline(Invert(), format="jpg", quality=50), [tmp_path / "in"], out / "j")
    assert files_under(out / "j") == ["a.JPEG", "b.jpg", "c.jpg"]


def test_skip_existing_rerun_touches_nothing(app: App, tmp_path: Path) -> None:
    for n in range(3):
        make_image(tmp_path / "in" / f"{n}.png", seed=n)
    out = tmp_path / "out"
    run_batch(app, pipeline(Invert()), [tmp_path / "in"], out)
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    Invert.setups = 0
    summary = run_batch(
        app, pipeline(Invert()), [tmp_path / "in"], out, BatchOptions(skip_existing=True)
    )
    assert (summary.skipped, summary.done, summary.exit_code) == (3, 0, ExitCode.OK)
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert Invert.setups == 0  # nothing to do: no model loading either


def test_existing_output_fails_without_overwrite(app: App, tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    make_image(tmp_path / "in" / "b.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"keep me")
    summary = run_batch(app, pipeline(Invert()), [tmp_path / "in"], out)
    assert (summary.failed, summary.done) == (1, 1) and summary.exit_code == ExitCode.FAILURES
    assert "--overwrite" in summary.failures[0].reason
    assert (out / "a.png").read_bytes() == b"keep me"
    summary = run_batch(
        app, pipeline(Invert()), [tmp_path / "in"], out, BatchOptions(overwrite=True)
    )
    assert summary.done == 2 and Image.open(out / "a.png").size == (4, 3)


def test_never_overwrites_an_input(app: App, tmp_path: Path) -> None:
    src = make_image(tmp_path / "a.png")
    other = make_image(tmp_path / "sub" / "b.png")
    data = src.read_bytes()
    options = BatchOptions(overwrite=True)
    summary = run_batch(app, pipeline(Invert()), [src, other], tmp_path, options)
    assert (summary.failed, summary.done) == (1, 1)
    assert "refusing to overwrite input" in summary.failures[0].reason
    assert src.read_bytes() == data and (tmp_path / "b.png").is_file()
    with pytest.raises(UsageError, match="is the input itself"):  # nothing else to do
        run_batch(app, pipeline(Invert()), [src], tmp_path, options)
    assert src.read_bytes() == data


def test_bad_files_are_reported_and_the_rest_done(app: App, tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_image(src / "a.png")
    (src / "b.png").write_bytes(b"")
    (src / "c.jpg").write_bytes(b"\xff\xd8 not really")
    make_image(src / "d.png", width=3)  # Picky fails it
    make_image(src / "e.png", width=5)  # Picky crashes on it
    make_image(src / "f.png")
    summary = run_batch(app, pipeline(Picky()), [src], tmp_path / "out")
    assert (summary.done, summary.failed) == (2, 4)
    reasons = {f.source.name: f.reason for f in summary.failures}
    assert reasons["b.png"] == "empty file (0 bytes)"
    assert "c.jpg" in reasons and "\n" not in reasons["c.jpg"]
    assert reasons["d.png"] == "step 1 (test-picky): this width is not allowed"
    assert reasons["e.png"] == "step 1 (test-picky) crashed: ValueError: boom"
    assert files_under(tmp_path / "out") == ["a.png", "f.png"]


def test_fail_fast_stops_at_the_first_failure(app: App, tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_image(src / "a.png")
    (src / "b.png").write_bytes(b"")
    for name in "cdefg":
        make_image(src / f"{name}.png")
    summary = run_batch(
        app, pipeline(Invert()), [src], tmp_path / "out", BatchOptions(fail_fast=True)
    )
    assert (summary.done, summary.failed, summary.remaining) == (1, 1, 5)
    assert files_under(tmp_path / "out") == ["a.png"]


def test_max_pixels_fails_only_the_big_image(app: App, tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "big.png", width=100, height=100)
    make_image(tmp_path / "in" / "small.png")
    summary = run_batch(
        app, pipeline(Invert()), [tmp_path / "in"], tmp_path / "out", BatchOptions(max_pixels=500)
    )
    assert (summary.done, summary.failed) == (1, 1)
    assert "--max-pixels" in summary.failures[0].reason


def test_events_fire_in_input_order(app: App, tmp_path: Path) -> None:
    events = Events()
    app.plugins.pm.register(events, name="test-events")
    make_image(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "b.png").write_bytes(b"")
    make_image(tmp_path / "in" / "c.png")
    run_batch(app, pipeline(Invert()), [tmp_path / "in"], tmp_path / "out")
    assert events.calls == [
        ("started", 3),
        ("image", ("a.png", "done")),
        ("image", ("b.png", "failed")),
        ("image", ("c.png", "done")),
        ("finished", (2, 1, False)),
    ]


def test_a_failing_hook_is_reported_not_fatal(app: App, tmp_path: Path) -> None:
    class Broken:
        @hookimpl
        def image_finished(self) -> None:
            raise RuntimeError("plugin bug")

    app.plugins.pm.register(Broken(), name="test-broken")
    make_image(tmp_path / "in" / "a.png")
    make_image(tmp_path / "in" / "b.png")
    summary = run_batch(app, pipeline(Invert()), [tmp_path / "in"], tmp_path / "out")
    assert summary.done == 2
    assert "plugin bug" in app.ui.err.file.getvalue()  # type: ignore[attr-defined]


def test_setup_runs_once_per_batch(app: App, tmp_path: Path) -> None:
    for n in range(4):
        make_image(tmp_path / "in" / f"{n}.png")
    Invert.setups = 0
    run_batch(app, pipeline(Invert(), Invert()), [tmp_path / "in"], tmp_path / "out")
    assert Invert.setups == 2  # two steps, once each


def test_interrupt_keeps_finished_outputs_and_no_temp_files(app: App, tmp_path: Path) -> None:
    events = Events()
    app.plugins.pm.register(events, name="test-events")
    for n in range(6):
        make_image(tmp_path / "in" / f"{n}.png", seed=n)
    out = tmp_path / "out"
    summary = run_batch(app, pipeline(Interrupting()), [tmp_path / "in"], out)
    assert summary.interrupted and summary.exit_code == ExitCode.INTERRUPTED
    assert (summary.done, summary.remaining) == (2, 4)
    assert files_under(out) == ["0.png", "1.png"]  # complete images only, no temp names
    assert events.calls[-1] == ("finished", (2, 0, True))
    summary = run_batch(
        app, pipeline(Invert()), [tmp_path / "in"], out, BatchOptions(skip_existing=True)
    )
    assert (summary.skipped, summary.done) == (2, 4)


def test_stale_temp_files_are_removed(app: App, tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".a.png.tmp-abc123").write_bytes(b"half")
    (out / ".unrelated.tmp-x").write_bytes(b"other")
    run_batch(app, pipeline(Invert()), [tmp_path / "in"], out)
    assert sorted(os.listdir(out)) == [".unrelated.tmp-x", "a.png"]


def test_usage_errors(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("x")
    (tmp_path / "file").write_text("x")
    cases = [
        ([tmp_path / "missing"], tmp_path / "out", "input not found"),
        ([str(tmp_path / "*.nothing")], tmp_path / "out", "no files match"),
        ([tmp_path / "text"], tmp_path / "out", "no images found"),
        ([tmp_path / "in"], tmp_path / "file", "not a folder"),
    ]
    for inputs, out, message in cases:
        with pytest.raises(UsageError, match=message):
            plan_batch(pipeline(Invert()), inputs, out)
    with pytest.raises(UsageError, match="contradict"):
        BatchOptions(skip_existing=True, overwrite=True)
