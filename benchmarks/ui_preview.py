"""Latency of the ``stylepipe ui`` live preview, as the page sees it.

Serves the page's API in-process (Starlette's TestClient, the same routes and preview
worker as ``stylepipe ui``), drops a sample photo and asks for previews as a moving
slider would: each request a new ``strength`` (the model stays loaded). For each
preview size it reports the first request (model set-up included) and the median and
90th percentile of the next ones: seconds the worker computed, and the whole round trip
(request, JSON check, preview, PNG encoding, response). Then the 100 % crop of a style
followed by an x4 upscale.

    .venv/bin/python benchmarks/ui_preview.py                     # mosaic, 256/384/512
    .venv/bin/python benchmarks/ui_preview.py --style starry-night --repeat 10
    .venv/bin/python benchmarks/ui_preview.py --photo my.jpg --json runs/ui_preview.json

The issue's goal is about 0.5 s at 256-512 px on a 2-core CPU. The CPU may be shared
(a training run, say): say so next to the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO / "samples" / "photos" / "astronaut.jpg"


def client(root: Path) -> tuple[Any, dict[str, str], Any]:
    """A test client of a fresh server state (bundled and installed models)."""
    from stylepipe.app import App
    from stylepipe.plugins import load_plugins
    from stylepipe.ui import UI
    from stylepipe.webui.server import create_app, create_state

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    app = App(load_plugins(), UI(stdout=io.StringIO(), stderr=io.StringIO()))
    state = create_state(app, root=root, port=8765)
    headers = {"x-stylepipe-token": state.guard.token, "origin": state.guard.origins[0]}
    return TestClient(create_app(state), base_url="http://127.0.0.1:8765"), headers, state


def measure(http: Any, headers: dict[str, str], doc: dict, view: dict, repeat: int) -> dict:
    """Seconds (worker, round trip) of ``repeat + 1`` previews, strength changing."""
    computed, trips = [], []
    for n in range(repeat + 1):
        step = {**doc["step"][0], "strength": round(1.0 - 0.05 * (n % 10), 2)}
        body = {"pipeline": {**doc, "step": [step, *doc["step"][1:]]}, "view": view}
        started = time.perf_counter()
        answer = http.post("/api/preview", json=body, headers=headers)
        trips.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise SystemExit(f"preview failed: {answer.text}")
        computed.append(json.loads(answer.headers["x-preview"])["seconds"])
    return summary(computed, trips)


def summary(computed: list[float], trips: list[float]) -> dict:
    warm, warm_trips = computed[1:], trips[1:]
    return {
        "first_s": round(trips[0], 3),
        "compute_median_s": round(statistics.median(warm), 3),
        "compute_p90_s": round(sorted(warm)[int(0.9 * (len(warm) - 1))], 3),
        "round_trip_median_s": round(statistics.median(warm_trips), 3),
        "round_trip_p90_s": round(sorted(warm_trips)[int(0.9 * (len(warm_trips) - 1))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="mosaic", help="style model (default: mosaic)")
    parser.add_argument("--photo", type=Path, default=PHOTO, help="photo (default: astronaut)")
    parser.add_argument("--sizes", default="256,384,512", help="preview sizes")
    parser.add_argument("--repeat", type=int, default=6, help="warm previews per case")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    import torch

    results: dict[str, Any] = {"cpu_threads": torch.get_num_threads(), "cases": {}}
    results["load_average"] = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as root:
        http, headers, state = client(Path(root))
        try:
            upload = {**headers, "x-photo-name": args.photo.name}
            answer = http.post("/api/photo", content=args.photo.read_bytes(), headers=upload)
            results["photo"] = answer.json()["photo"]
            style = {"step": [{"filter": "style", "model": args.style}]}
            for size in (int(s) for s in args.sizes.split(",")):
                view = {"mode": "whole", "size": size}
                case = measure(http, headers, style, view, args.repeat)
                results["cases"][f"{args.style} whole {size}px"] = case
            both = {"step": [*style["step"], {"filter": "upscale", "scale": 4}]}
            case = measure(http, headers, both, {"mode": "crop", "size": 384}, args.repeat)
            results["cases"][f"{args.style} + upscale x4, 100% crop 384px"] = case
        finally:
            state.close()
    report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def report(results: dict) -> None:
    photo, load = results["photo"], results["load_average"]
    size = f"{photo['width']}x{photo['height']}"
    print(f"photo {photo['name']} {size}, {results['cpu_threads']} torch threads, load {load:.2f}")
    print(f"{'case':44} {'first':>7} {'compute':>16} {'round trip':>16}")
    for name, case in results["cases"].items():
        compute = f"{case['compute_median_s']:.3f}/{case['compute_p90_s']:.3f}"
        trip = f"{case['round_trip_median_s']:.3f}/{case['round_trip_p90_s']:.3f}"
        print(f"{name:44} {case['first_s']:7.2f} {compute:>16} {trip:>16}")
    print("(seconds; compute and round trip: median/p90 of the warm previews)")


if __name__ == "__main__":
    main()
