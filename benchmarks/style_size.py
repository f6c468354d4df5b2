"""What a style's training criterion can draw at each style size: Gatys optimisation.

A feed-forward style network can at best approach what optimising the image itself on
its criterion gives (Gatys, Ecker & Bethge 2016). This runs that optimisation (L-BFGS from
the photo's centre square) on the bundled recipe's criterion, the partial ImageNet VGG19
of ``loss_balance.py`` with content 1, style 10 and TV 10, with the painting resized to
each ``--sizes`` short side, and writes the pictures side by side with the painting and
Johnson's output. Use it to choose a style's ``--style-size`` before a long run: a
smaller painting makes the same layers see larger shapes of it.

    .venv/bin/python benchmarks/style_size.py --style great-wave --sizes 192,256,384

Totals at different sizes are measured against different Gram targets: compare the
pictures, not the numbers across sizes, or add ``--judge``: the independent ImageNet
judge of ``judge.py`` (evaluation only) then scores every picture, and Johnson's output
cut the same way, by its Gram distance to the painting and whether it is the nearest
painting. Compare criteria (``--style-layer-weights``, ``--style-weight``) by that::

    .venv/bin/python benchmarks/style_size.py --style mosaic --sizes 384 --judge \
        --style-layer-weights 0.5,0.5,1,1,1.5,1.5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from loss_balance import ASSETS, LAYERS, PHOTO, STYLES, VGG, imagenet_vgg19
from quality_report import grid
from quality_style import gatys, square_photo

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--style", choices=sorted(STYLES), default="great-wave")
    p.add_argument("--sizes", default="192,256,384", help="style sizes (short side, pixels)")
    p.add_argument("--photo-size", type=int, default=256, help="side of the photo's square")
    p.add_argument("--iterations", type=int, default=200, help="L-BFGS iterations per size")
    p.add_argument("--style-weight", type=float, default=10.0)
    p.add_argument("--tv-weight", type=float, default=10.0)
    p.add_argument("--style-layers", default=LAYERS, help="comma-separated ReLUs")
    p.add_argument("--style-layer-weights", help="one weight per style layer (default: 1 each)")
    p.add_argument("--judge", action="store_true", help="score each picture with the judge")
    p.add_argument("--assets", type=Path, default=ASSETS, help="the shared assets folder")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "style_size", help="folder")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p.parse_args(argv)


def layer_weights(args: argparse.Namespace) -> dict[str, float]:
    """``--style-layers`` weighted as ``stylepipe train`` weighs them on ``vgg19``: the
    given ``--style-layer-weights``, else 1/n each (the network's mean reduction)."""
    from stylepipe_training.config import parse_layer_weights

    weights = parse_layer_weights(args.style_layers, args.style_layer_weights) or {}
    if args.style_layer_weights is None:
        weights = {name: 1.0 / len(weights) for name in weights}
    return weights


def judge_scores(args: argparse.Namespace, pictures: list[tuple[str, torch.Tensor]]) -> None:
    """Print each picture's judge distance to the style's painting, its content distance
    to the photo (the first picture) and its nearest painting."""
    import judge_metric as jm

    judge = jm.Judge(jm.load_network(args.assets))
    paintings = jm.Paintings.load(args.assets / "style_images", judge, args.photo_size)
    own = paintings.pick([args.style])
    photo_content = judge.measure(pictures[0][1][None])[1]
    print(f"judge ({own}): {'picture':24} {'own':>7} {'content':>7} {'nearest':>12}")
    for label, image in pictures:
        grams, content = judge.measure(image[None])
        verdict = paintings.verdict(grams, own)
        lost = jm.content_distance(content, photo_content)
        print(
            f"judge ({own}): {label:24} {verdict['own']:7.4f} {lost:7.3f} {verdict['nearest']:>12}"
        )


def optimise(net, args: argparse.Namespace, size: int, photo: torch.Tensor) -> dict:
    """One Gatys run with the painting at ``size``: its final losses, time and image."""
    from stylepipe_training.losses import StyleCriterion
    from stylepipe_training.style import load_style_image

    painting = load_style_image(args.assets / STYLES[args.style][0], size)
    criterion = StyleCriterion(
        net,
        painting,
        content_weight=1.0,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        style_layers=layer_weights(args),
    )
    start = time.perf_counter()
    run = gatys(criterion, photo, [args.iterations], optimizer="lbfgs", lr=1.0)
    return {**run.checkpoints[-1], "wall_s": time.perf_counter() - start, "image": run.image}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not (args.assets / VGG).is_file():
        raise SystemExit(f"needs {args.assets / VGG} (../shared/assets)")
    torch.set_num_threads(args.threads)
    net = imagenet_vgg19(args.assets)
    photo = square_photo(args.assets / PHOTO, args.photo_size)
    painting, reference = (args.assets / path for path in STYLES[args.style])
    row = [("photo", photo[0])]
    print(f"{'size':>5} {'total':>7} {'content':>7} {'style':>7} {'tv':>7} {'s':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        result = optimise(net, args, size, photo)
        print(
            f"{size:5d} {result['total']:7.3f} {result['content']:7.3f} "
            f"{result['style']:7.3f} {result['tv']:7.3f} {result['wall_s']:6.0f}",
            flush=True,
        )
        row.append((f"style size {size}", result["image"][0]))
    extras = [("painting", square_photo(painting, args.photo_size)[0])]
    if reference.is_file():
        extras.append(("Johnson's model", square_photo(reference, args.photo_size)[0]))
    args.out.mkdir(parents=True, exist_ok=True)
    sheet = args.out / f"{args.style}.png"
    grid([row, extras]).save(sheet)
    print(f"sheet: {sheet}")
    if args.judge:
        judge_scores(args, [*row, *extras[1:]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
