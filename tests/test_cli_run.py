"""``stylepipe run`` end to end: options, exit codes, summary, and a real Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylepipe.cli import main
from stylepipe.ui import UI

REPO = Path(__file__).resolve().parent.parent


def make_images(folder: Path, count: int, size: int = 16) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    paths = []
    for n in range(count):
        path = folder / f"img{n:03d}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def run_cli(*argv: str | Path) -> tuple[int, str]:
    stderr = io.StringIO()
    code = main([str(a) for a in argv], ui=UI(stdout=io.StringIO(), stderr=stderr))
    return code, stderr.getvalue()


def test_run_with_filters(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 3)
    code, err = run_cli(
        "run",
        tmp_path / "in",
        "-o",
        tmp_path / "out",
        "--filter",
        "grayscale",
        "--filter",
        "resize:scale=0.5",
    )
    assert code == 0, err
    with Image.open(tmp_path / "out" / "img000.png") as image:
        assert (image.mode, image.size) == ("L", (8, 8))
    assert "3 done, 0 failed of 3 files" in err


def test_pipeline_file_and_cli_overrides(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 2)
    pipe = tmp_path / "p.toml"
    pipe.write_text(
        '[[step]]\nfilter = "grayscale"\n\n'
        '[output]\nformat = "webp"\nname = "{stem}_{filter}{ext}"\n'
    )
    code, err = run_cli("run", "-p", pipe, tmp_path / "in", "-o", tmp_path / "out")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "img000_grayscale.webp",
        "img001_grayscale.webp",
    ]
    code, err = run_cli(
        "run",
        "-p",
        pipe,
        tmp_path / "in",
        "-o",
        tmp_path / "o2",
        "--format",
        "jpg",
        "--quality",
        "40",
        "--name",
        "{stem}{ext}",
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["img000.jpg", "img001.jpg"]


def test_exit_codes(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 2)
    (tmp_path / "in" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    code, err = run_cli("run", tmp_path / "in", "-o", out, "--filter", "grayscale")
    assert code == 1
    assert "broken.png" in err and "1 failed" in err
    assert sorted(p.name for p in out.iterdir()) == ["img000.png", "img001.png"]
    usage = [
        ["run", tmp_path / "in", "-o", out],  # neither -p nor --filter
        ["run", tmp_path / "in", "-o", out, "-p", "x.toml", "--filter", "grayscale"],
        ["run", tmp_path / "in", "-o", out, "--filter", "nosuchfilter"],
        ["run", tmp_path / "in", "-o", out, "--filter", "grayscale", "--quality", "abc"],
        [
            "run",
            tmp_path / "in",
            "-o",
            out,
            "--filter",
            "grayscale",
            "--skip-existing",
            "--overwrite",
        ],
        ["run", tmp_path / "missing", "-o", out, "--filter", "grayscale"],
        ["run", tmp_path / "in", "--filter", "grayscale"],  # no -o
    ]
    for argv in usage:
        code, err = run_cli(*argv)
        assert code == 2, (argv, err)


def test_quiet_prints_nothing_on_success_but_shows_failures(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 2)
    code, err = run_cli(
        "run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "grayscale", "-q"
    )
    assert (code, err) == (0, "")
    (tmp_path / "in" / "zero.png").write_bytes(b"")
    code, err = run_cli(
        "run",
        tmp_path / "in",
        "-o",
        tmp_path / "out",
        "--filter",
        "grayscale",
        "-q",
        "--skip-existing",
    )
    assert code == 1 and "zero.png" in err and "empty file" in err


def test_strip_metadata_and_max_pixels_flags(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    exif = Image.Exif()
    exif[0x010F] = "camera"
    Image.new("RGB", (40, 30), (10, 20, 30)).save(src / "a.jpg", exif=exif.tobytes())
    code, _ = run_cli("run", src, "-o", tmp_path / "o1", "--filter", "grayscale")
    assert code == 0 and Image.open(tmp_path / "o1" / "a.jpg").getexif()[0x010F] == "camera"
    code, _ = run_cli(
        "run", src, "-o", tmp_path / "o2", "--filter", "grayscale", "--strip-metadata"
    )
    assert code == 0 and len(Image.open(tmp_path / "o2" / "a.jpg").getexif()) == 0
    code, err = run_cli(
        "run", src, "-o", tmp_path / "o3", "--filter", "grayscale", "--max-pixels", "100"
    )
    assert code == 1 and "--max-pixels" in err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "--skip-existing" in text and "exit status" in text


def _stylepipe(*argv: str | Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "stylepipe", *map(str, argv)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # A suite started in the background (`make test &`) inherits an ignored SIGINT,
        # and Python keeps it ignored: give the batch the default a terminal would.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_sigint_stops_cleanly_and_skip_existing_completes(tmp_path: Path) -> None:
    # Large enough that the batch is still running when SIGINT arrives, even on a fast,
    # idle machine (about 4 s for the whole batch there).
    inputs = make_images(tmp_path / "in", 48, size=384)
    out = tmp_path / "out"
    steps = ["--filter", "blur:radius=12", "--filter", "sharpen"]
    proc = _stylepipe("run", tmp_path / "in", "-o", out, *steps)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(p.suffix == ".png" for p in out.iterdir())):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no output appeared"
        time.sleep(0.005)  # polling for the first output, not a fixed wait
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr.decode()
    assert b"interrupted" in stderr and b"--skip-existing" in stderr
    written = sorted(out.iterdir())
    assert all(p.suffix == ".png" and not p.name.startswith(".") for p in written), written
    assert 0 < len(written) < len(inputs)
    for path in written:  # every file that exists is a complete image
        with Image.open(path) as image:
            image.load()
    code, err = run_cli("run", tmp_path / "in", "-o", out, *steps, "--skip-existing")
    assert code == 0, err
    code, err = run_cli("run", tmp_path / "in", "-o", tmp_path / "ref", *steps)
    assert code == 0, err
    finished = {p.name: p.read_bytes() for p in out.iterdir()}
    reference = {p.name: p.read_bytes() for p in (tmp_path / "ref").iterdir()}
    assert finished == reference


def test_16bit_rgb_png_stays_16bit_through_a_batch(tmp_path: Path) -> None:
    from stylepipe.imaging.highdepth import encode_png16
    from stylepipe.imaging.read import read_image

    samples = np.random.default_rng(5).integers(0, 65536, (8, 10, 3), dtype=np.uint16)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "deep.png").write_bytes(encode_png16(samples))
    code, err = run_cli("run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "adjust")
    assert code == 0, err
    written = (tmp_path / "out" / "deep.png").read_bytes()
    assert written[24] == 16  # IHDR bit depth
    again = read_image(tmp_path / "out" / "deep.png")
    np.testing.assert_array_equal(np.rint(again.pixels * 65535), samples)
