"""The default style and upscaler (issue 18): an explicit, documented choice of each
built-in plugin (``DEFAULT_MODELS``, best first), not the first bundled model by name,
and named in the run's summary and report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import stylepipe_sr
import stylepipe_style
from model_helpers import catalog, write_sr_pack, write_style_pack
from PIL import Image
from stylepipe_sr.filter import DEFAULT_MODELS as SR_DEFAULTS
from stylepipe_style.filter import DEFAULT_MODELS as STYLE_DEFAULTS

from stylepipe.cli import main
from stylepipe.models.loading import pick_model
from stylepipe.ui import UI

#: The real bundled folders (the autouse fixture hides them from the catalog).
SHIPPED_STYLES = Path(stylepipe_style.__file__).resolve().parent / "models"
SHIPPED_SR = Path(stylepipe_sr.__file__).resolve().parent / "models"


@pytest.fixture
def bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny stand-ins for the bundled models, under their real names."""
    styles, upscalers = tmp_path / "styles", tmp_path / "sr"
    for name in ("composition-vii", "great-wave", "mosaic", "starry-night"):
        write_style_pack(styles, name)
    write_sr_pack(upscalers, "sr4")
    write_sr_pack(upscalers, "sr4-pixel", seed=1)
    write_sr_pack(upscalers, "sr8", scale=8)
    monkeypatch.setattr(stylepipe_style, "BUNDLED_MODELS", styles)
    monkeypatch.setattr(stylepipe_sr, "BUNDLED_MODELS", upscalers)


def run_cli(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], ui=UI(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_pick_model_takes_the_first_preferred_model_the_plugin_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("anise", "wave"):
        write_style_pack(tmp_path, name)
    monkeypatch.setattr(stylepipe_style, "BUNDLED_MODELS", tmp_path)
    cat = catalog()

    def pick(*preferred: str) -> str:
        return pick_model(cat, None, "style", bundled="stylepipe_style", preferred=preferred).name

    assert pick("wave", "anise") == "wave"
    assert pick("gone", "wave") == "wave"  # a preferred model that is not bundled is passed over
    assert pick("gone") == pick() == "anise"  # none preferred is bundled: the first by name
    assert pick_model(cat, "anise", "style", bundled="x", preferred=("wave",)).name == "anise"


def test_the_defaults_are_the_judged_best_not_the_first_by_name(bundled: None) -> None:
    cat = catalog()
    assert STYLE_DEFAULTS[0] == "starry-night" and SR_DEFAULTS[0] == "sr4-pixel"
    style = cat.filters.get("style").from_raw({})
    assert style.name_fields(cat) == {"model": "starry-night"}  # not composition-vii
    upscale = cat.filters.get("upscale")
    for raw, model in (({}, "sr4-pixel"), ({"scale": 2}, "sr4-pixel"), ({"scale": 8}, "sr8")):
        assert upscale.from_raw(raw).name_fields(cat)["model"] == model, raw


def test_the_summary_and_the_report_name_the_models_used(bundled: None, tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(tmp_path / "a.png")
    code, out, err = run_cli(
        "run", tmp_path / "a.png", "-o", tmp_path / "out", "--filter", "style",
        "--filter", "upscale:2", "--report", "-",
    )  # fmt: skip
    assert code == 0, err
    assert "of 1 file (" in err
    assert "style: starry-night (default), upscale: sr4-pixel (default)" in err
    assert json.loads(out)["models"] == [
        {"step": 1, "filter": "style", "model": "starry-night", "default": True},
        {"step": 2, "filter": "upscale", "model": "sr4-pixel", "default": True},
    ]
    code, _, err = run_cli(
        "run", tmp_path / "a.png", "-o", tmp_path / "o2", "--filter", "style:mosaic"
    )
    assert code == 0 and "; style: mosaic" in err and "(default)" not in err
    code, _, err = run_cli("run", tmp_path / "a.png", "-o", tmp_path / "o3", "--filter", "blur")
    assert code == 0 and "style:" not in err


def test_the_first_default_of_each_plugin_is_shipped() -> None:
    """The documented defaults are really bundled (else the first by name would win)."""
    assert (SHIPPED_STYLES / STYLE_DEFAULTS[0] / "manifest.json").is_file()
    assert (SHIPPED_SR / SR_DEFAULTS[0] / "manifest.json").is_file()
    shipped = {p.name for p in SHIPPED_STYLES.iterdir()} | {p.name for p in SHIPPED_SR.iterdir()}
    assert set(STYLE_DEFAULTS) | set(SR_DEFAULTS) <= shipped
