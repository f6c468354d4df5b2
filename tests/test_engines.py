"""Engines without a cluster: the ``register_engines`` hook, ``--engine`` and
``[runtime] engine``/``threads``, the usage errors, the unit of work shared by every
engine, and a remote worker built from its spec in this process."""

from __future__ import annotations

import dataclasses
import io
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylepipe import BatchRun, Engine, UsageError, Worker, WorkerSpec, hookimpl
from stylepipe.app import App
from stylepipe.cli import main
from stylepipe.engine.batch import plan_batch, run_batch
from stylepipe.engine.engines import LocalEngine, parse_engine_spec
from stylepipe.engine.job import BatchOptions, ItemResult
from stylepipe.engine.work import Work
from stylepipe.errors import ExitCode, PipelineError
from stylepipe.filters import RuntimeOptions
from stylepipe.pipeline import parse_pipeline
from stylepipe.pipeline_cli import pipeline_from_filter_specs
from stylepipe.plugins import Catalog, load_plugins
from stylepipe.ui import UI


def make_images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    paths = []
    for n in range(count):
        path = folder / f"{n}.png"
        Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def quiet_app() -> App:
    return App(load_plugins(entry_points=False), UI(quiet=True, stderr=io.StringIO()))


def run_cli(*argv: str | Path) -> tuple[int, str]:
    stderr = io.StringIO()
    code = main([str(a) for a in argv], ui=UI(stdout=io.StringIO(), stderr=stderr))
    return code, " ".join(stderr.getvalue().split())


def test_the_builtin_engines_are_registered() -> None:
    catalog = Catalog.build(load_plugins(entry_points=False))
    assert catalog.engines.names() == ["local", "ray"]
    assert catalog.engines.resolve("ray").source == "stylepipe_ray"
    assert isinstance(parse_engine_spec("local", catalog), LocalEngine)


def test_a_plugin_engine_runs_a_batch_through_the_shared_unit_of_work(tmp_path: Path) -> None:
    class Backwards(Engine):
        """Processes the inputs last to first, through remote-style rows."""

        name = "backwards"
        summary = "last input first"

        def run(self, batch: BatchRun) -> None:
            worker = Worker(pickle.loads(pickle.dumps(WorkerSpec.for_batch(batch))))
            for row in reversed(list(batch.rows())):
                batch.record_row(worker.process_row(row))

    class Plugin:
        @hookimpl
        def register_engines(self, register) -> None:
            register(Backwards)

    app = quiet_app()
    app.plugins.pm.register(Plugin(), name="test-backwards")
    events: list[str] = []

    class Events:
        @hookimpl
        def image_finished(self, item, result) -> None:
            events.append(f"{item.source.name} {result.status}")

    app.plugins.pm.register(Events(), name="test-events")
    make_images(tmp_path / "in", 3)
    (tmp_path / "in" / "3.png").write_bytes(b"")
    pipeline = pipeline_from_filter_specs(["autocontrast"], app.catalog)
    engine = parse_engine_spec("backwards", app.catalog)
    summary = run_batch(app, pipeline, [tmp_path / "in"], tmp_path / "out", engine=engine)
    assert (summary.done, summary.failed) == (3, 1)
    assert events == ["0.png done", "1.png done", "2.png done", "3.png failed"]  # input order
    assert summary.failures[0].reason == "empty file (0 bytes)"
    reference = run_batch(app, pipeline, [tmp_path / "in"], tmp_path / "ref")
    assert reference.done == 3
    for name in ("0.png", "1.png", "2.png"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()


def test_a_result_recorded_twice_counts_once(tmp_path: Path) -> None:
    class Twice(Engine):
        name = "twice"
        summary = "records every result twice, as a retried remote task might"

        def run(self, batch: BatchRun) -> None:
            for index in batch.pending:
                batch.record(index, ItemResult("done", None, batch.items[index].output))
                batch.record(index, ItemResult("failed", "late duplicate"))

    app = quiet_app()
    make_images(tmp_path / "in", 2)
    pipeline = pipeline_from_filter_specs(["autocontrast"], app.catalog)
    summary = run_batch(app, pipeline, [tmp_path / "in"], tmp_path / "out", engine=Twice())
    assert (summary.done, summary.failed, len(summary.results)) == (2, 0, 2)


def test_an_engine_that_fails_stops_the_batch_with_its_message(tmp_path: Path) -> None:
    class Lost(Engine):
        name = "lost"
        summary = "loses its cluster after one image"

        def run(self, batch: BatchRun) -> None:
            batch.record(batch.pending[0], ItemResult("done", None, batch.items[0].output))
            raise UsageError("the cluster went away")

    app = quiet_app()
    make_images(tmp_path / "in", 3)
    pipeline = pipeline_from_filter_specs(["autocontrast"], app.catalog)
    summary = run_batch(app, pipeline, [tmp_path / "in"], tmp_path / "out", engine=Lost())
    assert (summary.done, summary.remaining) == (1, 2)
    assert summary.stopped == "the cluster went away"
    assert summary.exit_code == ExitCode.FAILURES


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rya", "unknown engine 'rya' hint: did you mean 'ray'? engines: local, ray"),
        ("spark", "unknown engine 'spark' hint: engines: local, ray"),
        ("ray:actorz=2", "unknown parameter 'actorz' hint: did you mean 'actors'?"),
        ("ray:0", "actors=0 is out of range (>= 1)"),
        ("ray:num_gpus=lots", "num_gpus must be a number, got 'lots'"),
        ("local:workers=2", "--engine: the local engine takes no parameters"),
        (":x", "--engine: no engine name in ':x'"),
    ],
)
def test_engine_usage_errors(tmp_path: Path, spec: str, message: str) -> None:
    make_images(tmp_path / "in", 1)
    out = tmp_path / "out"
    code, err = run_cli(
        "run", tmp_path / "in", "-o", out, "--filter", "autocontrast", "--engine", spec
    )
    assert code == ExitCode.USAGE
    assert message in err
    assert not (tmp_path / "out").exists()  # refused before planning


