"""The ``ray`` engine on a real local Ray instance of 2 CPUs (one for the module, shut down
at its end, leaving no Ray process behind): the same bytes and reasons as the local
engine, skip-existing, a worker killed mid-batch, a file that keeps killing its worker,
--fail-fast, a full disk, and a worker that does not match the driver."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from ray_helpers import (
    image_workers,
    install_crash_plugin,
    noise_images,
    outputs,
    ray_environment,
    ray_processes,
    temp_files,
    wait_until_gone,
)

from stylepipe import Filter, hookimpl
from stylepipe.app import App
from stylepipe.engine.batch import run_batch
from stylepipe.engine.engines import parse_engine_spec
from stylepipe.engine.job import BatchOptions, BatchSummary
from stylepipe.pipeline import Pipeline
from stylepipe.pipeline_cli import pipeline_from_filter_specs, with_overrides
from stylepipe.plugins import load_plugins
from stylepipe.ui import UI

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

DETERMINISTIC = {"device": "cpu", "precision": "fp32", "tile": "0", "threads": "1"}


@pytest.fixture(scope="module", autouse=True)
def ray_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One local Ray instance (2 CPUs) for the module; the crash plugin on every
    worker's path and this process's."""
    plugin = install_crash_plugin(tmp_path_factory.mktemp("crash-plugin"))
    before = set(ray_processes())
    sys.path.insert(0, str(plugin))
    try:
        with ray_environment(plugin):
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
            try:
                yield
            finally:
                started = set(ray_processes()) - before
                ray.shutdown()
        left = wait_until_gone(started)
        assert not left, f"Ray processes left behind: {sorted(left)}"
    finally:
        sys.path.remove(str(plugin))


def app(quiet: bool = True) -> App:
    """An app with every plugin, entry points included (as the workers load them)."""
    return App(load_plugins(), UI(quiet=quiet, stderr=io.StringIO()))


def pipeline(app: App, *specs: str) -> Pipeline:
    steps = pipeline_from_filter_specs(list(specs), app.catalog)
    return with_overrides(steps, runtime=DETERMINISTIC, from_text=True)


def ray_run(
    app: App, pipe: Pipeline, src: Path, out: Path, engine: str = "ray:2", **options: Any
) -> BatchSummary:
    return run_batch(
        app, pipe, [src], out, BatchOptions(**options), parse_engine_spec(engine, app.catalog)
    )


def mixed_folder(folder: Path) -> Path:
    """RGB, RGBA, gray, 16-bit gray, an EXIF-rotated JPEG with a Display P3 profile,
    a corrupt PNG and an empty file."""
    from photo_samples import display_p3_profile, pixels

    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    Image.fromarray(pixels(20, 28)).save(folder / "rgb.png")
    rgba = np.dstack([pixels(18, 22), rng.integers(0, 256, (18, 22), dtype=np.uint8)])
    Image.fromarray(rgba).save(folder / "rgba.png")
    Image.fromarray(pixels(16, 20)[..., 1]).save(folder / "gray.png")
    deep = (np.linspace(0, 65535, 24 * 30).reshape(24, 30)).astype(np.uint16)
    Image.fromarray(deep).save(folder / "deep16.png")  # mode I;16
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the reader turns it upright
    Image.fromarray(pixels(20, 26)).save(
        folder / "rotated.jpg", quality=92, exif=exif.tobytes(), icc_profile=display_p3_profile()
    )
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def test_outputs_and_reasons_match_the_local_engine(tmp_path: Path) -> None:
    from model_helpers import write_style_pack

    write_style_pack(name="tiny")
    app_ = app()
    src = mixed_folder(tmp_path / "in")
    pipe = pipeline(app_, "autocontrast", "style:model=tiny")
    local = run_batch(app_, pipe, [src], tmp_path / "local")
    remote = ray_run(app_, pipe, src, tmp_path / "ray")
    assert (local.done, local.failed) == (5, 2)
    assert outputs(tmp_path / "ray") == outputs(tmp_path / "local")
    reasons = {f.source.name: f.reason for f in remote.failures}
    assert reasons == {f.source.name: f.reason for f in local.failures}
    assert reasons["empty.jpg"] == "empty file (0 bytes)"
    assert [(i.source.name, r.status) for i, r in remote.results] == [
        (i.source.name, r.status) for i, r in local.results
    ]  # in input order, as the local engine reports them
    with Image.open(tmp_path / "ray" / "deep16.png") as image:
        assert image.mode in ("I;16", "I", "RGB") and image.info.get("icc_profile") is None
    with Image.open(tmp_path / "ray" / "rotated.jpg") as image:
        assert image.size == (20, 26) and image.info.get("icc_profile")


def test_skip_existing_resumes(tmp_path: Path) -> None:
    app_ = app()
    src = tmp_path / "in"
    noise_images(src, 6, 24)
    pipe = pipeline(app_, "sharpen")
    out = tmp_path / "out"
    first = run_batch(app_, pipe, [src], out)  # the local engine: outputs are the same
    assert first.done == 6
    written = outputs(out)
    for name in ("img001.png", "img004.png"):
        (out / name).unlink()
    again = ray_run(app_, pipe, src, out, skip_existing=True)
    assert (again.done, again.skipped, again.failed) == (2, 4, 0)
    assert outputs(out) == written
    nothing = ray_run(app_, pipe, src, out, skip_existing=True)  # nothing to do: no Ray work
    assert (nothing.done, nothing.skipped) == (0, 6)


