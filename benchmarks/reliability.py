"""Reliability report: a hostile corpus and injected faults through real ``stylepipe run``
batches (subprocesses), with the counts that must hold.

It builds the corpus of ``tests/reliability_corpus.py`` (bad and unusual files; more
bit-flipped variants than the test suite with ``--flips``) in a temporary folder,
installs a tiny random-init style pack in a temporary STYLEPIPE_HOME, and runs:

* the corpus through ``autocontrast`` + ``style`` (keeping formats), then through
  ``adjust`` to WebP: files tried, valid outputs, failures with a reason, aborts,
  partial files and modified inputs (the last three must be 0);
* SIGINT and SIGKILL at random points (``--kills`` of each), each followed by
  ``--skip-existing`` to the end, compared byte for byte with an uninterrupted run;
* a simulated full disk (ENOSPC after 3 writes) and read-only output (EROFS), then a
  ``--skip-existing`` finish; a real full disk (a 256 KiB tmpfs, where mounting one is
  allowed); two batches writing into one folder at once.

    .venv/bin/python benchmarks/reliability.py
    .venv/bin/python benchmarks/reliability.py --flips 40 --kills 5 --keep /tmp/rel
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from reliability_checks import check_batch, read_report, snapshot, temp_files  # noqa: E402
from reliability_corpus import build_corpus, pattern  # noqa: E402

FAULTS_SCRIPT = REPO / "tests" / "reliability_faults.py"


def _env(home: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), STYLEPIPE_HOME=str(home), OMP_NUM_THREADS="1")


def _cmd(args: list[str | Path], fault: tuple[str, int] | None = None) -> list[str]:
    prefix = [sys.executable, "-m", "stylepipe"]
    if fault:
        prefix = [sys.executable, str(FAULTS_SCRIPT), fault[0], str(fault[1]), "--"]
    return [*prefix, "run", *map(str, args)]


def _run(home: Path, args: list[str | Path], fault=None) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(args, fault), env=_env(home), capture_output=True, timeout=1800)


def _outputs(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def corpus_batches(work: Path, home: Path, flips: int) -> None:
    corpus = build_corpus(work / "corpus", flips=flips)
    print(f"corpus: {len(corpus.entries)} files; by kind: {corpus.kinds()}")
    before = snapshot(corpus.root)
    batches = {
        "autocontrast + style (formats kept)": [
            "--filter",
            "autocontrast",
            "--filter",
            "style:model=tiny",
        ],
        "adjust -> webp": ["--filter", "adjust:contrast=1.1", "--format", "webp"],
    }
    for number, (label, steps) in enumerate(batches.items()):
        out, report = work / f"out{number}", work / f"report{number}.json"
        started = time.perf_counter()
        args = [corpus.root, "-o", out, "--recursive", *steps, "--report", report, "-q"]
        done = _run(home, args)
        seconds = time.perf_counter() - started
        outcome = check_batch(corpus, read_report(report), out, before, done.returncode)
        print(f"\nbatch: {label}  (exit {done.returncode}, {seconds:.1f} s)")
        for key, value in outcome.as_dict().items():
            print(f"  {key.replace('_', ' '):22} {value}")
        print(f"  outputs + failures     {outcome.valid_outputs + outcome.failures_with_reason}")
        print(f"  unexpected             {len(outcome.unexpected)}")
        for line in outcome.unexpected[:10]:
            print(f"    {line}")


def _fault_inputs(folder: Path, count: int, size: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for number in range(count):
        Image.fromarray(pattern(size + number, size, number)).save(folder / f"img{number:02d}.png")
    return folder


def kills(work: Path, home: Path, count: int) -> None:
    src = _fault_inputs(work / "kill-in", 16, 96)
    steps = ["--filter", "blur:radius=3", "--filter", "style:model=tiny"]
    _run(home, [src, "-o", work / "kill-ref", *steps])
    expected = _outputs(work / "kill-ref")
    rng = random.Random(7)
    for sig in (signal.SIGINT, signal.SIGKILL):
        out = work / f"kill-{sig.name}"
        partial = temps_left = 0
        codes = []
        for _ in range(count):
            have = len(_outputs(out))  # kill at a random point of what is left
            after = have + rng.randrange(0, max(1, 16 - have - 1))
            proc = subprocess.Popen(
                _cmd([src, "-o", out, *steps, "--skip-existing"]),
                env=_env(home),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while proc.poll() is None and len(_outputs(out)) < after:
                time.sleep(0.002)
            if proc.poll() is None:
                proc.send_signal(sig)
            codes.append(proc.wait())
            partial += sum(data != expected.get(name) for name, data in _outputs(out).items())
            temps_left += len(temp_files(out))
        finish = _run(home, [src, "-o", out, *steps, "--skip-existing"])
        identical = _outputs(out) == expected and not temp_files(out)
        print(
            f"\n{sig.name} x{count}: exit codes {sorted(set(codes))}, partial/corrupt outputs "
            f"{partial}, temp files seen after kills {temps_left}, finish exit "
            f"{finish.returncode}, byte-identical to the uninterrupted run: {identical}"
        )


def storage_faults(work: Path, home: Path) -> None:
    src = _fault_inputs(work / "disk-in", 8, 64)
    before = snapshot(src)
    _run(home, [src, "-o", work / "disk-ref", "--filter", "sharpen"])
    expected = _outputs(work / "disk-ref")
    for fault in ("enospc", "erofs"):
        out = work / f"disk-{fault}"
        full = _run(home, [src, "-o", out, "--filter", "sharpen"], fault=(fault, 3))
        stopped = [ln for ln in full.stderr.decode().splitlines() if "stopped" in ln]
        kept = all(expected[k] == v for k, v in _outputs(out).items())
        written = len(_outputs(out))
        finish = _run(home, [src, "-o", out, "--filter", "sharpen", "--skip-existing"])
        print(
            f"\n{fault} after 3 writes: exit {full.returncode}, message: {stopped[:1]}, "
            f"earlier outputs intact: {kept} ({written} written), "
            f"temp files: {len(temp_files(out))}, inputs intact: {snapshot(src) == before}, "
            f"--skip-existing finish exit {finish.returncode}, identical: "
            f"{_outputs(out) == expected}"
        )


def real_disk_full(work: Path, home: Path) -> None:
    """A real 256 KiB tmpfs filled by incompressible outputs (where mounting is allowed)."""
    import numpy as np
    from PIL import Image
    from small_disk import small_tmpfs

    src = work / "tmpfs-in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for number in range(16):
        noise = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        Image.fromarray(noise).save(src / f"img{number:02d}.png")
    before = snapshot(src)
    _run(home, [src, "-o", work / "tmpfs-ref", "--filter", "sharpen"])
    expected = _outputs(work / "tmpfs-ref")
    with small_tmpfs(work / "tmpfs", 256) as (disk, why):
        if disk is None:
            print(f"\nreal full disk (tmpfs): not run ({why}); the simulated ENOSPC above stands")
            return
        out = disk / "out"
        full = _run(home, [src, "-o", out, "--filter", "sharpen"])
        written = _outputs(out)
        kept = all(expected[k] == v for k, v in written.items())
        print(
            f"\nreal full disk (256 KiB tmpfs): exit {full.returncode}, "
            f"{len(written)} of 16 written, all intact: {kept}, "
            f"temp files: {len(temp_files(out))}, inputs intact: {snapshot(src) == before}, "
            f"'No space left on device' reported: {'No space left' in full.stderr.decode()}"
        )


def concurrent(work: Path, home: Path) -> None:
    src = _fault_inputs(work / "conc-in", 32, 64)
    variants = [["--filter", "adjust:brightness=0.7"], ["--filter", "adjust:brightness=1.3"]]
    refs = []
    for number, steps in enumerate(variants):
        _run(home, [src, "-o", work / f"conc-ref{number}", *steps])
        refs.append(_outputs(work / f"conc-ref{number}"))
    out = work / "conc-out"
    procs = [
        subprocess.Popen(
            _cmd([src, "-o", out, *steps, "--overwrite", "-q"]),
            env=_env(home),
            stderr=subprocess.DEVNULL,
        )
        for steps in variants
    ]
    codes = [proc.wait() for proc in procs]
    both = _outputs(out)
    whole = sum(data in (refs[0][k], refs[1][k]) for k, data in both.items())
    print(
        f"\ntwo batches into one folder: exit codes {codes}, {whole}/{len(both)} outputs "
        f"whole (equal to one batch's file), temp files {len(temp_files(out))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flips", type=int, default=24, help="bit-flipped files per source")
    parser.add_argument("--kills", type=int, default=4, help="SIGINT and SIGKILL runs each")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: temporary)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="stylepipe-reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    from model_helpers import write_style_pack

    write_style_pack(home / "plugins", name="tiny")
    try:
        corpus_batches(work, home, args.flips)
        kills(work, home, args.kills)
        storage_faults(work, home)
        real_disk_full(work, home)
        concurrent(work, home)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
