"""Training photos: recursive scan, skipped files counted, batches deterministic in the
step whatever the threads, undecodable photos replaced the same way every time; also
checkpoints (RNG round trip, fallback to the previous file) and the loss history."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from stylepipe_training.checkpoint import (
    CheckpointError,
    capture_rng,
    find_checkpoint,
    restore_rng,
    save_checkpoint,
)
from stylepipe_training.data import PhotoBatches, random_patch, random_square_crop, scan_photos
from stylepipe_training.history import LossHistory

from stylepipe.errors import UsageError


def make_photos(root: Path, count: int = 5, size: tuple[int, int] = (48, 40)) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        folder = root / ("nested/deeper" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"photo{i}.{'png' if i % 3 else 'jpg'}"
        Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype("uint8")).save(path)
        paths.append(path)
    return paths


def test_scan_is_recursive_sorted_and_counts_skipped(tmp_path: Path) -> None:
    make_photos(tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    (tmp_path / ".hidden").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / ".hidden" / "secret.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "tiny.png")
    photos = scan_photos(tmp_path, min_side=16)
    assert len(photos.files) == 5 and photos.files == sorted(photos.files)
    assert set(photos.skipped) == {tmp_path / "broken.jpg", tmp_path / "tiny.png"}
    assert "smaller than 16" in photos.skipped[tmp_path / "tiny.png"]


def test_scan_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        scan_photos(tmp_path / "absent")
    (tmp_path / "bad.jpg").write_bytes(b"x")
    with pytest.raises(UsageError, match="no usable photos.*1 skipped"):
        scan_photos(tmp_path)


def test_batches_depend_only_on_seed_and_step(tmp_path: Path) -> None:
    make_photos(tmp_path, count=7)
    photos = scan_photos(tmp_path)
    threaded = PhotoBatches(photos, random_square_crop(16), batch_size=3, seed=5, workers=2)
    plain = PhotoBatches(photos, random_square_crop(16), batch_size=3, seed=5, workers=0)
    try:
        forward = [threaded.batch(s) for s in range(5)]
        backward = [plain.batch(s) for s in reversed(range(5))][::-1]
    finally:
        threaded.close()
    for a, b in zip(forward, backward, strict=True):
        assert a.shape == (3, 3, 16, 16) and a.dtype == torch.float32
        assert torch.equal(a, b)
    other = PhotoBatches(photos, random_square_crop(16), batch_size=3, seed=6, workers=0)
    assert not torch.equal(other.batch(0), forward[0])


def test_each_epoch_visits_every_photo_once(tmp_path: Path) -> None:
    make_photos(tmp_path, count=4)
    photos = scan_photos(tmp_path)
    seen = []
    batches = PhotoBatches(
        photos, lambda image, rng: np.asarray(image)[:1, :1], batch_size=2, seed=0, workers=0
    )
    for g in range(4):
        seen.append(batches.sample(g).tobytes())
    assert len(set(seen)) == 4


def test_undecodable_photo_is_replaced_deterministically(tmp_path: Path) -> None:
    paths = make_photos(tmp_path, count=4)
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) // 3])  # header fine, pixels truncated
    photos = scan_photos(tmp_path)
    assert len(photos.files) == 4  # the header still reads
    first = PhotoBatches(photos, random_square_crop(16), batch_size=4, seed=1, workers=0)
    batch = first.batch(0)
    assert list(photos.skipped) == [paths[1]]
    again = PhotoBatches(
        scan_photos(tmp_path), random_square_crop(16), batch_size=4, seed=1, workers=0
    )
    assert torch.equal(again.batch(0), batch)


def test_patches_are_taken_at_native_resolution(tmp_path: Path) -> None:
    image = Image.fromarray(np.arange(48 * 40 * 3, dtype=np.uint8).reshape(40, 48, 3) % 251)
    patch = random_patch(24)(image, np.random.default_rng(0))
    rows = np.asarray(image)
    found = any(
        np.array_equal(rows[t : t + 24, left : left + 24], patch)
        or np.array_equal(rows[t : t + 24, left : left + 24][:, ::-1], patch)
        for t in range(17)
        for left in range(25)
    )
    assert found


def test_rng_state_round_trip() -> None:
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = capture_rng()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    restore_rng(state)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_checkpoint_falls_back_on_the_previous_one(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, {"task": "style", "step": 1, "rng": capture_rng()})
    save_checkpoint(tmp_path, {"task": "style", "step": 2, "rng": capture_rng()})
    path, data = find_checkpoint(tmp_path, "style")
    assert (path.name, data["step"]) == ("checkpoint.pt", 2)
    (tmp_path / "checkpoint.pt").write_bytes(b"truncated by a crash")
    path, data = find_checkpoint(tmp_path, "style")
    assert (path.name, data["step"]) == ("checkpoint.prev.pt", 1)
    with pytest.raises(CheckpointError, match="train style"):
        find_checkpoint(tmp_path, "sr")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        find_checkpoint(tmp_path / "empty", "style")


def test_history_csv_and_plot(tmp_path: Path) -> None:
    history = LossHistory(("total", "style"))
    for step in range(1, 31):
        history.append(step, {"total": 10.0 / step, "style": 5.0 / step})
    history.write_csv(tmp_path / "losses.csv")
    lines = (tmp_path / "losses.csv").read_text().splitlines()
    assert lines[0] == "step,total,style" and lines[1] == "1,10,5" and len(lines) == 31
    history.write_plot(tmp_path / "losses.png")
    plot = Image.open(tmp_path / "losses.png")
    assert plot.size == (720, 400)
    assert len(np.unique(np.asarray(plot.convert("RGB")).reshape(-1, 3), axis=0)) > 3  # curves
    LossHistory(("total",)).write_plot(tmp_path / "empty.png")
    restored = LossHistory.from_state(history.state())
    assert restored.rows == history.rows
