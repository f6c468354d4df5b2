"""Adds ``stylepipe train`` and ``stylepipe eval`` through ``register_commands``.

This module stays import-light: the training code is imported only when a training
command runs, so ``stylepipe run`` never pays for it. Every training option defaults
to "not given" so that a resumed run can tell what the user asked to change.
"""

from __future__ import annotations

import argparse
from typing import Any

from stylepipe.hookspecs import hookimpl

from .config import SR_ARCHES, STYLE_ARCHES, SRConfig, StyleConfig
from .help_texts import EVAL_EPILOG, EVAL_GROUP_EPILOG, SR_EPILOG, STYLE_EPILOG, TRAIN_EPILOG
from .lossnet import get_loss_network, loss_network_names

SUPPRESS = argparse.SUPPRESS
RAW = argparse.RawDescriptionHelpFormatter


def _opt(parser: Any, *flags: str, **kwargs: Any) -> None:
    parser.add_argument(*flags, default=SUPPRESS, **kwargs)


def _add_length(parser: Any) -> None:
    group = parser.add_mutually_exclusive_group()
    _opt(group, "--iterations", type=int, metavar="N", help="training steps")
    _opt(
        group,
        "--epochs",
        type=float,
        metavar="E",
        help="passes over the photos (converted to steps)",
    )


def _add_common(parser: argparse.ArgumentParser, defaults: Any) -> None:
    """Options shared by ``train style`` and ``train sr``."""
    run = parser.add_argument_group("run")
    _opt(run, "--data", metavar="PHOTO_DIR", help="folder of photos (searched recursively)")
    _opt(run, "--name", help="model name (lowercase letters, digits, - _ .)")
    _add_length(run)
    _opt(run, "--batch-size", type=int, help=f"images per step (default {defaults.batch_size})")
    _opt(
        run,
        "--lr",
        type=float,
        help=f"Adam learning rate (default {defaults.lr}); may change on --resume, and is "
        "halved automatically after a burst of loss spikes",
    )
    _opt(run, "--seed", type=int, help="seed of initialisation and data order (default 0)")
    _opt(run, "--workdir", help="folder of run folders (default: <user data dir>/runs)")
    _opt(
        run,
        "--resume",
        nargs="?",
        const="auto",
        metavar="CHECKPOINT",
        help="continue a run: a checkpoint file, a run folder, or (bare) the run of --name; "
        "the loss weights may change (recorded with the step in the manifest)",
    )
    _opt(
        run,
        "--init-from",
        metavar="MODEL",
        help="start from an installed model's weights (a name from `stylepipe models` or a "
        "pack folder) at the step it was trained to; --iterations stays the total. "
        "Continues a training whose run folder is gone, or fine-tunes a shared model",
    )
    _opt(
        run,
        "--restart",
        action="store_true",
        help="discard the checkpoints of a run with the same name and start over",
    )
    _opt(
        run,
        "--preview",
        metavar="IMAGE",
        help="photo shown at each checkpoint and in the pack (default: the first photo)",
    )
    loss = parser.add_argument_group("loss network")
    names = loss_network_names()
    _opt(
        loss,
        "--loss-net",
        choices=["auto", *names],
        help="auto (default): the best ImageNet VGG weights found (a given file; else "
        "torchvision's VGG16, then VGG19, from the torch hub cache), never random ones; "
        + "; ".join(f"{n}: {get_loss_network(n).summary}" for n in names),
    )
    _opt(loss, "--loss-net-seed", type=int, help="seed of vgg16-random's weights (default 0)")
    _opt(
        loss,
        "--vgg-weights",
        metavar="FILE",
        help="ImageNet VGG16/VGG19 weights (torchvision layout, full or features only, at "
        "least conv1_1..conv3_x); default: $STYLEPIPE_VGG_WEIGHTS, the torch hub cache",
    )
    _opt(
        loss,
        "--vgg-input",
        choices=("caffe", "torchvision"),
        help="input convention of a weights file that does not state one: caffe (BGR, "
        "0-255, minus the mean; Oxford/Keras weights) or torchvision (RGB, mean/std)",
    )
    _opt(loss, "--no-download", action="store_true", help="never download VGG weights")
    runtime = parser.add_argument_group("runtime")
    _opt(runtime, "--device", help="auto (default), cpu, cuda, cuda:N or mps")
    _opt(
        runtime,
        "--precision",
        choices=("auto", "fp32", "bf16"),
        help="auto (default): bf16 autocast where the hardware runs it natively",
    )
    _opt(
        runtime,
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="steps between checkpoints (default 100)",
    )
    _opt(
        runtime,
        "--threads",
        type=int,
        help="CPU threads for torch (default: torch's "
        "choice); on a shared CPU fewer threads than cores is often much faster",
    )
    _opt(runtime, "--workers", type=int, help="photo decoding threads (default 2; 0: none)")
    _opt(
        runtime,
        "--compile",
        action="store_true",
        help="torch.compile the training step: 1.38x faster for a width-16 style at 256 px "
        "on a 2-core CPU (4.05 instead of 5.6 s/step), about 1.5x at full width, no gain "
        "at 128 px; about a minute to compile (off by default)",
    )
    _opt(runtime, "--no-channels-last", action="store_true", help="keep NCHW memory layout")
    pack = parser.add_argument_group("installed model")
    _opt(pack, "--license", help="licence of the trained model, recorded in its manifest")
    _opt(pack, "--author", help="author, recorded in the manifest")
    _opt(pack, "--description", help="one line shown by `stylepipe models`")
    _opt(
        pack, "--fp16-weights", action="store_true", help="store weights as float16 (half the size)"
    )
    _opt(
        pack,
        "--force",
        action="store_true",
        help="replace an installed model of that name; or take a name a bundled or plugin "
        "model has (yours is then addressed as stylepipe_local/NAME)",
    )


