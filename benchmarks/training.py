"""Training throughput of ``stylepipe train`` against a plain fp32 training step, in one run.

The plain step is written the straightforward way of pytorch/examples'
``fast_neural_style``: NCHW float32, the full four-layer VGG pass on the content batch
as well as on the output, mean-squared-error losses, Adam. Ours is the real
:class:`~stylepipe_training.style.StyleTrainer` / :class:`~stylepipe_training.sr.SRTrainer`:
bf16 autocast (where the CPU runs bf16 natively), channels-last, the content target
computed only to relu2_2, Gram matrices in fp32. Both use the random-weight VGG16 (the
speed is the same as with ImageNet weights). Configurations are measured in
alternating rounds so that a change in the machine's load hits both alike; the load
average is printed because the CPU may be shared.

    .venv/bin/python benchmarks/training.py [--steps 3] [--rounds 2] [--threads N] [--compile]
    .venv/bin/python benchmarks/training.py --bundled [--compile] [--bf16]

``--bundled`` measures the bundled styles' own setup instead: width-16 network, the
partial ImageNet VGG19 (conv1_1..conv3_4; random weights of that shape when the shared
file is absent: the speed is the same), its six style layers, 256 px, batch 4, in
NCHW and channels-last layouts, and the whole step with photo decoding from
``../shared/assets/training_photos`` with and without decoding threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from stylepipe_sr.network import SRNet
from stylepipe_style.network import TransformerNet
from stylepipe_training.data import PhotoBatches, random_square_crop, scan_photos
from stylepipe_training.degrade import make_lowres
from stylepipe_training.loop import Runtime, Trainer
from stylepipe_training.losses import SRCriterion, StyleCriterion, gram_matrix
from stylepipe_training.sr import SRTrainer
from stylepipe_training.style import StyleTrainer
from stylepipe_training.vgg import LossNetwork, random_vgg16

from stylepipe.models.devices import cpu_has_fast_bf16

REPO = Path(__file__).resolve().parent.parent
BUNDLED_LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_4")
BATCH = 4
STYLE_SIZE, SR_SIZE = 256, 288
Step = Callable[[], None]


def plain_style_step(lossnet: LossNetwork, batch: torch.Tensor, style: torch.Tensor) -> Step:
    """pytorch/examples' loop body: fp32, NCHW, full VGG on x and y, MSE losses."""
    torch.manual_seed(0)
    net = TransformerNet(32, 5)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    layers = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"]
    with torch.no_grad():
        gram_style = [gram_matrix(f) for f in lossnet(style, layers).values()]

    def step() -> None:
        opt.zero_grad()
        y = net(batch)
        features_y = lossnet(y, layers)
        features_x = lossnet(batch, layers)
        content = 1e5 * F.mse_loss(features_y["relu2_2"], features_x["relu2_2"])
        style_loss = sum(
            F.mse_loss(gram_matrix(fy), gs.expand(BATCH, -1, -1))
            for fy, gs in zip(features_y.values(), gram_style, strict=True)
        )
        (content + 1e10 * style_loss).backward()
        opt.step()

    return step


def plain_sr_step(lossnet: LossNetwork, batch: torch.Tensor) -> Step:
    """The same straightforward way for SR: fp32, NCHW, relu2_2 feature loss."""
    torch.manual_seed(0)
    net = SRNet(4, 64, 4)
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step() -> None:
        low = make_lowres(batch, 4)
        opt.zero_grad()
        y = net(low)
        loss = F.mse_loss(
            lossnet(y, ["relu2_2"])["relu2_2"], lossnet(batch, ["relu2_2"])["relu2_2"]
        )
        loss.backward()
        opt.step()

    return step


def ours(trainer: Trainer, batch: torch.Tensor) -> Step:
    def step() -> None:
        trainer.train_step(batch)

    return step


def style_trainer(lossnet: LossNetwork, style: torch.Tensor, runtime: Runtime) -> Trainer:
    torch.manual_seed(0)
    with runtime.autocast():
        crit = StyleCriterion(lossnet, style, content_weight=1, style_weight=5, tv_weight=2)
    return StyleTrainer(
        TransformerNet(32, 5), crit, runtime, lr=1e-3, preview=torch.rand(1, 3, 64, 64)
    )


def sr_trainer(lossnet: LossNetwork, runtime: Runtime) -> Trainer:
    torch.manual_seed(0)
    crit = SRCriterion(lossnet, loss="feature", tv_weight=1e-2)
    return SRTrainer(
        SRNet(4, 64, 4),
        crit,
        runtime,
        lr=1e-3,
        scale=4,
        degradation="gaussian-bicubic",
        preview=torch.rand(1, 3, 64, 64),
    )


def vgg19_partial() -> LossNetwork:
    """The bundled styles' loss network: the shared file, or its shape at random."""
    from stylepipe_training import vgg
    from stylepipe_training.vgg_weights import read_weights

    path = REPO / ".." / "shared" / "assets" / "loss_networks" / "vgg19-imagenet-conv1-3"
    if (path / "weights.safetensors").is_file():
        return read_weights(path / "weights.safetensors", "caffe").build("target")
    layout = vgg.LAYOUTS["vgg19"]
    features = layout.build(3)
    state = {k: torch.randn(v.shape) * 0.05 for k, v in features.state_dict().items()}
    return vgg.pretrained(
        layout, state, blocks=3, convention="caffe", layer_scaling="target", info={}
    )