def test_a_parquet_manifest_carries_the_rows_of_a_large_batch(tmp_path: Path) -> None:
    app_ = app(quiet=False)
    src = tmp_path / "in"
    noise_images(src, 9, 24)
    pipe = pipeline(app_, "sharpen")
    out = tmp_path / "out"
    summary = ray_run(app_, pipe, src, out, engine="ray:actors=2,manifest_over=4")
    assert (summary.done, summary.failed) == (9, 0)
    warnings = app_.ui.err.file.getvalue()  # type: ignore[attr-defined]
    assert "Ray Data needs one to read the manifest: using 1" in " ".join(warnings.split())
    assert not list(out.glob(".stylepipe-manifest-*"))  # removed after the run
    run_batch(app_, pipe, [src], tmp_path / "local")
    assert outputs(out) == outputs(tmp_path / "local")


def test_a_worker_killed_mid_batch_loses_and_repeats_nothing(tmp_path: Path) -> None:
    app_ = app()
    src = tmp_path / "in"
    noise_images(src, 40, 320)
    finished: list[str] = []

    class Count:
        @hookimpl
        def image_finished(self, item) -> None:
            finished.append(item.source.name)

    app_.plugins.pm.register(Count(), name="test-count")
    pipe = pipeline(app_, "blur:radius=10", "sharpen")
    out = tmp_path / "out"
    killed: list[tuple[int, int]] = []  # (pid, outputs written when it was killed)

    def kill_one_worker() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            done = len(list(out.glob("*.png"))) if out.is_dir() else 0
            workers = image_workers()
            if done >= 4 and workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.append((workers[0], done))
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    summary = ray_run(app_, pipe, src, out, engine="ray:actors=2,batch=2")
    killer.join()
    assert killed and killed[0][1] < 40, killed  # it died mid-batch
    assert (summary.done, summary.failed, summary.remaining) == (40, 0, 0)
    assert sorted(finished) == sorted({p.name for p in src.iterdir()})  # each once
    assert temp_files(out) == []
    run_batch(app_, pipe, [src], tmp_path / "local")
    assert outputs(out) == outputs(tmp_path / "local")


def test_a_file_that_keeps_killing_its_worker_fails_alone(tmp_path: Path) -> None:
    app_ = app()
    src = tmp_path / "in"
    noise_images(src, 5, 8)
    Image.new("RGB", (7, 5)).save(src / "poison.png")  # the crash plugin dies on width 7
    pipe = pipeline(app_, "test-crash")
    summary = ray_run(app_, pipe, src, tmp_path / "out", engine="ray:actors=2,batch=1,retries=1")
    assert (summary.done, summary.failed) == (5, 1)
    assert summary.failures[0].source.name == "poison.png"
    assert summary.failures[0].reason == (
        "the Ray worker process died while processing this file, 2 times; not tried again"
    )
    assert temp_files(tmp_path / "out") == []


def test_fail_fast_stops_the_pool(tmp_path: Path) -> None:
    app_ = app()
    src = tmp_path / "in"
    noise_images(src, 30, 256)
    (src / "a-corrupt.png").write_bytes(b"broken")  # sorts first
    pipe = pipeline(app_, "blur:radius=8")
    summary = ray_run(app_, pipe, src, tmp_path / "out", fail_fast=True, engine="ray:2,batch=1")
    assert summary.failed == 1 and summary.remaining > 0
    assert summary.done + summary.failed + summary.remaining == 31
    assert len(outputs(tmp_path / "out")) >= summary.done  # finished ones may not be reported
    assert wait_until_gone(set(image_workers()), timeout=30) == set()
    assert temp_files(tmp_path / "out") == []


def test_a_full_disk_stops_the_batch_cleanly(tmp_path: Path) -> None:
    from small_disk import small_tmpfs

    app_ = app()
    src = tmp_path / "in"
    noise_images(src, 12, 128)
    pipe = pipeline(app_, "sharpen")
    run_batch(app_, pipe, [src], tmp_path / "ref")
    expected = outputs(tmp_path / "ref")
    with small_tmpfs(tmp_path / "disk", 256) as (disk, why):
        if disk is None:
            pytest.skip(why)
        out = disk / "out"
        summary = ray_run(app_, pipe, src, out, engine="ray:2,batch=1")
        assert summary.stopped and "No space left on device" in summary.stopped
        assert summary.failed >= 1 and summary.done < 12
        written = outputs(out)
        assert all(expected[name] == data for name, data in written.items())
        assert temp_files(out) == []
    assert wait_until_gone(set(image_workers()), timeout=30) == set()


def test_a_worker_that_does_not_match_the_driver_is_refused(tmp_path: Path) -> None:
    class DriverOnly(Filter):
        name = "test-driver-only"
        summary = "a filter only the driver has"

        def apply(self, frame: Any) -> Any:
            return frame

    class Plugin:
        @hookimpl
        def register_filters(self, register) -> None:
            register(DriverOnly)

    app_ = app()
    app_.plugins.pm.register(Plugin(), name="test-driver-only")
    noise_images(tmp_path / "in", 2, 8)
    pipe = pipeline(app_, "sharpen")
    summary = ray_run(app_, pipe, tmp_path / "in", tmp_path / "out")
    assert summary.done == 0 and summary.remaining == 2 and summary.exit_code == 1
    assert summary.stopped is not None
    assert "does not match the driver" in summary.stopped
    assert "only on the driver: test-driver-only built-in" in summary.stopped
