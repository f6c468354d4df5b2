"""Pack what a paper-length run needs onto a lent GPU machine into ``.gpukit/``.

The device tool copies this checkout (at most 64 MiB) and nothing beside it: not
``../shared/assets`` (136 MB of training photos), nor the packages its image lacks. This
writes, under the git-ignored ``.gpukit/``:

* ``assets/training_photos/``: every training photo re-encoded as JPEG (quality 80), its
  shorter side at most ``--short-side`` pixels (288 by default: the BSDS500 photos are
  321 px, ImageNet's about 375, and style training crops 50-100 % of the shorter side
  down to 256); 35 MiB where the originals take 136;
* ``assets/style_images/``: the paintings of the bundled styles (``STYLE_IMAGES``, as
  ``training/train_bundled.sh`` names them), and ``assets/loss_networks/`` (the partial
  ImageNet VGG19), copied as they are, for the queue's ``ASSETS``;
* ``wheels/``: the dependencies the machine lacks (platformdirs), installed there by
  ``training/gpu_run.sh``, which runs stylepipe from the checkout itself.

With the checkout (10 MiB tracked) it stays under the 64 MiB the device tool carries.
Never commit ``.gpukit/``: the loss network's weights and the photos stay in ../shared.

    .venv/bin/python training/gpu_kit.py            # or: make gpu-kit
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

from stylepipe.ui import UI

ROOT = Path(__file__).resolve().parents[1]
#: Wheels the GPU image lacks (its package list: /work/.library/device/KINDS.md).
MISSING_THERE = ("platformdirs",)
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png"}
#: The paintings ``training/train_bundled.sh`` trains the bundled styles on, with the
#: licence notes beside them, under ``style_images/``.
STYLE_IMAGES = (
    "pytorch_examples/mosaic.jpg",
    "pytorch_examples/SOURCE.txt",
    "jcjohnson_fast_neural_style/starry_night_crop.jpg",
    "jcjohnson_fast_neural_style/wave_crop.jpg",
    "jcjohnson_fast_neural_style/composition_vii.jpg",
    "jcjohnson_fast_neural_style/the_scream.jpg",
    "jcjohnson_fast_neural_style/udnie.jpg",
    "jcjohnson_fast_neural_style/SOURCE.txt",
    "engstrom_fast_style_transfer/the_shipwreck_of_the_minotaur.jpg",
    "engstrom_fast_style_transfer/SOURCE.txt",
)
#: The kit's own limit: the device tool carries 64 MiB with the checkout's 10.
KIT_LIMIT = 50 * 2**20


def shrink_photos(source: Path, dest: Path, short_side: int, quality: int) -> tuple[int, int]:
    """Every photo under ``source`` as a JPEG under ``dest`` (same relative path), its
    shorter side at most ``short_side``; returns (photos written, bytes written)."""
    count = total = 0
    for path in sorted(source.rglob("*")):
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            continue
        target = dest / path.relative_to(source).with_suffix(".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            image = image.convert("RGB")
            factor = short_side / min(image.size)
            if factor < 1:
                size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
                image = image.resize(size, Image.Resampling.LANCZOS)
            image.save(target, "JPEG", quality=quality)
        count, total = count + 1, total + target.stat().st_size
    return count, total


def copy_files(source: Path, dest: Path, names: tuple[str, ...] | None = None) -> int:
    """``names`` (relative paths; default: every file) copied from ``source`` to ``dest``;
    returns the bytes copied."""
    if names:
        paths = [source / name for name in names]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"missing: {', '.join(missing)}")
    else:
        paths = [path for path in sorted(source.rglob("*")) if path.is_file()]
    total = 0
    for path in paths:
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        total += target.stat().st_size
    return total


def download_wheels(dest: Path) -> int:
    """The missing dependencies' wheels (pure Python) into ``dest``; returns their bytes."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
        + ["-d", str(dest), *MISSING_THERE],
        check=True,
    )
    return sum(p.stat().st_size for p in dest.iterdir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=Path, default=ROOT.parent / "shared" / "assets")
    parser.add_argument("--out", type=Path, default=ROOT / ".gpukit")
    parser.add_argument("--short-side", type=int, default=288, help="photos' shorter side cap")
    parser.add_argument("--quality", type=int, default=80, help="JPEG quality of the photos")
    parser.add_argument("--no-wheels", action="store_true", help="skip the wheels")
    args = parser.parse_args(argv)
    ui = UI()
    needed = ("training_photos", "style_images", "loss_networks")
    missing = [name for name in needed if not (args.assets / name).is_dir()]
    if missing:
        ui.error(f"gpu_kit: {args.assets} lacks {', '.join(missing)}")
        return 2
    assets = args.out / "assets"
    shutil.rmtree(args.out, ignore_errors=True)
    photos, size = shrink_photos(
        args.assets / "training_photos", assets / "training_photos", args.short_side, args.quality
    )
    try:
        size += copy_files(args.assets / "style_images", assets / "style_images", STYLE_IMAGES)
    except FileNotFoundError as error:
        ui.error(f"gpu_kit: the bundled styles' paintings are {error}")
        return 2
    size += copy_files(args.assets / "loss_networks", assets / "loss_networks")
    if not args.no_wheels:
        size += download_wheels(args.out / "wheels")
    if size > KIT_LIMIT:
        ui.error(
            f"gpu_kit: {size / 2**20:.1f} MiB, over {KIT_LIMIT // 2**20}: the device tool"
            " carries 64 MiB with the checkout; lower --short-side or --quality"
        )
        return 1
    ui.success(f"gpu_kit: {photos} photos, {size / 2**20:.1f} MiB in all, in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