def _per_loss_net(key: str) -> str:
    """``(default: vgg16 1e+05, vgg16-random 1)`` from the loss-network registry."""
    values = ", ".join(
        f"{n} {get_loss_network(n).style_defaults[key]:g}"
        for n in loss_network_names()
        if key in get_loss_network(n).style_defaults
    )
    return f"(default: {values})"


def _add_style(sub: Any) -> None:
    d = StyleConfig(name="", data="")
    parser = sub.add_parser(
        "style",
        help="train a style (Johnson et al. 2016)",
        epilog=STYLE_EPILOG,
        formatter_class=RAW,
        description="Train a fast style-transfer network for one "
        "style image on a folder of photos and install it as a style pack.",
    )
    parser.add_argument(
        "style_image",
        nargs="?",
        default=SUPPRESS,
        metavar="STYLE_IMAGE",
        help="the painting whose style to learn",
    )
    _add_common(parser, d)
    style = parser.add_argument_group("style")
    _opt(style, "--image-size", type=int, help=f"training crop size (default {d.image_size})")
    _opt(
        style,
        "--style-size",
        type=int,
        help="shorter side of the style image (default: --image-size); larger gives larger strokes",
    )
    _opt(
        style,
        "--arch",
        choices=tuple(STYLE_ARCHES),
        help="half (16 channels, default: Johnson's instance-norm models) or full (32)",
    )
    _opt(style, "--content-weight", type=float, help=_per_loss_net("content_weight"))
    _opt(style, "--style-weight", type=float, help=_per_loss_net("style_weight"))
    _opt(
        style,
        "--style-layers",
        metavar="LAYERS",
        help="comma-separated style layers, e.g. relu1_2,relu2_2,relu3_4 (default: the "
        "last ReLU of each block the network has: the paper's layers)",
    )
    _opt(
        style,
        "--style-layer-weights",
        metavar="WEIGHTS",
        help="one weight per --style-layers entry (default: 1 each; vgg19 averages them)",
    )
    _opt(
        style,
        "--style-scales",
        metavar="SCALES",
        help="measure the style loss at these scales of the output too, each a term of its "
        "own, e.g. 1,0.5 (default 1): at half scale the layers see shapes twice as large",
    )
    _opt(
        style,
        "--content-layer",
        metavar="LAYER",
        help="the layer of the content (feature) loss (default relu2_2, the paper's; "
        "Johnson's released models used relu3_3, which leaves the fine texture freer)",
    )
    _opt(
        style,
        "--tv-weight",
        type=float,
        help="total-variation weight " + _per_loss_net("tv_weight"),
    )
    parser.set_defaults(handler=_handler("train_style"))


