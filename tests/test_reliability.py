"""Hostile inputs and faults: real ``stylepipe run`` batches in subprocesses lose nothing.

The corpus (``reliability_corpus.py``, about 560 bad or unusual files) goes through a
basic filter and a tiny random-init style network; faults are SIGINT/SIGKILL at random
points, a full disk, a read-only output and two batches writing into one folder.
``benchmarks/reliability.py`` runs the same with more iterations and prints the counts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reliability_checks import check_batch, read_report, reopens, snapshot, temp_files
from reliability_corpus import Corpus, add_damaged, build_corpus, pattern, photo_damage_sources

from stylepipe.atomic import atomic_write, temp_prefix
from stylepipe.engine.batch import remove_stale_temps
from stylepipe.engine.job import BatchJob, BatchOptions, WorkItem
from stylepipe.pipeline import Pipeline

pytestmark = pytest.mark.reliability

REPO = Path(__file__).resolve().parent.parent
FAULTS_SCRIPT = Path(__file__).resolve().parent / "reliability_faults.py"
NEURAL = ["--filter", "autocontrast", "--filter", "style:model=tiny"]
TIMEOUT = 300


def _env() -> dict[str, str]:
    # One thread per process: the batches run beside the rest of the suite.
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")


def _run(*argv: str | Path, fault: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    prefix = [sys.executable, "-m", "stylepipe"]
    if fault is not None:
        prefix = [sys.executable, str(FAULTS_SCRIPT), fault[0], str(fault[1]), "--"]
    return subprocess.run(
        [*prefix, "run", *map(str, argv)], env=_env(), capture_output=True, timeout=TIMEOUT
    )


def _start(*argv: str | Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "stylepipe", "run", *map(str, argv)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # a background `make test &` would hand the batch an ignored SIGINT
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.fixture
def tiny_style(stylepipe_home: Path) -> str:
    """A tiny random-init style pack installed in the test's STYLEPIPE_HOME."""
    from model_helpers import write_style_pack

    write_style_pack(stylepipe_home / "plugins", name="tiny")
    return "tiny"


