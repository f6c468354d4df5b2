"""benchmarks/gpu_throughput.py, the prepared script for a lent GPU, run on the CPU at a
tiny size: every case runs and its figures are written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_throughput  # noqa: E402


def test_each_case_reports_images_per_second(tmp_path: Path, capsys) -> None:
    out = tmp_path / "gpu.json"
    argv = ["--device", "cpu", "--side", "32", "--images", "1", "--nets", "style16"]
    argv += ["--precision", "fp32"]  # auto is bf16 on CPUs with native bf16
    assert gpu_throughput.main([*argv, "--batches", "1,2", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["case"] for r in rows] == ["stylepipe", "plain batch 1", "plain batch 2"]
    for row in rows:
        assert row["precision"] == "fp32" and row["images_per_s"] > 0
        assert row["images"] >= 1 and row["peak_mb"] is None  # no device memory on the CPU
    assert rows[2]["images"] % 2 == 0  # whole batches
    assert "| style16 | plain batch 2 | fp32 |" in capsys.readouterr().out
