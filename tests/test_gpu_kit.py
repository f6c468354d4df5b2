"""training/gpu_kit.py packs a paper-length run's inputs small enough for the device tool,
and training/gpu_run.sh runs the queue there on them and brings the results back. The
run is checked with a recorder in place of the CLI (no training); the kit for real."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))
import gpu_kit  # noqa: E402


def fake_assets(root: Path) -> Path:
    photos = root / "training_photos"
    (photos / "bsds").mkdir(parents=True)
    Image.new("RGB", (900, 600), (200, 40, 40)).save(photos / "bsds" / "big.png")
    Image.new("RGB", (200, 150), (40, 200, 40)).save(photos / "small.JPEG")
    (photos / "SOURCE.txt").write_text("licence")
    for name in gpu_kit.STYLE_IMAGES:
        (root / "style_images" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "style_images" / name).write_bytes(b"painting")
    (root / "style_images" / "other.jpg").write_bytes(b"not a bundled style")
    weights = root / "loss_networks" / "vgg19-imagenet-conv1-3" / "weights.safetensors"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"weights")
    return root


def test_the_kit_shrinks_the_photos_and_takes_only_what_the_queue_reads(tmp_path: Path) -> None:
    assets, kit = fake_assets(tmp_path / "assets"), tmp_path / "kit"
    code = gpu_kit.main(["--assets", str(assets), "--out", str(kit), "--no-wheels"])
    assert code == 0
    photos = kit / "assets" / "training_photos"
    with Image.open(photos / "bsds" / "big.jpg") as big:
        assert big.format == "JPEG" and big.size == (432, 288)  # shorter side 288
    with Image.open(photos / "small.jpg") as small:
        assert small.size == (200, 150)  # never enlarged
    assert not (photos / "SOURCE.txt").exists()
    styles = kit / "assets" / "style_images"
    assert sorted(str(p.relative_to(styles)) for p in styles.rglob("*.*")) == sorted(
        gpu_kit.STYLE_IMAGES
    )
    assert (
        kit / "assets" / "loss_networks" / "vgg19-imagenet-conv1-3" / "weights.safetensors"
    ).read_bytes() == b"weights"


def test_a_missing_painting_or_photo_folder_stops_the_kit(tmp_path: Path) -> None:
    assets = fake_assets(tmp_path / "assets")
    (assets / "style_images" / gpu_kit.STYLE_IMAGES[0]).unlink()
    argv = ["--assets", str(assets), "--out", str(tmp_path / "kit"), "--no-wheels"]
    assert gpu_kit.main(argv) == 2
    assert gpu_kit.main(["--assets", str(tmp_path / "nowhere"), *argv[2:]]) == 2


def test_the_kit_has_every_painting_the_queue_trains_on() -> None:
    script = (REPO / "training" / "train_bundled.sh").read_text()
    folders = {"$STYLES/": "", "$JJ/": "jcjohnson_fast_neural_style/"}
    named = {
        folders[prefix] + path
        for prefix, path in re.findall(r"image=(\$STYLES/|\$JJ/)(\S+\.jpg)", script)
    }
    assert len(named) == 7
    assert named <= set(gpu_kit.STYLE_IMAGES)


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_the_gpu_run_trains_the_queue_on_cuda_from_the_kit_and_returns_it(
    tmp_path: Path,
) -> None:
    kit, out, work = tmp_path / "kit", tmp_path / "out", tmp_path / "work"
    assert (
        gpu_kit.main(
            ["--assets", str(fake_assets(tmp_path / "assets")), "--out", str(kit), "--no-wheels"]
        )
        == 0
    )
    out.mkdir()
    calls = tmp_path / "calls.txt"
    recorder = tmp_path / "stylepipe"
    recorder.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    env = {
        **os.environ, "OUT": str(out), "KIT": str(kit), "WORK": str(work),
        "PY": sys.executable, "STYLEPIPE": str(recorder), "BUDGET": "120",
    }  # fmt: skip
    done = subprocess.run(
        ["bash", str(REPO / "training" / "gpu_run.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [call] = calls.read_text().splitlines()  # the bundled mosaic continues to 40,000
    for part in (
        "train style", "--name mosaic", "--iterations 40000", "--style-weight 25",
        "--device cuda", "--precision bf16", "--workers 8", "--checkpoint-every 2000",
        f"--data {kit}/assets/training_photos", "--init-from plugins/stylepipe_style/models/mosaic",
    ):  # fmt: skip
        assert part in call, part
    assert {p.name for p in out.iterdir()} == {"gpu.log", "result.tar", "snapshots.tar"}
    with tarfile.open(out / "result.tar") as result:
        assert "./commands.log" in result.getnames()
    assert "queue: exit 0" in (out / "gpu.log").read_text()


def test_every_checkpoint_is_kept_as_fp16_weights_named_by_run_and_step(tmp_path: Path) -> None:
    import gpu_snapshots
    import torch
    from safetensors.torch import load_file
    from stylepipe_training.checkpoint import save_checkpoint

    runs, dest, stop = tmp_path / "runs", tmp_path / "snapshots", tmp_path / "stop"
    dest.mkdir()
    for name, task in (("mosaic", "style"), ("broken", "style")):
        (runs / name).mkdir(parents=True)
        (runs / name / "config.json").write_text(f'{{"task": "{task}"}}')
    payload = {"task": "style", "step": 7, "net": {"conv.weight": torch.rand(2, 3)}}
    save_checkpoint(runs / "mosaic", payload)
    (runs / "broken" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    stop.touch()  # a last look, then it returns
    assert gpu_snapshots.watch(runs, dest, stop) == [dest / "mosaic-7.safetensors"]
    weights = load_file(dest / "mosaic-7.safetensors")
    assert weights["conv.weight"].dtype == torch.float16
    assert torch.allclose(weights["conv.weight"].float(), payload["net"]["conv.weight"], atol=1e-3)