def _outputs(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


# --- the corpus -------------------------------------------------------------------------


@pytest.mark.slow
def test_corpus_batch_loses_nothing(tmp_path: Path, tiny_style: str) -> None:
    corpus = build_corpus(tmp_path / "in")
    assert len(corpus.entries) >= 500
    before = snapshot(corpus.root)
    out, report_path = tmp_path / "out", tmp_path / "report.json"
    done = _run(corpus.root, "-o", out, "--recursive", *NEURAL, "--report", report_path, "-q")
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 1, stderr  # some files fail, none aborts the batch
    assert "Traceback" not in stderr
    report = read_report(report_path)
    outcome = check_batch(corpus, report, out, before, done.returncode)
    assert outcome.unexpected == []
    assert outcome.aborted == 0 and outcome.partial_files == 0 and outcome.inputs_modified == 0
    assert outcome.tried == len(corpus.entries) == report["total"]
    assert outcome.valid_outputs + outcome.failures_with_reason == outcome.tried
    assert report["not_processed"] == 0 and report["ignored"]["hidden"] == corpus.hidden
    by_kind = _statuses(corpus, report)
    assert by_kind["mode"] == {"done"} and by_kind["16-bit"] == {"done"}
    assert by_kind["decompression bomb"] == {"failed"} and by_kind["zero bytes"] == {"failed"}
    warnings = "\n".join(report["warnings"])
    assert warnings.count("symlink loop") == 3 and "broken symbolic link" in warnings
    assert "a.bmp.png, a.gif.png, a.png.png" in warnings
    bomb_reasons = [f["reason"] for f in report["files"] if "/bombs/" in f["input"]]
    assert all("limit" in reason for reason in bomb_reasons), bomb_reasons


def test_damaged_heic_avif_and_dng_lose_nothing(tmp_path: Path) -> None:
    """Truncated and bit-flipped HEIC, AVIF and DNG files: each gives a valid output or
    a one-line reason; no abort, nothing partial, inputs untouched."""
    sources = photo_damage_sources()
    if not sources:
        pytest.skip("no HEIC, AVIF or RAW codec installed")
    corpus = Corpus(tmp_path / "in")
    corpus.root.mkdir()
    add_damaged(corpus, np.random.default_rng(5), 8, sources)
    before = snapshot(corpus.root)
    out, report_path = tmp_path / "out", tmp_path / "report.json"
    done = _run(
        corpus.root,
        "-o",
        out,
        "--recursive",
        "--filter",
        "autocontrast",
        "--report",
        report_path,
        "-q",
    )
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode in (0, 1) and "Traceback" not in stderr, stderr
    outcome = check_batch(corpus, read_report(report_path), out, before, done.returncode)
    assert outcome.unexpected == []
    assert outcome.aborted == 0 and outcome.partial_files == 0 and outcome.inputs_modified == 0
    assert outcome.valid_outputs + outcome.failures_with_reason == len(corpus.entries)
    assert outcome.failures_with_reason > 0  # the deep cuts cannot decode


def _statuses(corpus, report) -> dict[str, set[str]]:
    kinds = {os.path.realpath(corpus.root / e.path): e.kind for e in corpus.entries}
    found: dict[str, set[str]] = {}
    for item in report["files"]:
        found.setdefault(kinds[os.path.realpath(item["input"])], set()).add(item["status"])
    return found


def test_clashing_names_and_animations_to_webp_and_png(tmp_path: Path) -> None:
    """``b.png`` and ``b.jpg`` both map to ``b.webp``: both are kept. Animated inputs give
    their first frame only, in PNG and in WebP alike (the output is a still image)."""
    src = tmp_path / "in"
    src.mkdir()
    frames = [Image.fromarray(pattern(16, 12, seed)) for seed in range(3)]
    Image.fromarray(pattern(8, 6, 7)).save(src / "b.png")
    Image.fromarray(pattern(8, 6, 8)).save(src / "b.jpg", quality=95)
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    frames[0].save(src / "moving.webp", save_all=True, append_images=frames[1:], lossless=True)
    webp = _run(src, "-o", tmp_path / "webp", "--format", "webp", "--filter", "adjust")
    assert webp.returncode == 0, webp.stderr.decode()
    names = sorted(p.name for p in (tmp_path / "webp").iterdir())
    assert names == ["anim.webp", "b.jpg.webp", "b.png.webp", "moving.webp"]
    png = _run(
        src, "-o", tmp_path / "png", "--format", "png", "--quality", "100", "--filter", "adjust"
    )
    assert png.returncode == 0, png.stderr.decode()
    first = np.asarray(frames[0].convert("RGB"), dtype=np.int16)
    with Image.open(tmp_path / "png" / "moving.png") as image:
        assert getattr(image, "n_frames", 1) == 1
        assert np.abs(np.asarray(image.convert("RGB"), dtype=np.int16) - first).max() <= 1
    with Image.open(tmp_path / "webp" / "moving.webp") as image:
        assert getattr(image, "n_frames", 1) == 1


# --- SIGINT and SIGKILL -----------------------------------------------------------------


def _fault_inputs(folder: Path, count: int = 16, size: int = 96) -> Path:
    folder.mkdir(parents=True)
    for number in range(count):
        Image.fromarray(pattern(size + number, size, number)).save(folder / f"img{number:02d}.png")
    return folder


def _interrupt(argv: list[str | Path], out: Path, sig: int, after: int) -> tuple[int, str]:
    """Start a batch, send ``sig`` once ``after`` outputs exist (or it ends first)."""
    proc = _start(*argv)
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and len(_outputs(out) if out.is_dir() else {}) < after:
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.002)  # polling for progress, not a fixed wait
    if proc.poll() is None:
        proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, stderr.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_batches_leave_no_partial_output_and_resume_identically(
    tmp_path: Path, tiny_style: str, sig: int
) -> None:
    src = _fault_inputs(tmp_path / "in", count=10, size=48)
    before = snapshot(src)
    steps = ["--filter", "blur:radius=3", "--filter", "style:model=tiny"]
    reference = _run(src, "-o", tmp_path / "ref", *steps)
    assert reference.returncode == 0, reference.stderr.decode()
    expected = _outputs(tmp_path / "ref")
    rng = random.Random(sig)
    out = tmp_path / "out"
    for after in (rng.randrange(0, 4), rng.randrange(4, 9)):  # kill points: outputs so far
        code, stderr = _interrupt([src, "-o", out, *steps, "--skip-existing"], out, sig, after)
        if sig == signal.SIGINT:
            assert code in (0, 130, -signal.SIGINT), stderr
            assert temp_files(out) == [] if out.is_dir() else True
        else:
            assert code in (0, -signal.SIGKILL), stderr
        for name, data in _outputs(out).items():  # whatever exists is complete and final
            assert data == expected[name], name
    resumed = _run(src, "-o", out, *steps, "--skip-existing")
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert _outputs(out) == expected  # byte-identical to the uninterrupted run
    assert temp_files(out) == []
    assert snapshot(src) == before


