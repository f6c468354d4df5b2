"""Training photos: found recursively, decoded and cropped in worker threads.

Which photo and which crop a batch holds is a pure function of ``(seed, step)``: epoch
``e`` visits the photos in the order of a permutation drawn from ``(seed, e)``, and
sample ``g`` (the g-th image of the run) draws its crop from ``(seed, g)``. A resumed
run therefore sees exactly the batches the uninterrupted one would have seen, and no
loader state needs saving. A photo that cannot be decoded is replaced by the next one
in the epoch's order (deterministically) and counted.

Decoding happens in a thread pool (Pillow releases the GIL while decoding and
resizing) a few batches ahead of the step that needs them, so the network does not
wait for JPEG decoding.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from stylepipe.errors import UsageError

SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm"})
DECODE_ERRORS = (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError)

#: Makes one training sample from a decoded-on-demand photo and its random generator.
SampleMaker = Callable[[Image.Image, np.random.Generator], np.ndarray]


@dataclass
class PhotoSet:
    """The usable photos of a folder and the ones skipped (path -> reason)."""

    root: Path
    files: list[Path]
    skipped: dict[Path, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def skip(self, path: Path, reason: str) -> None:
        with self.lock:
            self.skipped.setdefault(path, reason)

    def is_skipped(self, path: Path) -> bool:
        with self.lock:
            return path in self.skipped


def scan_photos(root: Path, min_side: int = 1) -> PhotoSet:
    """Every image file under ``root`` (recursive, sorted, hidden entries ignored) whose
    header reads and whose shorter side is at least ``min_side``."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"photo folder not found: {root}", hint="pass --data PHOTO_DIR")
    candidates = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    photos = PhotoSet(root, [])
    for path in candidates:
        try:
            with Image.open(path) as image:
                size = image.size
        except DECODE_ERRORS as exc:
            photos.skipped[path] = f"unreadable: {exc}"
            continue
        if min(size) < min_side:
            photos.skipped[path] = f"smaller than {min_side} px"
            continue
        photos.files.append(path)
    if not photos.files:
        raise UsageError(
            f"no usable photos in {root} ({len(candidates)} image files, "
            f"{len(photos.skipped)} skipped)",
            hint=f"the folder needs JPEG/PNG photos at least {min_side} px on the short side",
        )
    return photos


def random_square_crop(size: int, min_fraction: float = 0.5) -> SampleMaker:
    """Style training samples: a random square of 50-100% of the shorter side, random
    position, random horizontal flip, resized to ``size`` (antialiased bicubic)."""

    def make(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
        w, h = image.size
        side = int(round(min(w, h) * rng.uniform(min_fraction, 1.0)))
        left = int(rng.integers(0, w - side + 1))
        top = int(rng.integers(0, h - side + 1))
        flip = bool(rng.integers(0, 2))
        factor = 1.0
        if side >= 2 * size and image.format == "JPEG":  # decode at a reduced DCT scale
            image.draft("RGB", (max(1, w * size // side), max(1, h * size // side)))
            factor = image.size[0] / w
        box = (left * factor, top * factor, (left + side) * factor, (top + side) * factor)
        out = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC, box=box)
        if flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.asarray(out, dtype=np.uint8)

    return make


def random_patch(size: int) -> SampleMaker:
    """Super-resolution samples: a ``size`` x ``size`` patch at the photo's own
    resolution (no resampling: the high-resolution target must stay sharp), random
    position, random horizontal flip."""

    def make(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
        w, h = image.size
        left = int(rng.integers(0, w - size + 1))
        top = int(rng.integers(0, h - size + 1))
        flip = bool(rng.integers(0, 2))
        out = image.convert("RGB").crop((left, top, left + size, top + size))
        if flip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.asarray(out, dtype=np.uint8)

    return make


class PhotoBatches:
    """Batches of ``(B, 3, S, S)`` float tensors in [0, 1], deterministic in the step."""

    def __init__(
        self,
        photos: PhotoSet,
        make_sample: SampleMaker,
        *,
        batch_size: int,
        seed: int,
        workers: int = 2,
        prefetch: int = 2,
    ) -> None:
        self.photos, self.make_sample = photos, make_sample
        self.batch_size, self.seed, self.prefetch = batch_size, seed, prefetch
        self._pool = ThreadPoolExecutor(workers, "stylepipe-data") if workers > 0 else None
        self._pending: dict[int, list[Future[np.ndarray]]] = {}
        self._orders: dict[int, np.ndarray] = {}
        self._orders_lock = threading.Lock()  # workers ask for epoch orders concurrently

    def batch(self, step: int) -> torch.Tensor:
        """The batch of training step ``step`` (0-based)."""
        if self._pool is None:
            arrays = [self.sample(g) for g in self._indices(step)]
        else:
            for ahead in range(step, step + self.prefetch + 1):
                if ahead not in self._pending:
                    self._pending[ahead] = [
                        self._pool.submit(self.sample, g) for g in self._indices(ahead)
                    ]
            for old in [s for s in self._pending if s < step]:
                for future in self._pending.pop(old):
                    future.cancel()
            arrays = [f.result() for f in self._pending.pop(step)]
        stacked = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        return stacked.float().div_(255.0)

    def _indices(self, step: int) -> range:
        return range(step * self.batch_size, (step + 1) * self.batch_size)

    def _order(self, epoch: int) -> np.ndarray:
        with self._orders_lock:
            order = self._orders.get(epoch)
            if order is None:
                rng = np.random.default_rng([self.seed, 0x5EED, epoch])
                order = rng.permutation(len(self.photos.files))
                self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}
                self._orders[epoch] = order
            return order

    def sample(self, g: int) -> np.ndarray:
        """Sample ``g`` of the run: its photo in the epoch order, cropped (HWC uint8)."""
        count = len(self.photos.files)
        epoch, position = divmod(g, count)
        order = self._order(epoch)
        for attempt in range(count):
            path = self.photos.files[int(order[(position + attempt) % count])]
            if self.photos.is_skipped(path):
                continue
            rng = np.random.default_rng([self.seed, g, attempt])
            try:
                with Image.open(path) as image:
                    return self.make_sample(image, rng)
            except DECODE_ERRORS as exc:
                self.photos.skip(path, f"cannot decode: {exc}")
        raise UsageError(f"none of the photos in {self.photos.root} can be decoded")

    def close(self) -> None:
        """Stop the worker threads (pending decodes are cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._pending.clear()
