"""Judge style models with an independent ImageNet network (evaluation only).

Each style model (an installed name, or a pack folder) stylizes the content photos with
stylepipe's own ``style`` filter; a MobileNet v1 that no model is trained with (see
``judge_metric.py``) then measures the output's Gram distance to its own painting and to
every other distinct painting in ``style_images/``, whether its own is the nearest, and
its content distance to the photo; the same for Johnson et al.'s output of the same
painting on the same photo, where ``reference_outputs/`` has one. Prints a Markdown table,
writes ``--json`` and side-by-side sheets (photo | ours | Johnson's | painting) to
``--out``: not shippable (licences of the paintings and reference outputs).

    .venv/bin/python benchmarks/judge.py mosaic starry-night great-wave composition-vii
    .venv/bin/python benchmarks/judge.py --references-only --json runs/judge/references.json
    .venv/bin/python benchmarks/judge.py path/to/pack-folder --size 256 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import judge_metric as jm  # noqa: E402
import judge_report as rep  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
PHOTOS = "chicago,amber,hoovertowernight"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        epilog=doc.split("\n\n")[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("models", nargs="*", help="style model names or pack folders")
    p.add_argument("--references-only", action="store_true", help="judge Johnson's outputs")
    p.add_argument("--photos", default=PHOTOS, help=f"content photo stems (default {PHOTOS})")
    p.add_argument("--size", type=int, default=512, help="long-side cap of every image (0: none)")
    p.add_argument("--assets", type=Path, default=ASSETS, help="the shared assets folder")
    p.add_argument("--models-home", type=Path, help="STYLEPIPE_HOME holding the model packs")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "judge", help="sheets folder")
    p.add_argument("--no-sheets", action="store_true", help="write no side-by-side sheets")
    p.add_argument("--device", default="cpu", help="device of the style models")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the judge is light, and more threads crawl on a "
        "CPU another job is using)",
    )
    args = p.parse_args(argv)
    if not args.models and not args.references_only:
        p.error("name style models, or pass --references-only")
    return args


@dataclass(frozen=True)
class Reference:
    """One of Johnson's (or pytorch/examples') outputs: its photo and painting."""

    path: Path
    photo: str
    painting: str


def references(assets: Path, photos: dict[str, Path]) -> list[Reference]:
    """Reference outputs named ``<photo>_<painting>`` or ``<photo>-<painting>``; paper
    (eccv16) models first, so they are the ones a model is compared with."""
    found = []
    for path in sorted((assets / "reference_outputs").rglob("*.jpg")):
        photo = next((s for s in photos if path.stem.startswith(s + "_")), None)
        photo = photo or next((s for s in photos if path.stem.startswith(s + "-")), None)
        if photo:
            found.append(Reference(path, photo, jm.painting_name(path.stem[len(photo) + 1 :])))
    return sorted(found, key=lambda r: "eccv" not in str(r.path))


def content_photos(assets: Path, stems: list[str]) -> dict[str, Path]:
    every = {p.stem: p for p in sorted((assets / "content_images").rglob("*.jpg"))}
    missing = [s for s in stems if s not in every]
    if missing:
        raise SystemExit(f"no content photo {', '.join(missing)} in {assets / 'content_images'}")
    return {s: every[s] for s in stems}


@dataclass
class Opened:
    """A style model to judge: its label, the names its painting may go by, its pack
    folder, and stylepipe's ``style`` filter with the model loaded."""

    label: str
    painting_names: list[str]
    pack: Path
    style: Any


def open_models(names: list[str], device: str) -> list[Opened]:
    """Each model: a pack folder, or a name resolved in stylepipe's catalog (a name
    registered twice: the models home's copy, as ``benchmarks/quality.py`` does)."""
    from stylepipe.errors import StylepipeError
    from stylepipe.filters import FilterContext, RuntimeOptions
    from stylepipe.models.loading import open_model
    from stylepipe.packs.format import LOCAL_PLUGIN, read_pack
    from stylepipe.plugins import Catalog, load_plugins

    catalog = Catalog.build(load_plugins())
    ctx = FilterContext(RuntimeOptions(device=device, precision="fp32", tile=0), catalog)
    opened = []
    for name in names:
        try:
            if Path(name, "manifest.json").is_file():
                spec = read_pack(Path(name)).model_spec()
            else:
                same = [e for e in catalog.models if e.name == name]
                local = [e for e in same if e.source == LOCAL_PLUGIN]
                spec = (local[0] if len(same) > 1 and local else catalog.models.resolve(name)).item
            if spec.kind != "style":
                raise SystemExit(f"{name}: a {spec.kind} model, not a style model")
            style: Any = catalog.filters.resolve("style").item.from_raw({})
            style.model = open_model(ctx, spec)
        except StylepipeError as exc:
            raise SystemExit(f"{name}: {exc}") from exc
        settings = (spec.manifest.get("training") or {}).get("settings") or {}
        recorded = settings.get("style_image")
        known = [Path(recorded).stem, spec.name] if recorded else [spec.name]
        opened.append(Opened(spec.name, known, Path(spec.weights).parent, style))
    return distinct_labels(opened)


