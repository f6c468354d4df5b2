"""benchmarks/peak.py at a tiny size: the machine, the convolution peak per precision and
layout, the networks against it and against the plain forward, each case in its own
process with its peak RSS and page faults, all in one run (figures are not judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "peak.py"


@pytest.mark.slow
def test_one_run_prints_the_peak_and_every_case_against_it(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    argv = [sys.executable, str(SCRIPT), "--nets", "style16", "--sizes", "64", "--repeat", "1"]
    argv += ["--threads", "1", "--conv-time", "0.005", "--layers-size", "64", "--no-checks"]
    argv += ["--json", str(figures)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "flags: " in out and "load average" in out
    assert "Measured peak (best of the shapes above): bf16" in out and "fp32" in out
    assert "oneDNN kernel, 128 -> 128 3x3: float32 contiguous: " in out
    rows = [line for line in out.splitlines() if line.startswith("| style16 | 64x64 |")]
    cases = [row.split(" | ")[2] for row in rows]
    assert cases == ["plain", "stylepipe", "stylepipe, mmap", "stylepipe, mmap + THP"] + [
        c for c in cases[4:] if c.startswith("stylepipe ")
    ]
    assert len(cases) == 5  # and the precision auto did not pick
    assert "| total |" in out  # the per-layer table

    data = json.loads(figures.read_text())
    assert set(data) == {"machine", "conv", "kernels", "cases"}
    assert data["conv"]["peak"]["fp32"] > 0 and data["conv"]["peak"]["bf16"] > 0
    shapes = {tuple(row["shape"]) for row in data["conv"]["rows"]}
    assert (3, 16, 9, 1) in shapes and (64, 64, 3, 1) in shapes  # style16's first and trunk
    by_path = {case["path"]: case for case in data["cases"]}
    assert by_path["plain"]["x_plain"] == pytest.approx(1.0)
    for case in data["cases"]:
        assert "error" not in case, case
        assert case["seconds"] > 0 and case["peak_mb"] > 100 and case["faults"] >= 0
        # 22.2 GFLOP for 512x512 (counted by hooks and torch's counter alike), so 64x64
        assert case["gflop"] == pytest.approx(22.196256768 / 64)
        assert case["of_peak"] > 0 and case["of_bound"] > 0