# --- full disk, read-only output, two batches at once -------------------------------------


def test_disk_full_stops_cleanly_and_skip_existing_finishes(tmp_path: Path) -> None:
    src = _fault_inputs(tmp_path / "in", count=8, size=24)
    before = snapshot(src)
    steps = ["--filter", "sharpen"]
    assert _run(src, "-o", tmp_path / "ref", *steps).returncode == 0
    expected = _outputs(tmp_path / "ref")
    out, report = tmp_path / "out", tmp_path / "report.json"
    full = _run(src, "-o", out, *steps, "--report", report, fault=("enospc", 3))
    stderr = full.stderr.decode()
    assert full.returncode == 1, stderr
    assert "stopped:" in stderr and "No space left on device" in stderr
    assert "--skip-existing" in stderr and "Traceback" not in stderr
    written = _outputs(out)
    assert len(written) == 3 and all(expected[k] == v for k, v in written.items())
    assert temp_files(out) == []  # the half-written temporary file was removed
    data = read_report(report)
    # The write already under way when the disk filled fails too; the rest never start.
    assert data["done"] == 3 and 1 <= data["failed"] <= 3
    assert data["done"] + data["failed"] + data["not_processed"] == 8
    assert "No space left on device" in data["stopped"]
    assert snapshot(src) == before
    finish = _run(src, "-o", out, *steps, "--skip-existing")
    assert finish.returncode == 0, finish.stderr.decode()
    assert _outputs(out) == expected


def test_a_really_full_filesystem_stops_cleanly(tmp_path: Path) -> None:
    """The same on a real 256 KiB tmpfs: incompressible 128x128 PNGs (about 31 KB each after
    sharpen) fill it after a few outputs; the one being written when it fills must vanish."""
    from small_disk import small_tmpfs

    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for number in range(12):
        noise = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        Image.fromarray(noise).save(src / f"img{number:02d}.png")
    before = snapshot(src)
    assert _run(src, "-o", tmp_path / "ref", "--filter", "sharpen").returncode == 0
    expected = _outputs(tmp_path / "ref")
    with small_tmpfs(tmp_path / "disk", 256) as (disk, why):
        if disk is None:
            pytest.skip(why)
        out = disk / "out"
        full = _run(src, "-o", out, "--filter", "sharpen", "--report", tmp_path / "r.json")
        stderr = full.stderr.decode()
        assert full.returncode == 1, stderr
        assert "No space left on device" in stderr and "Traceback" not in stderr
        written = _outputs(out)
        assert 0 < len(written) < 12
        assert all(expected[name] == data for name, data in written.items())
        assert temp_files(out) == []
        data = read_report(tmp_path / "r.json")
        assert data["done"] == len(written)
        assert data["done"] + data["failed"] + data["not_processed"] == 12
    assert snapshot(src) == before


