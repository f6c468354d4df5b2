"""benchmarks/community_vs_realesrgan.py at a tiny size: the three methods measured in one
run, each with seconds, peak RSS and its seam error against the full frame."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("spandrel")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "community_vs_realesrgan.py"


@pytest.mark.slow
def test_benchmark_reports_three_methods_with_seam_errors(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    argv = [sys.executable, str(SCRIPT), "--size", "64x48", "--blocks", "1", "--threads", "1"]
    argv += ["--tile", "16", "--sp-tile", "16", "--json", str(figures)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 4, done.stdout  # header and three methods
    assert "full frame" in table[1]
    assert "stylepipe (tile 16 px" in table[2]
    assert "Real-ESRGAN scheme (tile 16 px, tile_pad 10)" in table[3]
    assert "random kaiming weights" in done.stdout and "load average" in done.stdout

    rows = json.loads(figures.read_text())
    reference, ours, theirs = rows
    assert reference["seam"] == {"max": 0, "mean": 0.0, "border_max": None}
    for row in rows:
        assert row["seconds"] > 0 and row["peak_rss_mib"] > 0
    for row in (ours, theirs):  # both tiled, both seam errors reported
        seam = row["seam"]
        assert seam["border_max"] is not None
        assert 0 <= seam["border_max"] <= seam["max"] <= 255
        assert 0 <= seam["mean"] <= seam["max"]
    # stylepipe's blended, haloed tiles are no worse than Real-ESRGAN's hard-cut ones
    # (within one 8-bit rounding level)
    assert ours["seam"]["max"] <= theirs["seam"]["max"] + 1