def test_address_needs_the_ray_engine(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    code, err = run_cli(
        "run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "autocontrast",
        "--address", "auto",
    )  # fmt: skip
    assert code == ExitCode.USAGE
    assert "--address is not an option of the local engine" in err


def test_the_ray_engine_without_ray_says_what_to_install(tmp_path: Path) -> None:
    """A real process in which Ray cannot be imported."""
    make_images(tmp_path / "in", 1)
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from stylepipe.cli import main\n"
        f"sys.exit(main(['run', {str(tmp_path / 'in')!r}, '-o', {str(tmp_path / 'out')!r}, "
        "'--filter', 'autocontrast', '--engine', 'ray']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == ExitCode.USAGE, done.stderr
    err = " ".join(done.stderr.split())
    assert "the ray engine needs Ray, which is not installed" in err
    assert "pip install 'stylepipe[ray]'" in err
    assert not (tmp_path / "out").exists()


def test_runtime_engine_and_threads_in_a_pipeline_file(tmp_path: Path) -> None:
    catalog = Catalog.build(load_plugins(entry_points=False))
    text = '[[step]]\nfilter = "autocontrast"\n[runtime]\nthreads = 3\nengine = "ray:2"\n'
    pipeline = parse_pipeline(text, catalog, source="p.toml")
    assert (pipeline.runtime.threads, pipeline.runtime.engine) == (3, "ray:2")
    for table, key in (("threads = 0", "threads"), ('engine = " "', "engine")):
        bad = f'[[step]]\nfilter = "autocontrast"\n[runtime]\n{table}\n'
        with pytest.raises(PipelineError) as caught:
            parse_pipeline(bad, catalog, source="p.toml")
        assert caught.value.location == f"p.toml:[runtime]:{key}"
    (tmp_path / "p.toml").write_text(text.replace("ray:2", "rya"))
    make_images(tmp_path / "in", 1)
    code, err = run_cli("run", tmp_path / "in", "-o", tmp_path / "out", "-p", tmp_path / "p.toml")
    assert code == ExitCode.USAGE
    assert "p.toml:[runtime]:engine: unknown engine 'rya'" in err
    code, err = run_cli("check", tmp_path / "p.toml")
    assert code == ExitCode.USAGE
    assert "p.toml:[runtime]:engine: unknown engine 'rya'" in err


def test_threads_are_set_for_the_batch_and_restored(tmp_path: Path) -> None:
    import torch

    seen: list[int] = []

    class Spy:
        @hookimpl
        def image_finished(self) -> None:
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    app = quiet_app()
    app.plugins.pm.register(Spy(), name="test-spy")
    make_images(tmp_path / "in", 1)
    code = main(
        ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--filter", "autocontrast"]
        + ["--threads", "1"],
        ui=UI(stdout=io.StringIO(), stderr=io.StringIO()),
    )
    assert code == 0
    assert torch.get_num_threads() == before
    pipeline = pipeline_from_filter_specs(["autocontrast"], app.catalog)
    pipeline = dataclasses.replace(pipeline, runtime=RuntimeOptions(threads=1))
    run_batch(app, pipeline, [tmp_path / "in"], tmp_path / "out2")
    assert seen == [1] and torch.get_num_threads() == before


def test_a_worker_runs_the_drivers_runtime_options(tmp_path: Path) -> None:
    app = quiet_app()
    make_images(tmp_path / "in", 1)
    pipeline = pipeline_from_filter_specs(["autocontrast"], app.catalog)
    runtime = RuntimeOptions(device="cpu", precision="fp32", tile=64, compile=True)
    pipeline = dataclasses.replace(pipeline, runtime=runtime)
    batch = BatchRun(app, plan_batch(pipeline, [tmp_path / "in"], tmp_path / "out"))
    worker = Worker(WorkerSpec.for_batch(batch, threads=2))
    assert worker.work.pipeline.runtime == dataclasses.replace(runtime, threads=2)


def test_a_worker_refuses_a_driver_it_does_not_match(tmp_path: Path) -> None:
    app = quiet_app()
    make_images(tmp_path / "in", 1)
    pipeline = pipeline_from_filter_specs(["autocontrast"], app.catalog)
    batch = BatchRun(app, plan_batch(pipeline, [tmp_path / "in"], tmp_path / "out"))
    spec = WorkerSpec.for_batch(batch)
    Worker(spec)  # the same process matches itself
    older = dict(spec.fingerprint, stylepipe="0.0.1")
    with pytest.raises(UsageError, match=r"stylepipe \S+ here, 0.0.1 on the driver"):
        Worker(WorkerSpec(spec.pipeline, spec.options, spec.note, older, spec.env))
    extra = dict(spec.fingerprint, plugins=[*spec.fingerprint["plugins"], "stylepipe_x 9.9"])
    with pytest.raises(UsageError, match="only on the driver: stylepipe_x 9.9") as caught:
        Worker(WorkerSpec(spec.pipeline, spec.options, spec.note, extra, spec.env))
    assert caught.value.hint == "install the same stylepipe, plugins and packs on every node"


def test_a_worker_refuses_other_weights_under_the_pipelines_model_name(tmp_path: Path) -> None:
    from model_helpers import write_style_pack

    write_style_pack(name="tiny")
    app = quiet_app()
    make_images(tmp_path / "in", 1)
    pipeline = pipeline_from_filter_specs(["style:tiny"], app.catalog)
    batch = BatchRun(app, plan_batch(pipeline, [tmp_path / "in"], tmp_path / "out"))
    spec = WorkerSpec.for_batch(batch)
    assert list(spec.fingerprint["models"]) == ["stylepipe_local/tiny"]
    assert Worker(spec).process_row(next(batch.rows()))["status"] == "done"
    other = dict(spec.fingerprint, models={"stylepipe_local/tiny": "0" * 64})
    with pytest.raises(UsageError, match="models differ: stylepipe_local/tiny sha256 [0-9a-f]{12} "
                       "here, 000000000000 on the driver"):  # fmt: skip
        Worker(WorkerSpec(spec.pipeline, spec.options, spec.note, other, spec.env))


def test_process_never_raises_for_a_bad_input(tmp_path: Path) -> None:
    app = quiet_app()
    make_images(tmp_path / "in", 1)
    (tmp_path / "in" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    pipeline = pipeline_from_filter_specs(["autocontrast"], app.catalog)
    job = plan_batch(pipeline, [tmp_path / "in"], tmp_path / "out", BatchOptions())
    work = Work(pipeline, job.options, None)
    results = {item.source.name: work.process(item) for item in job.items}
    assert results["0.png"].status == "done" and results["0.png"].output == job.items[0].output
    assert results["bad.png"].status == "failed" and results["bad.png"].reason
    assert "\n" not in results["bad.png"].reason