def bundled_trainer(lossnet: LossNetwork, style: torch.Tensor, runtime: Runtime) -> Trainer:
    torch.manual_seed(0)
    layers = dict.fromkeys(BUNDLED_LAYERS, 1 / len(BUNDLED_LAYERS))
    with runtime.autocast():
        crit = StyleCriterion(
            lossnet, style, content_weight=1, style_weight=100, tv_weight=10, style_layers=layers
        )
    return StyleTrainer(
        TransformerNet(16, 5), crit, runtime, lr=1e-3, preview=torch.rand(1, 3, 64, 64)
    )


def with_photos(trainer: Trainer, workers: int) -> Step:
    """A whole step as training runs it: the next batch of decoded, cropped photos."""
    photos = scan_photos(REPO / ".." / "shared" / "assets" / "training_photos")
    batches = PhotoBatches(
        photos, random_square_crop(STYLE_SIZE), batch_size=BATCH, seed=0, workers=workers
    )
    counter = iter(range(10**9))

    def step() -> None:
        trainer.train_step(batches.batch(next(counter)))

    return step


def bundled(args: argparse.Namespace) -> None:
    """The bundled styles' step in the layouts and precisions asked for."""
    lossnet = vgg19_partial()
    generator = torch.Generator().manual_seed(0)
    batch = torch.rand(BATCH, 3, STYLE_SIZE, STYLE_SIZE, generator=generator)
    style = torch.rand(1, 3, 384, 384, generator=generator)
    variants = {
        "plain fp32": Runtime(precision="fp32", channels_last=False),
        "fp32 channels-last": Runtime(precision="fp32"),
    }
    if args.bf16:
        variants["bf16 channels-last"] = Runtime(precision="bf16")
    if args.compile:
        variants["fp32 + torch.compile"] = Runtime(precision="fp32", compile=True)
    if args.bf16 and args.compile:  # what train_bundled.sh runs where bf16 is native
        variants["bf16 + torch.compile"] = Runtime(precision="bf16", compile=True)
    configs = {n: ours(bundled_trainer(lossnet, style, rt), batch) for n, rt in variants.items()}
    if (REPO / ".." / "shared" / "assets" / "training_photos").is_dir():
        for workers in (0, 2):
            trainer = bundled_trainer(lossnet, style, Runtime(precision="fp32"))
            configs[f"fp32 + photos, {workers} decode threads"] = with_photos(trainer, workers)
    report(
        f"bundled style step at {STYLE_SIZE}x{STYLE_SIZE}, width 16, VGG19 to relu3_4",
        measure(configs, args.steps, args.rounds),
    )


def measure(configs: dict[str, Step], steps: int, rounds: int) -> dict[str, float]:
    """Median seconds per step of each configuration, rounds interleaved."""
    for step in configs.values():
        step()  # warm-up: oneDNN primitive creation, allocator, compilation
    times: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, step in configs.items():
            for _ in range(steps):
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def report(title: str, seconds: dict[str, float]) -> None:
    base = seconds["plain fp32"]
    print(f"\n{title} (batch {BATCH})")
    for name, s in seconds.items():
        print(f"  {name:<28} {s:7.2f} s/step {BATCH / s:7.2f} images/s  x{base / s:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--only", choices=("style", "sr"), help="one benchmark only")
    parser.add_argument("--bundled", action="store_true", help="the bundled styles' step")
    parser.add_argument("--bf16", action="store_true", help="with --bundled: also bf16")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.bundled:
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
            f"before: {os.getloadavg()[0]:.2f}"
        )
        bundled(args)
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        return
    precision = "bf16" if cpu_has_fast_bf16() else "fp32"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, precision "
        f"{precision}, load average before: {os.getloadavg()[0]:.2f}"
    )
    lossnet = random_vgg16(0)
    fast = Runtime(precision=precision, channels_last=True)
    variants = {
        "stylepipe " + precision + " channels-last": fast,
        "stylepipe fp32 channels-last": Runtime(precision="fp32"),
    }
    if args.compile:
        variants["stylepipe + torch.compile"] = Runtime(precision=precision, compile=True)
    generator = torch.Generator().manual_seed(0)
    if args.only in (None, "style"):
        batch = torch.rand(BATCH, 3, STYLE_SIZE, STYLE_SIZE, generator=generator)
        style = torch.rand(1, 3, 256, 256, generator=generator)
        configs = {"plain fp32": plain_style_step(lossnet, batch, style)}
        for name, rt in variants.items():
            configs[name] = ours(style_trainer(lossnet, style, rt), batch)
        report(
            f"style training at {STYLE_SIZE}x{STYLE_SIZE}",
            measure(configs, args.steps, args.rounds),
        )
    if args.only in (None, "sr"):
        batch = torch.rand(BATCH, 3, SR_SIZE, SR_SIZE, generator=generator)
        configs = {"plain fp32": plain_sr_step(lossnet, batch)}
        for name, rt in variants.items():
            configs[name] = ours(sr_trainer(lossnet, rt), batch)
        report(f"x4 SR training at {SR_SIZE}x{SR_SIZE}", measure(configs, args.steps, args.rounds))
    print(f"\nload average after: {os.getloadavg()[0]:.2f} (2 cores; above 2 the CPU is shared)")


if __name__ == "__main__":
    main()