def distinct_labels(opened: list[Opened]) -> list[Opened]:
    """Models of the same name (a new pack beside the bundled one) labelled by their
    folder too, ``mosaic (old)``, so that rows and sheets (one per label) stay apart."""
    counts: dict[str, int] = {}
    for model in opened:
        counts[model.label] = counts.get(model.label, 0) + 1
    for model in opened:
        if counts[model.label] > 1:
            model.label = f"{model.label} ({model.pack.parent.name})"
    return opened


def stylize(style: Any, photo: torch.Tensor) -> torch.Tensor:
    """The ``style`` filter's output for ``(1, 3, H, W)`` in [0, 1]."""
    from stylepipe.imaging.frame import Frame

    pixels = np.ascontiguousarray(photo[0].permute(1, 2, 0).numpy(), np.float32)
    out = style.apply(Frame(pixels=pixels)).pixels
    return torch.from_numpy(np.ascontiguousarray(out)).permute(2, 0, 1)[None]


class Bench:
    """The judge with its paintings, the photos and the reference outputs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.size, self.assets = args.size, args.assets
        self.judge = jm.Judge(jm.load_network(args.assets))
        self.paintings = jm.Paintings.load(args.assets / "style_images", self.judge, args.size)
        self.photos = content_photos(args.assets, [s for s in args.photos.split(",") if s])
        self.refs = references(args.assets, self.photos)

    def verdict(self, image: torch.Tensor, photo: str, painting: str | None) -> dict[str, Any]:
        grams, content = self.judge.measure(image)
        base = jm.resize_to(jm.load_image(self.photos[photo], self.size), image)
        result = self.paintings.verdict(grams, painting)
        result["content"] = jm.content_distance(content, self.judge.measure(base)[1])
        return result

    def reference(self, photo: str, painting: str) -> Reference | None:
        return next((r for r in self.refs if (r.photo, r.painting) == (photo, painting)), None)

    def judge_reference(self, ref: Reference) -> tuple[dict[str, Any], torch.Tensor]:
        image = jm.load_image(ref.path, self.size)
        name = str(ref.path.relative_to(self.assets / "reference_outputs"))
        return {
            "reference": name,
            "photo": ref.photo,
            **self.verdict(image, ref.photo, ref.painting),
        }, image


def run_model(bench: Bench, model: Opened) -> tuple[dict[str, Any], list[list[rep.Cell]]]:
    """The model on every photo (and Johnson's output there), and its sheet's rows."""
    painting = bench.paintings.pick(model.painting_names)
    rows, sheet = [], []
    for photo in bench.photos:
        original = jm.load_image(bench.photos[photo], bench.size)
        ours = stylize(model.style, original)
        row: dict[str, Any] = {"photo": photo, "ours": bench.verdict(ours, photo, painting)}
        ref, theirs = bench.reference(photo, painting), None
        if ref is not None:
            row["johnson"], theirs = bench.judge_reference(ref)
        rows.append(row)
        sheet.append(
            [
                ("photo", original),
                (model.label, ours),
                ("Johnson" if ref else "no Johnson output", theirs),
                (painting, bench.paintings.file(painting)),
            ]
        )
        print(f"judged {model.label} on {photo}", file=sys.stderr, flush=True)
    record = {"model": model.label, "pack": str(model.pack), "painting": painting, "rows": rows}
    return record, sheet


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.models_home:
        os.environ["STYLEPIPE_HOME"] = str(args.models_home.resolve())
    torch.set_num_threads(args.threads)
    bench = Bench(args)
    results: dict[str, Any] = {
        "judge": {
            "network": str(jm.JUDGE_DIR),
            "style_layers": list(jm.STYLE_LAYERS),
            "content_layer": jm.CONTENT_LAYER,
            "size": args.size,
            "painting_scales": list(jm.PAINTING_SCALES),
        },
        "paintings": bench.paintings.files(),
        "models": [],
    }
    sheets: dict[str, list[list[rep.Cell]]] = {}
    if args.references_only:
        results["references"], sheets["references"] = [], []
        for ref in bench.refs:
            verdict, image = bench.judge_reference(ref)
            results["references"].append(verdict)
            photo = jm.load_image(bench.photos[ref.photo], args.size)
            painting = bench.paintings.file(ref.painting)
            sheets["references"].append(
                [("photo", photo), (verdict["reference"], image), (ref.painting, painting)]
            )
    for model in open_models(args.models, args.device):
        record, sheets[model.label] = run_model(bench, model)
        results["models"].append(record)
    print(rep.markdown(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    for name, rows in ({} if args.no_sheets else sheets).items():
        rep.save_sheet(rows, args.out / f"{name}.jpg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
