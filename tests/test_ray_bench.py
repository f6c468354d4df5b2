"""benchmarks/ray_engine.py's simulated scale at a small size (no Ray instance): every
step of the driver's side is measured, with its rate and the driver's memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ray_engine.py"


def test_the_simulated_scale_measures_each_driver_step(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    argv = [sys.executable, str(SCRIPT), "--skip-ray", "--paths", "3000", "--json", str(figures)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    simulated = json.loads(figures.read_text())["simulated"]
    assert simulated["paths"] == 3000
    for step in ("plan_outputs", "job_and_preflight", "manifest", "record_result_rows"):
        assert simulated[step]["seconds"] >= 0 and simulated[step]["rss_mib"] > 0, step
    assert simulated["manifest"]["file_mib"] >= 0
    assert simulated["rss_peak_mib"] >= simulated["rss_start_mib"]
