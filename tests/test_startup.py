"""Startup stays light: loading the plugins, building the catalog and the commands that
only list or validate never import torch (it costs seconds on every invocation).

Each check runs in a fresh interpreter, since this test process has torch loaded already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from model_helpers import write_sr_pack, write_style_pack

HEAVY = ("torch", "torchvision", "safetensors")

# Runs in a subprocess: argv[1] is a work folder with in/ (images) and pipe.toml.
SCRIPT = """
import io, json, sys
from pathlib import Path

from stylepipe.cli import main
from stylepipe.plugins import Catalog, load_plugins
from stylepipe.ui import UI

HEAVY = {heavy!r}
work = Path(sys.argv[1])
catalog = Catalog.build(load_plugins())
style = catalog.architectures.get("johnson-style")
sr = catalog.architectures.get("johnson-sr")
report = {{
    "after_catalog": sorted(m for m in HEAVY if m in sys.modules),
    "filters": catalog.filters.names(),
    "models": catalog.models.names(),
    "style_defaults": style.default_params,
    "style_halo": style.tiling(**style.default_params).halo,
    "sr_halo": sr.tiling(**sr.default_params).halo,
    "style_params": [p.name for p in catalog.filters.get("style").param_specs()],
}}
codes = {{}}
for name, argv in [
    ("filters", ["filters", "--json"]),
    ("models", ["models"]),
    ("check", ["check", str(work / "pipe.toml")]),
    ("run", ["run", str(work / "in"), "-o", str(work / "out"), "--filter", "resize:scale=0.5"]),
]:
    out, err = io.StringIO(), io.StringIO()
    codes[name] = main(argv, ui=UI(stdout=out, stderr=err))
    if codes[name]:
        codes[name + "_stderr"] = err.getvalue()
report["codes"] = codes
report["after_commands"] = sorted(m for m in HEAVY if m in sys.modules)
# the control: building a network does import torch, so the checks above can fail
style.build(**style.default_params)
report["after_build"] = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps(report))
"""


def _run_fresh(work: Path, home: Path) -> dict:
    env = {**os.environ, "STYLEPIPE_HOME": str(home), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY), str(work)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_listing_and_checking_do_not_import_torch(tmp_path: Path, stylepipe_home: Path) -> None:
    write_style_pack(name="tiny")
    write_sr_pack(name="tiny-x4")
    (tmp_path / "in").mkdir()
    from PIL import Image

    Image.new("RGB", (8, 6), (10, 200, 30)).save(tmp_path / "in" / "a.png")
    (tmp_path / "pipe.toml").write_text(
        '[[step]]\nfilter = "style"\nmodel = "tiny"\nstrength = 0.5\n\n'
        '[[step]]\nfilter = "upscale"\nmodel = "tiny-x4"\n'
    )
    report = _run_fresh(tmp_path, stylepipe_home)

    assert report["after_catalog"] == []
    codes = report["codes"]
    assert (codes["filters"], codes["models"], codes["check"], codes["run"]) == (0, 0, 0, 0), codes
    assert report["after_commands"] == [], "a listing/validating command imported torch"
    assert "torch" in report["after_build"]  # the control: the detection works

    # what `stylepipe filters` and pipeline validation need is there without torch
    assert {"style", "upscale", "resize"} <= set(report["filters"])
    assert {"tiny", "tiny-x4"} <= set(report["models"])
    assert report["style_defaults"] == {"width": 32, "n_residual": 5}
    assert report["style_halo"] > 0 and report["sr_halo"] > 0
    assert {"model", "strength", "preserve_color", "work_size"} <= set(report["style_params"])
    with Image.open(tmp_path / "out" / "a.png") as image:
        assert image.size == (4, 3)
