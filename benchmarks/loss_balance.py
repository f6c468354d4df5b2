"""Calibrate style training's loss weights on the paper's own outputs.

Scores images on the training objective's two terms, with the loss network the bundled
styles train with (ImageNet VGG19 conv1_1..conv3_4 from ../shared/assets, Caffe input):

* content: relu2_2 (``--content-layer``) mean squared error against the photo, divided
  by the photo's mean squared feature (the ``target`` scaling of ``--loss-net vgg19``);
* style: each style layer's squared Gram distance to the painting's, divided by the
  painting's squared Gram norm, averaged over the layers (``--style-layers``).

For each style with a reference output of Johnson's model (``reference_outputs/``), it
prints the photo itself (content 0, style far), Johnson's output, and any images given
with ``--extra``. A style weight ``w`` makes the training prefer an output that scores
``content + w * style`` lower, so the weight that makes Johnson's balance better than the
photo and better than a washed-out texture is read off these figures.

    .venv/bin/python benchmarks/loss_balance.py
    .venv/bin/python benchmarks/loss_balance.py --style mosaic --extra out/chicago.jpg
    .venv/bin/python benchmarks/loss_balance.py --style mosaic --content-layer relu3_3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT.parent / "shared" / "assets"
VGG = "loss_networks/vgg19-imagenet-conv1-3/weights.safetensors"
LAYERS = "relu1_1,relu1_2,relu2_1,relu2_2,relu3_1,relu3_4"
JJ = "jcjohnson_fast_neural_style"
#: style name -> (painting, Johnson's output on chicago.jpg), under assets/
STYLES = {
    "mosaic": (
        "style_images/pytorch_examples/mosaic.jpg",
        f"reference_outputs/{JJ}/chicago_mosaic.jpg",
    ),
    "starry-night": (
        f"style_images/{JJ}/starry_night_crop.jpg",
        f"reference_outputs/{JJ}/eccv16/chicago_starry_night.jpg",
    ),
    "great-wave": (
        f"style_images/{JJ}/wave_crop.jpg",
        f"reference_outputs/{JJ}/eccv16/chicago_wave.jpg",
    ),
    "composition-vii": (
        f"style_images/{JJ}/composition_vii.jpg",
        f"reference_outputs/{JJ}/eccv16/chicago_composition_vii.jpg",
    ),
    "the-scream": (
        f"style_images/{JJ}/the_scream.jpg",
        f"reference_outputs/{JJ}/chicago_scream.jpg",
    ),
    "udnie": (
        f"style_images/{JJ}/udnie.jpg",
        f"reference_outputs/{JJ}/chicago_udnie.jpg",
    ),
}
PHOTO = f"content_images/{JJ}/chicago.jpg"


def load(path: Path, width: int) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1], resized to ``width`` pixels wide."""
    image = Image.open(path).convert("RGB")
    height = round(image.height * width / image.width)
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]


def imagenet_vgg19(assets: Path):
    """The loss network the bundled styles train with: the partial ImageNet VGG19 under
    ``assets`` (Caffe input convention), in eval mode."""
    from stylepipe_training.lossnet import LossNetOptions, get_loss_network

    options = LossNetOptions(weights=assets / VGG, convention="caffe")
    return get_loss_network("vgg19").build(options).eval()


def scores(net, image, photo_feature, grams, layers, content_layer) -> tuple[float, list[float]]:
    """The content term and the per-layer style terms of ``image``."""
    from stylepipe_training.losses import gram_matrix

    feats = net(image, dict.fromkeys([*layers, content_layer]))
    distance = (feats[content_layer] - photo_feature).pow(2).mean()
    content = float(distance / photo_feature.pow(2).mean())
    style = [
        float((gram_matrix(feats[k]) - grams[k]).pow(2).sum() / grams[k].pow(2).sum())
        for k in layers
    ]
    return content, style


def report(net, args: argparse.Namespace, name: str, layers: list[str]) -> None:
    from stylepipe_training.losses import gram_matrix

    painting, reference = STYLES[name]
    photo = load(args.assets / PHOTO, args.width)
    size = tuple(photo.shape[-2:])
    style = load(args.assets / painting, args.style_size)
    grams = {k: gram_matrix(v) for k, v in net(style, layers).items()}
    photo_feature = net(photo, [args.content_layer])[args.content_layer]
    rows = [("photo", photo), ("Johnson's model", load(args.assets / reference, args.width))]
    rows += [(str(p), load(p, args.width)) for p in args.extra]
    for label, image in rows:
        if tuple(image.shape[-2:]) != size:
            image = torch.nn.functional.interpolate(image, size=size, mode="bilinear")
        content, per_layer = scores(net, image, photo_feature, grams, layers, args.content_layer)
        style_mean = float(np.mean(per_layer))
        balance = content / style_mean if style_mean else float("inf")
        print(
            f"{name:16} {label[:34]:34} {content:8.3f} {style_mean:8.3f} {balance:8.1f}  "
            + " ".join(f"{s:.3f}" for s in per_layer)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--style", action="append", choices=sorted(STYLES), help="default: all")
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more outputs to score")
    parser.add_argument("--assets", type=Path, default=ASSETS, help="the shared assets folder")
    parser.add_argument("--width", type=int, default=512, help="photo width (pixels)")
    parser.add_argument("--style-size", type=int, default=384, help="painting width (pixels)")
    parser.add_argument("--style-layers", default=LAYERS, help="comma-separated ReLUs")
    parser.add_argument("--content-layer", default="relu2_2", help="the content term's ReLU")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not (args.assets / VGG).is_file():
        raise SystemExit(f"needs {args.assets / VGG} (../shared/assets)")
    net = imagenet_vgg19(args.assets)
    layers = args.style_layers.split(",")
    print(f"{'style':16} {'image':34} {'content':>8} {'style':>8} {'c / s':>8}  per layer")
    with torch.no_grad():
        for name in args.style or sorted(STYLES):
            report(net, args, name, layers)


if __name__ == "__main__":
    main()
