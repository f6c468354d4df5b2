"""``stylepipe run --engine ray`` as a user runs it: a real process that starts its own
local Ray instance (no address given) and shuts it down, after a normal run and after
Ctrl-C, leaving no Ray process and no temporary file behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from ray_helpers import noise_images, outputs, ray_environment, ray_processes, temp_files
from ray_helpers import wait_until_gone as gone_after

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
STEPS = ("--filter", "blur:radius=12", "--filter", "sharpen")


def stylepipe(*argv: str | Path) -> subprocess.Popen[bytes]:
    """The CLI in its own session, so that a Ctrl-C can reach its whole process group as
    a terminal's does, and with SIGINT at its default (a suite run in the background
    inherits it ignored)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "stylepipe", *map(str, argv)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def test_a_run_starts_its_own_ray_and_stops_it(tmp_path: Path) -> None:
    noise_images(tmp_path / "in", 6, 32)
    before = set(ray_processes())
    with ray_environment():
        proc = stylepipe(
            "run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "sharpen",
            "--engine", "ray:actors=2", "--report", tmp_path / "r.json",
        )  # fmt: skip
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr.decode()
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["done"], report["exit_code"]) == (6, 0)
    assert gone_after(set(ray_processes()) - before) == set()
    assert "Traceback" not in stderr.decode()


def test_ctrl_c_stops_the_batch_and_ray_cleanly(tmp_path: Path) -> None:
    inputs = noise_images(tmp_path / "in", 48, 384)
    out = tmp_path / "out"
    before = set(ray_processes())
    with ray_environment():
        proc = stylepipe(
            "run", tmp_path / "in", "-o", out, *STEPS, "--engine", "ray:2,batch=1",
            "--report", tmp_path / "r.json",
        )  # fmt: skip
        deadline = time.monotonic() + 240
        while not (out.is_dir() and any(p.suffix == ".png" for p in out.iterdir())):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no output appeared"
            time.sleep(0.01)  # polling for the first output, not a fixed wait
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole group
        _, stderr = proc.communicate(timeout=240)
    text = stderr.decode()
    assert proc.returncode == 130, text
    assert "interrupted" in text and "--skip-existing" in text and "Traceback" not in text
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["interrupted"] and report["not_processed"] > 0
    assert gone_after(set(ray_processes()) - before) == set()
    assert temp_files(out) == []
    written = sorted(out.iterdir())
    assert 0 < len(written) < len(inputs)
    for path in written:  # every file that exists is a complete image
        with Image.open(path) as image:
            image.load()
    resume = stylepipe("run", tmp_path / "in", "-o", out, *STEPS, "--skip-existing")
    assert resume.communicate(timeout=300) and resume.returncode == 0
    reference = stylepipe("run", tmp_path / "in", "-o", tmp_path / "ref", *STEPS)
    assert reference.communicate(timeout=300) and reference.returncode == 0
    assert outputs(out) == outputs(tmp_path / "ref")
