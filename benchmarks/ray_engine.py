"""The ``ray`` engine against the local one, measured in one run, and the driver's side
of a batch of a million paths.

**Throughput** (``--images N --size S``): a folder of N noise images of S x S pixels
through one pipeline (default: the bundled default style model, CPU, fp32, whole image),
run by

* the local engine with ``threads=1`` (the bytes every ray run must reproduce) and
  with torch's default thread count;
* the ray engine with 1 and 2 actors (``num_cpus=1``, so one torch thread each) on a
  local Ray instance started once for all ray runs.

Each is run on one image and on the folder: images/s over the whole run (the ray runs
include starting their actor pool), ``start_s`` (the one-image run: set-up, model and
actor pool, plus one image) and the steady rate once started, (N - 1) / (T(N) - T(1)),
and for ray runs the peak resident memory of each actor process. Then the ratios, Ray's
start-up (``ray.init``) and whether the ray outputs are byte-identical to the local
``threads=1`` ones.

**Simulated scale** (``--paths N``, default 1,000,000): no image files, no Ray; the
driver's work for N synthetic paths (1,000 per folder): naming the outputs
(``plan_outputs``), the job with its pre-flight check (one ``stat`` of each planned
output, none exists), the Parquet manifest the ray engine writes above ``manifest_over``
inputs, and taking N result rows back (summary, events, reorder buffer), with seconds,
rows/s and the driver's resident memory after each step and at its peak. Walking real
folders (``collect_inputs``) is not measured: its cost is the file system's.

    .venv/bin/python benchmarks/ray_engine.py                       # 64 images of 256 px
    .venv/bin/python benchmarks/ray_engine.py --images 16 --size 128 --paths 100000
    .venv/bin/python benchmarks/ray_engine.py --skip-ray --paths 1000000 --json out.json

The CPU may be shared: compare ratios within one run. The local Ray instance gets a
token of its own (``RAY_AUTH_TOKEN``) unless one is set.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from stylepipe.app import App
from stylepipe.engine.batch import run_batch
from stylepipe.engine.driver import BatchRun
from stylepipe.engine.engines import parse_engine_spec
from stylepipe.engine.job import BatchJob, BatchOptions, WorkItem
from stylepipe.engine.plan import Found, plan_outputs
from stylepipe.pipeline import Pipeline
from stylepipe.pipeline_cli import pipeline_from_filter_specs, with_overrides
from stylepipe.plugins import load_plugins
from stylepipe.ui import UI

WORKER_TITLE = "ray::MapWorker(MapBatches(ImageWorker))"
FIXED = {"device": "cpu", "precision": "fp32", "tile": "0"}


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process now (VmRSS), MiB; 0 when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) / 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quiet_app() -> App:
    return App(load_plugins(), UI(quiet=True, stderr=io.StringIO()))


def make_folder(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for number in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{number:05d}.png")
    return folder


class ActorMemory(threading.Thread):
    """Samples the resident memory of the ray engine's actor processes that start after
    it, until stopped (actors of an earlier run, still going away, are left out)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.earlier = set(actor_pids())
        self.peaks: dict[int, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for pid in set(actor_pids()) - self.earlier:
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), rss_mib(pid))


def actor_pids() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                line = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if line.decode(errors="replace").startswith(WORKER_TITLE):
                pids.append(int(entry))
    return pids


def timed_run(
    pipe: Pipeline, src: Path, out: Path, engine: str | None, threads: int | None
) -> tuple[float, int, list[float]]:
    """One batch: its seconds, images done and (ray) the actors' peak memory, MiB."""
    app = quiet_app()
    if threads is not None:
        pipe = with_overrides(pipe, runtime={"threads": str(threads)}, from_text=True)
    chosen = parse_engine_spec(engine, app.catalog) if engine else None
    memory = ActorMemory()
    memory.start()
    summary = run_batch(app, pipe, [src], out, BatchOptions(), chosen)
    memory.done.set()
    memory.join()
    return summary.elapsed, summary.done, sorted(memory.peaks.values())


def measured(
    pipe: Pipeline, folders: tuple[Path, Path], out: Path, engine: str | None, threads: int | None
) -> dict[str, Any]:
    """A run on one image (``start``: set-up, actor pool included, plus one image) and
    on the folder; ``steady``: images/s once started, (N - 1) / (T(N) - T(1))."""
    one, _, _ = timed_run(pipe, folders[0], out.with_name(out.name + "-one"), engine, threads)
    seconds, done, peaks = timed_run(pipe, folders[1], out, engine, threads)
    steady = (done - 1) / (seconds - one) if seconds > one else 0.0
    return {
        "engine": engine or "local",
        "threads": threads,
        "done": done,
        "seconds": round(seconds, 2),
        "images_per_s": round(done / seconds, 3),
        "start_s": round(one, 2),
        "steady_images_per_s": round(steady, 3),
        "actor_peak_rss_mib": [round(v) for v in peaks],
    }


def same_bytes(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names
    )