def test_read_only_output_fails_clearly_and_keeps_earlier_outputs(tmp_path: Path) -> None:
    src = _fault_inputs(tmp_path / "in", count=4, size=20)
    before = snapshot(src)
    out = tmp_path / "out"
    assert _run(src, "-o", out, "--filter", "sharpen").returncode == 0
    earlier = _outputs(out)
    again = _run(
        src, "-o", out, "--filter", "blur", "--overwrite", "--report", "-", fault=("erofs", 0)
    )
    stderr = again.stderr.decode()
    assert again.returncode == 1, stderr
    assert "Read-only file system" in stderr and "stopped:" in stderr
    report = json.loads(again.stdout)
    assert report["done"] == 0 and report["failed"] >= 1
    assert report["failed"] + report["not_processed"] == 4
    assert _outputs(out) == earlier and temp_files(out) == []
    assert snapshot(src) == before


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into 0555 folders"
)
def test_output_folder_without_write_permission(tmp_path: Path) -> None:
    src = _fault_inputs(tmp_path / "in", count=3, size=20)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        done = _run(src, "-o", out, "--filter", "sharpen", "--report", "-")
    finally:
        out.chmod(0o755)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["failed"] == 3 and all(
        "Permission denied" in f["reason"] for f in report["files"]
    )
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_two_batches_into_one_folder_never_interleave(tmp_path: Path) -> None:
    src = _fault_inputs(tmp_path / "in", count=24, size=48)
    darker, lighter = ["--filter", "adjust:brightness=0.7"], ["--filter", "adjust:brightness=1.3"]
    for name, steps in (("a", darker), ("b", lighter)):
        assert _run(src, "-o", tmp_path / name, *steps).returncode == 0
    a, b = _outputs(tmp_path / "a"), _outputs(tmp_path / "b")
    out = tmp_path / "out"
    procs = [_start(src, "-o", out, *steps, "--overwrite", "-q") for steps in (darker, lighter)]
    for proc in procs:
        _, stderr = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, stderr.decode()
    both = _outputs(out)
    assert set(both) == set(a)
    assert all(data in (a[name], b[name]) for name, data in both.items())
    assert temp_files(out) == []


# --- the atomic writer ------------------------------------------------------------------


def test_a_starting_batch_leaves_a_live_writers_temporary_file_alone(tmp_path: Path) -> None:
    target = tmp_path / "x.png"
    job = BatchJob(
        Pipeline(()),
        (WorkItem(tmp_path / "in.png", Path("in.png"), target, "png"),),
        tmp_path,
        BatchOptions(),
    )
    removed: list[int] = []

    def write(handle) -> None:
        handle.write(b"first half, ")
        removed.append(remove_stale_temps(job))  # a second batch starts right now
        handle.write(b"second half")

    atomic_write(target, write)
    assert removed == [0] and target.read_bytes() == b"first half, second half"
    stale = tmp_path / (temp_prefix(target) + "killed00")  # what SIGKILL leaves behind
    stale.write_bytes(b"half")
    assert remove_stale_temps(job) == 1 and not stale.exists()


def test_temporary_names_of_the_longest_file_names_fit(tmp_path: Path) -> None:
    for name in ("x" * 251 + ".png", "é" * 123 + ".png"):  # 255 bytes each
        target = tmp_path / name
        atomic_write(target, lambda handle: handle.write(b"data"))
        assert target.read_bytes() == b"data"
        assert len(os.fsencode(temp_prefix(target))) + 8 <= 255
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_reopens_detects_a_truncated_output(tmp_path: Path) -> None:
    """The corpus check itself can fail: a cut PNG does not count as a valid output."""
    path = tmp_path / "cut.png"
    Image.fromarray(pattern(30, 20, 1)).save(path)
    assert reopens(path)[0]
    path.write_bytes(path.read_bytes()[:-40])
    assert not reopens(path)[0]
