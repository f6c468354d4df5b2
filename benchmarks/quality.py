"""Quality report of the trained models (issue 6), measured in one run on this machine.

Style: on held-out photos (``content_images``), the content, style and TV losses -- the
training criterion of each model, rebuilt from its manifest -- of the network's output
and of an optimisation-based stylisation (Gatys et al. 2016) of the same photo from the
content image, at each ``--gatys-iters`` checkpoint, with the time of each and the
speed-up: Gatys' time to reach the network's total loss over the network's time
(Johnson et al. 2016, sec. 4.1, claim comparable loss at ~1000x less time).

Super-resolution: PSNR/SSIM (Y channel, ``scale`` border pixels cropped) and sharpness
(mean gradient magnitude of the output over the original's) of bicubic and of the
pixel-loss and feature-loss models at x4 and x8 on Set5, Set14 and BSD100, under the
paper's degradation (Gaussian blur + bicubic; primary) and plain bicubic (secondary),
plus image grids of detail crops.

Judge (``--parts judge``, issue 20): each style model on chicago, amber and
hoovertowernight, measured by an ImageNet MobileNet that nothing is trained with
(``judge.py``): its Gram distance to its own painting and to every other painting in
``style_images``, whether its own is the nearest, its content distance to the photo, and
the same for Johnson et al.'s output where ``reference_outputs`` has one; side-by-side
sheets go to ``<out>/judge`` (not shippable: licences).

Writes ``quality.json``, ``quality.md`` (tables for the README) and PNGs to ``--out``
and prints the tables. The CPU may be shared: compare times within one run.

    STYLEPIPE_HOME=runs/home .venv/bin/python benchmarks/quality.py --out runs/quality
    .venv/bin/python benchmarks/quality.py --quick --models-home runs/home   # smoke
    .venv/bin/python benchmarks/quality.py --parts sr --sr-sets Set5 --sr-images 2
    .venv/bin/python benchmarks/quality.py --parts judge --styles mosaic,udnie
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import judge  # noqa: E402
import judge_report  # noqa: E402
import quality_report as report  # noqa: E402
import quality_sr as srq  # noqa: E402
import quality_style as styleq  # noqa: E402

from stylepipe.errors import ModelError, NotFoundError, StylepipeError  # noqa: E402
from stylepipe.models.loading import load_model
from stylepipe.packs.format import LOCAL_PLUGIN
from stylepipe.plugins import Catalog, load_plugins  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
QUICK = {"sizes": "128", "gatys_iters": "10,20", "photos": 1, "sr_sets": "Set5", "sr_images": 2}


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _names(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--models-home", type=Path, help="STYLEPIPE_HOME holding the model packs")
    p.add_argument(
        "--parts", default="style,sr", help="style, sr, judge (comma-separated; default style,sr)"
    )
    p.add_argument("--judge-size", type=int, default=512, help="long side of the judged images")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "quality", help="output folder")
    p.add_argument("--assets", type=Path, default=ASSETS, help="the shared assets folder")
    p.add_argument("--styles", help="style models, comma-separated (default: every installed)")
    p.add_argument("--sizes", default="256,512", help="square sizes of the photos")
    p.add_argument("--photos", type=int, default=6, help="held-out photos (of 6)")
    p.add_argument("--gatys-photos", type=int, help="photos Gatys runs on (default: --photos)")
    p.add_argument("--gatys-iters", default="100,300,500", help="Gatys checkpoint iterations")
    p.add_argument("--gatys-optimizer", choices=("adam", "lbfgs"), default="adam")
    p.add_argument("--gatys-lr", type=float, help="default: 0.02 (Adam), 1 (L-BFGS)")
    p.add_argument("--repeats", type=int, default=3, help="timed network runs (median)")
    p.add_argument("--sr4-pixel", default="sr4-pixel", help="x4 pixel-loss model ('' skips)")
    p.add_argument("--sr4", default="sr4", help="x4 feature-loss model ('' skips)")
    p.add_argument("--sr8", default="sr8", help="x8 feature-loss model ('' skips)")
    p.add_argument("--sr-sets", default="Set5,Set14,BSD100", help="benchmark sets")
    p.add_argument("--sr-images", type=int, help="at most this many images per set")
    p.add_argument("--crop", type=int, default=96, help="side of the grid crops (HR pixels)")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="networks and Gatys' loss network (losses are always measured in fp32)",
    )
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--quick", action="store_true", help="smoke run: " + json.dumps(QUICK))
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _weights_id(entry: Any) -> str:
    weights = Path(entry.item.weights)
    return (entry.item.manifest.get("files") or {}).get(weights.name) or str(weights)


def resolve_model(catalog: Catalog, name: str) -> Any:
    """The catalog entry ``name`` names. A short name that several plugins register
    (a pack both bundled and in the models home) picks the models home's
    (``stylepipe_local``) copy, with a note when their weights differ."""
    if "/" not in name:
        same = [e for e in catalog.models if e.name == name]
        if len(same) > 1:
            local = [e for e in same if e.source == LOCAL_PLUGIN] or same
            if len({_weights_id(e) for e in same}) > 1:
                log(
                    f"note: {name!r} is registered {len(same)} times with different weights; "
                    f"using {local[0].qualified_name}"
                )
            return local[0]
    return catalog.models.resolve(name)


def load_named(catalog: Catalog, name: str, kind: str, precision: str) -> Any:
    """(spec, loaded model) of the model ``name`` of ``kind``, or None (with a message)
    when it is not installed."""
    try:
        entry = resolve_model(catalog, name)
    except NotFoundError:
        log(f"skipped {kind} model {name!r}: not installed")
        return None
    spec = entry.item
    if spec.kind != kind:
        log(f"skipped {name!r}: a {spec.kind} model, not {kind}")
        return None
    arch = catalog.architectures.get(spec.architecture)
    return spec, load_model(spec, arch, device="cpu", precision=precision, tile=0)


def style_models(args: argparse.Namespace, catalog: Catalog) -> list[tuple[str, str]]:
    """(label, name to load) of ``--styles``, or of every installed style model once: a
    pack installed both locally and bundled with the same weights (sha256) counts once;
    labels that would be ambiguous are qualified (``<source>/<name>``)."""
    if args.styles:
        return [(n, n) for n in _names(args.styles)]
    kept: dict[tuple[str, str], Any] = {}
    for entry in sorted(catalog.models, key=lambda e: (e.name, e.source)):
        if entry.item.kind == "style":
            kept.setdefault((entry.name, _weights_id(entry)), entry)
    counts = Counter(name for name, _ in kept)
    return [
        (e.name if counts[e.name] == 1 else e.qualified_name, e.qualified_name)
        for e in kept.values()
    ]


def style_one(
    model: Any, criterion: Any, content: torch.Tensor, args: argparse.Namespace, gatys: bool
) -> tuple[dict[str, Any], list[tuple[str, torch.Tensor]]]:
    """One photo at one size: the network's losses and time, and Gatys' run."""
    output, seconds = styleq.run_network(model, content, args.repeats)
    result: dict[str, Any] = {
        "network": {**styleq.measure(criterion, output, content), "seconds": seconds}
    }
    pictures = [("photo", content), ("network", output)]
    if gatys:
        autocast = torch.bfloat16 if args.precision == "bf16" else None
        lr = args.gatys_lr or (0.02 if args.gatys_optimizer == "adam" else 1.0)
        run = styleq.gatys(
            criterion,
            content,
            _ints(args.gatys_iters),
            optimizer=args.gatys_optimizer,
            lr=lr,
            autocast=autocast,
        )
        reach = run.time_to_reach(result["network"]["total"])
        result["gatys"] = {
            "checkpoints": run.checkpoints,
            "reach": {"iteration": reach[0], "seconds": reach[1]} if reach else None,
        }
        pictures.append((f"Gatys {run.checkpoints[-1]['iteration']} it", run.image))
    return result, pictures


def _describe(name: str, size: int, photo: str, r: dict[str, Any]) -> str:
    net = r["network"]
    text = f"{name} {size} {photo}: network {net['seconds']:.3f} s total {net['total']:.4g}"
    for mark in r.get("gatys", {}).get("checkpoints", []):
        text += f"; Gatys {mark['iteration']}: {mark['total']:.4g} at {mark['seconds']:.1f} s"
    return text


def run_style_model(
    names: tuple[str, str], catalog: Catalog, photos: list[Path], args: argparse.Namespace
) -> tuple[dict[str, Any], dict[int, list[tuple[str, torch.Tensor]]]] | None:
    """One style model on every photo and size; None (with a message) when it is not
    installed or records no training objective."""
    name, qualified = names
    loaded = load_named(catalog, qualified, "style", args.precision)
    if loaded is None:
        return None
    spec, model = loaded
    try:
        objective = styleq.read_objective(spec, [Path.cwd(), ROOT, args.assets])
        criterion, warning = styleq.build_criterion(objective, args.loss_nets)
    except StylepipeError as exc:
        log(f"skipped style model {name!r}: {exc}")
        return None
    if warning:
        log(f"warning: {warning}")
    gatys_n = args.photos if args.gatys_photos is None else args.gatys_photos
    runs, strips = [], {}
    for size in _ints(args.sizes):
        for i, photo in enumerate(photos):
            content = styleq.square_photo(photo, size)
            result, pictures = style_one(model, criterion, content, args, i < gatys_n)
            runs.append({"photo": photo.name, "size": size, **result})
            log(_describe(name, size, photo.name, runs[-1]))
            if i == 0:
                strips[size] = [(f"{name}: {t}", x) for t, x in pictures]
    record = {"model": name, "objective": objective.describe(), "warning": warning, "runs": runs}
    return record, strips


def run_style(args: argparse.Namespace, catalog: Catalog) -> dict[str, Any]:
    """Every style model on the held-out photos; writes the comparison strips."""
    from stylepipe_training.data import scan_photos

    photos = scan_photos(args.assets / "content_images").files[: args.photos]
    if not photos:
        log(f"style part skipped: no photos in {args.assets / 'content_images'}")
        return {}
    args.loss_nets = styleq.LossNets(roots=[args.assets])
    models, summaries, strips = [], [], {}
    for names in style_models(args, catalog):
        done = run_style_model(names, catalog, photos, args)
        if done is None:
            continue
        record, model_strips = done
        name = names[0]
        models.append(record)
        for size, row in model_strips.items():
            strips.setdefault(size, []).append(row)
            runs = [r for r in record["runs"] if r["size"] == size]
            summaries.append({"model": name, "size": size, **report.style_summary(runs)})
    for size, rows in strips.items():
        report.grid(rows).save(args.out / f"style_strip_{size}.png")
    return {"photos": [p.name for p in photos], "models": models, "summary": summaries}


def run_judge(args: argparse.Namespace, catalog: Catalog) -> dict[str, Any]:
    """Every style model (``--styles``) judged by the independent network."""
    names = [load for _label, load in style_models(args, catalog)]
    argv = [*names, "--size", str(args.judge_size), "--assets", str(args.assets)]
    argv += ["--out", str(args.out / "judge"), "--threads", str(torch.get_num_threads())]
    jargs = judge.parse_args(argv)
    bench = judge.Bench(jargs)
    results: dict[str, Any] = {"size": jargs.size, "models": []}
    for model in judge.open_models(jargs.models, jargs.device):
        record, sheet = judge.run_model(bench, model)
        results["models"].append(record)
        judge_report.save_sheet(sheet, jargs.out / f"{model.label}.jpg")
    return results


def sr_models(args: argparse.Namespace, catalog: Catalog) -> list[srq.SRModel]:
    found = []
    for name, loss in ((args.sr4_pixel, "pixel"), (args.sr4, "feature"), (args.sr8, "feature")):
        loaded = load_named(catalog, name, "sr", args.precision) if name else None
        if loaded is not None:
            found.append(srq.SRModel(label=f"{name} ({loss})", loss=loss, model=loaded[1]))
    return found


def run_sr(args: argparse.Namespace, catalog: Catalog) -> dict[str, Any]:
    """Bicubic and the SR models on each set, scale and protocol; writes the grids."""
    models = sr_models(args, catalog)
    root = args.assets / "sr_benchmarks"
    sets = [s for s in _names(args.sr_sets) if (root / s / "HR").is_dir()]
    for missing in set(_names(args.sr_sets)) - set(sets):
        log(f"skipped SR set {missing}: no {root / missing / 'HR'}")
    tables: dict[str, list[dict[str, Any]]] = {}
    images: list[dict[str, Any]] = []
    grids: dict[int, list[list[tuple[str, torch.Tensor]]]] = {}
    for protocol in srq.PROTOCOLS:
        for name in sets:
            for scale in (4, 8):
                mine = [m for m in models if m.scale == scale]
                rows, kept = srq.evaluate_set(root / name, scale, mine, protocol, args.sr_images)
                images += [{"protocol": protocol, "set": name, "scale": scale, **r} for r in rows]
                for s in srq.summarise(rows):
                    tables.setdefault(protocol, []).append({"set": name, "scale": scale, **s})
                    psnr = "-" if s["psnr"] is None else f"{s['psnr']:.2f} dB"
                    log(f"{protocol} {name} x{scale} {s['method']}: {psnr}, grid {s['grid']:.3f}")
                if protocol == srq.PROTOCOLS[0]:
                    grids.setdefault(scale, []).extend(_grid_rows(kept, scale, args.crop, name))
    for scale, rows in grids.items():
        report.grid(rows, zoom=2).save(args.out / f"sr_grid_x{scale}.png")
    return {"models": [m.label for m in models], "sets": sets, "tables": tables, "images": images}


def _grid_rows(kept: dict[str, Any], scale: int, crop: int, set_name: str) -> list[list[Any]]:
    rows = []
    for image, outputs in kept.items():
        crops = srq.detail_crop(outputs, scale, crop)
        order = [k for k in crops if k != "original"] + ["original"]
        stem = Path(image).stem
        where = stem if stem == set_name else f"{set_name}/{stem[:12]}"
        rows.append([(f"{where}: {k}" if k == order[0] else k, crops[k]) for k in order])
    return rows


def sr_targets(tables: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The issue's targets, checked on Set5 x4 under each protocol."""
    lines = []
    for protocol, rows in tables.items():
        set5 = {r["method"]: r for r in rows if r["set"] == "Set5" and r["scale"] == 4}
        bicubic = set5.get("bicubic")
        for method, r in set5.items():
            if bicubic is None or method in (srq.BICUBIC, srq.ORIGINAL):
                continue
            gain = r["psnr"] - bicubic["psnr"]
            verdict = "met" if gain >= 1.0 or "(pixel)" not in method else "NOT met"
            target = " (target >= +1 dB: " + verdict + ")" if "(pixel)" in method else ""
            lines.append(
                f"- {protocol}, Set5 x4, {method}: {gain:+.2f} dB over bicubic{target}; "
                f"sharpness {r['sharpness']:.3f} (bicubic {bicubic['sharpness']:.3f}), "
                f"grid {r['grid']:.3f} (bicubic {bicubic['grid']:.3f})"
            )
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The report as Markdown."""
    parts = [f"Measured {results['date']} on {results['machine']}.\n"]
    style = results.get("style") or {}
    if style.get("summary"):
        parts.append("### Style: network vs optimisation (Gatys et al.)\n")
        parts.append(report.style_tables(style["summary"]) + "\n")
    if (results.get("judge") or {}).get("models"):
        parts.append("### Style: judged by an independent ImageNet network\n")
        parts.append(judge_report.markdown(results["judge"]) + "\n")
    sr = results.get("sr") or {}
    for protocol, rows in sr.get("tables", {}).items():
        parts.append(f"### Super-resolution, LR by {protocol}\n")
        parts.append(report.sr_table(rows) + "\n")
    if sr.get("tables"):
        parts.append("\n".join(sr_targets(sr["tables"])) + "\n")
    return "\n".join(parts)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
        f"load {load:.1f}), torch {torch.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.models_home:
        os.environ["STYLEPIPE_HOME"] = str(args.models_home.resolve())
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    catalog = Catalog.build(load_plugins())
    for message in catalog.warnings:
        log(f"warning: {message}")
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": machine()}
    results["settings"] = {k: str(v) for k, v in vars(args).items()}
    parts = _names(args.parts)
    try:
        if "style" in parts:
            results["style"] = run_style(args, catalog)
        if "sr" in parts:
            results["sr"] = run_sr(args, catalog)
        if "judge" in parts:
            results["judge"] = run_judge(args, catalog)
    except (StylepipeError, ModelError) as exc:
        log(f"error: {exc}")
        return 1
    (args.out / "quality.json").write_text(json.dumps(results, indent=1) + "\n")
    text = markdown(results)
    (args.out / "quality.md").write_text(text)
    print(text)
    log(f"wrote {args.out}/quality.json, quality.md and the PNGs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