def _add_sr(sub: Any) -> None:
    d = SRConfig(name="", data="")
    parser = sub.add_parser(
        "sr",
        help="train x4/x8 super-resolution (Johnson et al. 2016)",
        epilog=SR_EPILOG,
        formatter_class=RAW,
        description="Train a super-resolution network on patches "
        "of a folder of photos and install it for the `upscale` filter.",
    )
    _add_common(parser, d)
    sr = parser.add_argument_group("super-resolution")
    _opt(sr, "--scale", type=int, choices=(4, 8), help="upscaling factor (default 4)")
    _opt(
        sr,
        "--loss",
        choices=("feature", "pixel"),
        help="feature: VGG relu2_2 (default); pixel: mean squared error",
    )
    _opt(
        sr,
        "--patch-size",
        type=int,
        help=f"high-resolution patch size (default "
        f"{d.patch_size}); photos smaller than it are skipped",
    )
    _opt(sr, "--arch", choices=tuple(SR_ARCHES), help="full (64 channels, default) or half")
    _opt(
        sr,
        "--skip",
        choices=("bicubic", "none"),
        help="bicubic (default): learn the "
        "residual over bicubic upsampling; none: the paper's plain network",
    )
    _opt(
        sr,
        "--degradation",
        choices=("gaussian-bicubic", "bicubic"),
        help="how inputs are "
        "made: Gaussian blur sigma 1 then bicubic (default, the paper) or bicubic only",
    )
    _opt(sr, "--loss-weight", type=float, help="weight of the feature/pixel term (default 1)")
    _opt(
        sr,
        "--pixel-weight",
        type=float,
        help="with --loss feature: weight of an added per-pixel MSE term (default 0, the "
        "paper's pure feature loss); about 10 fades the fine grid a random loss network "
        "leaves and lifts PSNR above bicubic",
    )
    _opt(
        sr,
        "--tv-weight",
        type=float,
        help="total-variation weight (default: depends on --loss and --loss-net)",
    )
    parser.set_defaults(handler=_handler("train_sr"))


def _add_eval(sub: Any) -> None:
    parser = sub.add_parser(
        "sr",
        help="PSNR/SSIM of an SR model against bicubic",
        epilog=EVAL_EPILOG,
        formatter_class=RAW,
        description="Downscale each high-resolution image the way the "
        "model was trained, upscale it with the model and with bicubic, and report PSNR and "
        "SSIM on the Y channel with `scale` border pixels cropped.",
    )
    parser.add_argument("--model", required=True, help="SR model name (stylepipe models)")
    parser.add_argument("--data", required=True, metavar="HR_DIR", help="high-res images")
    parser.add_argument("--scale", type=int, choices=(4, 8), help="check the model's scale")
    parser.add_argument(
        "--degradation",
        choices=("gaussian-bicubic", "bicubic"),
        help="default: the one the model was trained with",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(handler=_handler("eval_sr"))


def _handler(name: str) -> Any:
    def run(args: argparse.Namespace, app: Any) -> int:
        from . import handlers  # heavy: torch, torchvision, the networks

        return int(getattr(handlers, name)(args, app))

    run.__name__ = name
    return run


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train style``, ``train sr`` and ``eval sr``."""
    train = subparsers.add_parser(
        "train",
        help="train styles and super-resolution models",
        description="Train a model and install it as a pack.",
        epilog=TRAIN_EPILOG,
        formatter_class=RAW,
    )
    train_sub = train.add_subparsers(dest="train_command", metavar="KIND", required=True)
    _add_style(train_sub)
    _add_sr(train_sub)
    evaluate = subparsers.add_parser(
        "eval",
        help="evaluate models (PSNR/SSIM)",
        description="Evaluate trained models.",
        epilog=EVAL_GROUP_EPILOG,
        formatter_class=RAW,
    )
    eval_sub = evaluate.add_subparsers(dest="eval_command", metavar="KIND", required=True)
    _add_eval(eval_sub)
