"""`make demo`: run stylepipe's main job on the bundled sample photos.

Runs the CLI in-process (exactly what `stylepipe run` does): a pipeline of built-in
filters over samples/photos, then every installed style model and a x4 upscale when such
models are available. Prints where the results are and how long each step took.
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
OUT = HERE.parent / "demo-output"


def step(label: str, argv: list[str]) -> int:
    start = time.perf_counter()
    code = main(argv)
    sys.stderr.write(f"demo: {label}: exit {code} in {time.perf_counter() - start:.1f} s\n")
    return code


def models_of(kind: str) -> list[str]:
    catalog = App(load_plugins()).catalog
    return [e.qualified_name for e in catalog.models if e.item.kind == kind]


def run_demo() -> int:
    codes = [
        step(
            "web-ready copies (resize to 800 px, sharpen)",
            [
                "run",
                str(PHOTOS),
                "-o",
                str(OUT / "basic"),
                "--overwrite",
                "--filter",
                "resize:longest=800",
                "--filter",
                "sharpen",
                "--format",
                "webp",
            ],
        )
    ]
    styles, upscalers = models_of("style"), models_of("sr")
    for model in styles:
        target = OUT / "style" / model.replace("/", "_")
        codes.append(
            step(
                f"style {model}",
                [
                    "run",
                    str(PHOTOS),
                    "-o",
                    str(target),
                    "--overwrite",
                    "--filter",
                    f"style:model={model}",
                ],
            )
        )
    if upscalers:
        codes.append(
            step(
                "upscale x4",
                [
                    "run",
                    str(PHOTOS / "chelsea.jpg"),
                    "-o",
                    str(OUT / "upscale"),
                    "--overwrite",
                    "--filter",
                    "upscale:scale=4",
                ],
            )
        )
    if not styles:
        sys.stderr.write(
            "demo: no style models are installed yet; train one with\n"
            "  stylepipe train style STYLE.jpg --data PHOTOS --name mystyle\n"
            "or import one with `stylepipe import-model FILE --name NAME`.\n"
        )
    sys.stderr.write(f"demo: results are in {OUT}\n")
    return max(codes)


if __name__ == "__main__":
    sys.exit(run_demo())
