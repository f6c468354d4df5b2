"""`make demo`: run stylepipe's main jobs on the bundled sample photos.

Runs the CLI in-process (exactly what `stylepipe run` does), writing under demo-output/:

* ``basic/``: web-ready copies (shrunk to at most 800 px, never enlarged; sharpened;
  WebP) with built-in filters;
* ``style/<model>/``: every sample photo through every bundled style model;
* ``upscale/``: one photo shrunk to 320 pixels, then x4 with the bundled x4 model, and
  x4 with bicubic interpolation beside it for comparison;
* ``pipeline/``: samples/pipelines/stylize-then-upscale.toml on one photo (stylize at
  1200 pixels, then x4: 4800 pixels).

Prints where the results are and how long each step and the whole demo took. About a
minute on a 2-core CPU.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from stylepipe.app import App
from stylepipe.cli import main
from stylepipe.plugins import load_plugins

HERE = Path(__file__).resolve().parent
PHOTOS = HERE / "photos"
PIPELINE = HERE / "pipelines" / "stylize-then-upscale.toml"
OUT = HERE.parent / "demo-output"
BUNDLED = {"style": "stylepipe_style", "sr": "stylepipe_sr"}
UPSCALE_PHOTO = PHOTOS / "chelsea.jpg"
UPSCALE_INPUT_SIDE = 320  # x4 gives 1280 pixels: a few seconds on a CPU
PIPELINE_PHOTO = PHOTOS / "rocket.jpg"


def step(label: str, *argv: str | Path) -> int:
    """Run one ``stylepipe`` command line, reporting its exit status and time."""
    start = time.perf_counter()
    code = main([str(a) for a in argv])
    sys.stderr.write(f"demo: {label}: exit {code} in {time.perf_counter() - start:.1f} s\n")
    return code


def bundled_models(kind: str) -> list[str]:
    """Qualified names of the models that ship with stylepipe, of one kind."""
    catalog = App(load_plugins()).catalog
    return [
        e.qualified_name
        for e in catalog.models
        if e.item.kind == kind and e.source == BUNDLED[kind]
    ]


WEB_SIDE = 800  # web copies: at most this many pixels on the longer side, never enlarged


def basic() -> list[int]:
    return [
        step(
            f"web-ready copies (shrink to at most {WEB_SIDE} px, sharpen, WebP)",
            *("run", PHOTOS, "-o", OUT / "basic", "--overwrite", "-q"),
            *("--filter", f"resize:longest={WEB_SIDE},only_shrink=true", "--filter", "sharpen"),
            *("--format", "webp"),
        )
    ]


def styles(models: list[str]) -> list[int]:
    return [
        step(
            f"style {model} on {PHOTOS.name}/",
            *("run", PHOTOS, "-o", OUT / "style" / model.rpartition("/")[2], "--overwrite"),
            *("-q", "--filter", f"style:model={model}"),
        )
        for model in models
    ]


def upscale() -> list[int]:
    small = f"resize:longest={UPSCALE_INPUT_SIDE}"
    common = ("run", UPSCALE_PHOTO, "-o", OUT / "upscale", "--overwrite", "-q")
    return [
        step(
            f"{UPSCALE_PHOTO.name} at {UPSCALE_INPUT_SIDE} px, x4 with the bundled model",
            *common,
            *("--filter", small, "--filter", "upscale:scale=4", "--name", "{stem}_x4{ext}"),
        ),
        step(
            "the same x4 with bicubic interpolation, for comparison",
            *common,
            *("--filter", small, "--filter", "resize:scale=4,resample=bicubic"),
            *("--name", "{stem}_bicubic{ext}"),
        ),
    ]


def pipeline() -> list[int]:
    return [
        step(
            f"{PIPELINE.name} on {PIPELINE_PHOTO.name} (1200 px stylized, x4 to 4800 px)",
            *("run", PIPELINE_PHOTO, "-o", OUT / "pipeline", "--overwrite", "-q"),
            *("-p", PIPELINE),
        )
    ]


def run_demo() -> int:
    """Every demo step; the exit status is the worst of theirs."""
    start = time.perf_counter()
    style_models, sr_models = bundled_models("style"), bundled_models("sr")
    codes = basic() + styles(style_models)
    if sr_models:
        codes += upscale()
    if style_models and sr_models:
        codes += pipeline()
    else:
        sys.stderr.write(
            "demo: the bundled models are missing (a source checkout before "
            "`python training/bundle_models.py`?); only the basic filters ran\n"
        )
    elapsed = time.perf_counter() - start
    sys.stderr.write(f"demo: results are in {OUT} ({elapsed:.0f} s in all)\n")
    return max(codes)


if __name__ == "__main__":
    sys.exit(run_demo())