def throughput(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Local against ray with 1 and 2 actors on one folder; Ray's start-up."""
    import ray

    folders = (
        make_folder(work / "one", 1, args.size),
        make_folder(work / "in", args.images, args.size),
    )
    pipe = with_overrides(
        pipeline_from_filter_specs(args.filter, quiet_app().catalog), runtime=FIXED, from_text=True
    )
    timed_run(pipe, folders[0], work / "warm-up", None, 1)  # torch and the model, cached
    runs = [measured(pipe, folders, work / "local1", None, 1)]
    runs.append(measured(pipe, folders, work / "local", None, None))
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))
    started = time.perf_counter()
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    try:
        for actors in (1, 2):
            engine = f"ray:actors={actors},num_cpus=1"
            runs.append(measured(pipe, folders, work / f"ray{actors}", engine, None))
    finally:
        ray.shutdown()
    identical = all(same_bytes(work / "local1", work / f"ray{n}") for n in (1, 2))
    return {"runs": runs, "ray_init_s": round(ray_start, 2), "ray_bytes_identical": identical}


def synthetic_found(count: int) -> list[Found]:
    root = Path("/data/photos")
    return [
        Found(
            root / f"d{n // 1000:04d}" / f"img{n:07d}.jpg", Path(f"d{n // 1000:04d}/img{n:07d}.jpg")
        )
        for n in range(count)
    ]


def simulated_scale(count: int, work: Path) -> dict[str, Any]:
    """The driver's side of ``count`` synthetic paths, step by step."""
    steps: dict[str, Any] = {"paths": count, "rss_start_mib": round(rss_mib())}
    app = quiet_app()
    pipe = pipeline_from_filter_specs(["sharpen"], app.catalog)

    def step(name: str, started: float) -> None:
        seconds = time.perf_counter() - started
        steps[name] = {
            "seconds": round(seconds, 2),
            "per_s": round(count / seconds) if seconds else None,
            "rss_mib": round(rss_mib()),
        }

    started = time.perf_counter()
    found = synthetic_found(count)
    step("synthetic_paths", started)
    started = time.perf_counter()
    plans, _ = plan_outputs(found, work / "out", template="{stem}{ext}", format=None,
                            filter_label="sharpen")  # fmt: skip
    step("plan_outputs", started)
    started = time.perf_counter()
    items = tuple(WorkItem(p.found.source, p.found.relative, p.output, p.format) for p in plans)
    del found, plans
    job = BatchJob(pipe, items, work / "out", BatchOptions())
    batch = BatchRun(app, job)
    step("job_and_preflight", started)
    steps["manifest"] = manifest_step(batch, work, count)
    started = time.perf_counter()
    for index in batch.pending:
        batch.record_row({"index": index, "status": "done", "seconds": 0.1})
    step("record_result_rows", started)
    steps["rss_peak_mib"] = round(peak_rss_mib())
    return steps


def manifest_step(batch: BatchRun, work: Path, count: int) -> dict[str, Any]:
    from stylepipe_ray.manifest import write_manifest

    started = time.perf_counter()
    path = write_manifest(batch.rows(), work)
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    path.unlink()
    return {
        "seconds": round(seconds, 2),
        "per_s": round(count / seconds) if seconds else None,
        "file_mib": round(size / 2**20, 1),
        "rss_mib": round(rss_mib()),
    }


def ratios(result: dict[str, Any]) -> dict[str, float]:
    by = {(r["engine"], r["threads"]): r for r in result["runs"]}
    local1 = by[("local", 1)]
    ray1 = by[("ray:actors=1,num_cpus=1", None)]
    ray2 = by[("ray:actors=2,num_cpus=1", None)]

    def ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
        return round(a[key] / b[key], 2) if b[key] else 0.0

    return {
        "ray1/local1 (whole run)": ratio(ray1, local1, "images_per_s"),
        "ray2/local1 (whole run)": ratio(ray2, local1, "images_per_s"),
        "ray1/local1 (steady)": ratio(ray1, local1, "steady_images_per_s"),
        "ray2/local1 (steady)": ratio(ray2, local1, "steady_images_per_s"),
        "ray2/ray1 (steady)": ratio(ray2, ray1, "steady_images_per_s"),
        "local all threads/local1 (steady)": ratio(
            by[("local", None)], local1, "steady_images_per_s"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--filter", action="append", help="pipeline steps (default: style)")
    parser.add_argument("--paths", type=int, default=1_000_000, help="simulated batch size")
    parser.add_argument("--skip-ray", action="store_true", help="only the simulated scale")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    args.filter = args.filter or ["style"]
    work = Path(tempfile.mkdtemp(prefix="stylepipe-ray-bench-"))
    os.environ.setdefault("STYLEPIPE_HOME", str(work / "home"))
    result: dict[str, Any] = {"cpus": os.cpu_count()}
    try:
        if not args.skip_ray:
            result["throughput"] = throughput(args, work)
            result["ratios"] = ratios(result["throughput"])
        result["simulated"] = simulated_scale(args.paths, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    json.dump(result, sys.stdout, indent=2)
    print()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
