"""Keep the network of every checkpoint a run writes, for judging several afterwards.

``training/gpu_run.sh`` starts this beside the queue on a lent GPU: a run keeps only its
latest two checkpoints, and the judge's noise between checkpoints is larger than the gap
it is meant to show, so each new ``RUNS/NAME/checkpoint.pt`` is saved as
``DEST/NAME-STEP.safetensors`` (fp16, 0.85 MB for a width-16 style network) until the
file ``STOP`` appears; then it takes a last look and exits.

    python3 training/gpu_snapshots.py RUNS DEST STOP
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from stylepipe_training.checkpoint import LATEST, CheckpointError, load_checkpoint


def snapshot(checkpoint: Path, dest: Path) -> Path:
    """The network in ``checkpoint`` as fp16 safetensors under ``dest``, named by run and
    step; returns the file written."""
    run_dir = checkpoint.parent
    task = json.loads((run_dir / "config.json").read_text())["task"]
    data = load_checkpoint(checkpoint, task)
    weights = {k: v.to(torch.float16).contiguous() for k, v in data["net"].items()}
    path = dest / f"{run_dir.name}-{int(data['step'])}.safetensors"
    save_file(weights, str(path))
    return path


def watch(runs: Path, dest: Path, stop: Path, every_s: float = 2.0) -> list[Path]:
    """Snapshot each checkpoint under ``runs`` once, until ``stop`` exists; returns the
    files written."""
    seen: dict[Path, float] = {}
    written = []
    while True:
        last = stop.exists()
        for checkpoint in sorted(runs.glob(f"*/{LATEST}")):
            mtime = checkpoint.stat().st_mtime
            if seen.get(checkpoint) == mtime:
                continue
            try:
                written.append(snapshot(checkpoint, dest))
            except (CheckpointError, OSError, KeyError):  # replaced meanwhile: look again
                continue
            seen[checkpoint] = mtime
        if last:
            return written
        time.sleep(every_s)


if __name__ == "__main__":
    watch(*(Path(arg) for arg in sys.argv[1:4]))
