"""Style half of ``quality.py``: the losses of a trained style network's output against
an optimisation-based stylisation (Gatys, Ecker & Bethge 2016) on the same objective.

Johnson, Alahi & Fei-Fei (2016, sec. 4.1, fig. 5) compare their network with the
optimisation method of Gatys et al. on the very losses the network was trained on: the
optimiser starts from the content image and minimises the same weighted content, style
and TV terms. Their claim: comparable loss, about three orders of magnitude faster.
Every loss here comes from the training code's :class:`StyleCriterion`, built with the
loss network, seed, weights and style image recorded in the model's manifest, and is
evaluated in float32 on the output clamped to [0, 1].
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from stylepipe_training.config import parse_style_scales
from stylepipe_training.images import open_rgb, resize_short_side, to_tensor
from stylepipe_training.losses import CONTENT_LAYER, StyleCriterion
from stylepipe_training.lossnet import LossNetOptions, get_loss_network
from stylepipe_training.style import load_style_image
from stylepipe_training.vgg import LossNetwork

from stylepipe.errors import ModelError
from stylepipe.models.loading import LoadedModel
from stylepipe.models.spec import ModelSpec
from stylepipe.models.weights import sha256_file

TERMS = ("content", "style", "tv", "total")
Losses = dict[str, float]


@dataclass(frozen=True)
class StyleObjective:
    """What a style model was trained to minimise, read from its manifest."""

    model: str
    loss_net: str
    loss_net_seed: int
    weights: Mapping[str, float]
    style_size: int
    style_path: Path
    style_source: str  # "original" (the training image) or "thumbnail" (the pack's)
    loss_net_sha256: str | None = None
    #: The manifest's record of an ImageNet network: weights file name, sha256, convention.
    loss_net_record: Mapping[str, Any] = field(default_factory=dict)
    style_layers: Mapping[str, float] | None = None
    style_scales: tuple[float, ...] = (1.0,)  # where the style loss is measured (--style-scales)
    content_layer: str = CONTENT_LAYER  # where the content loss is measured (--content-layer)

    def describe(self) -> dict[str, Any]:
        return {
            "loss_net": self.loss_net,
            "loss_net_seed": self.loss_net_seed,
            "weights": dict(self.weights),
            "style_size": self.style_size,
            "style_scales": list(self.style_scales),
            "content_layer": self.content_layer,
            "style_image": str(self.style_path),
            "style_source": self.style_source,
        }


def _candidates(recorded: str, roots: Sequence[Path]) -> list[Path]:
    """Where the recorded style image may be: the path itself (absolute) or under each
    root (relative); and, for a path into an ``assets`` folder, the same file under each
    root (the shared assets folder), for packs trained on another machine."""
    given = Path(recorded)
    found = [given] if given.is_absolute() else [r / given for r in roots]
    if "assets" in given.parts:
        last = len(given.parts) - 1 - given.parts[::-1].index("assets")
        found += [r.joinpath(*given.parts[last + 1 :]) for r in roots]
    return found


def _style_image(
    spec: ModelSpec, recorded: str | None, sha: str | None, roots: Sequence[Path]
) -> tuple[Path, str]:
    """(path, source) of the style image: the one training used when it is found (see
    :func:`_candidates`) with the sha256 the manifest records; else the pack's
    ``style.jpg`` thumbnail (at most 256 pixels, JPEG: a weaker style target)."""
    for candidate in _candidates(recorded, roots) if recorded else []:
        if candidate.is_file() and (sha is None or sha256_file(candidate) == sha):
            return candidate, "original"
    thumb = Path(spec.weights).parent / "style.jpg"
    if thumb.is_file():
        return thumb, "thumbnail"
    raise ModelError(
        f"model {spec.name!r}: neither its training style image ({recorded}) nor a "
        f"style.jpg in {thumb.parent} was found",
        hint="pass --assets with the folder holding style_images/",
    )


def read_objective(spec: ModelSpec, roots: Sequence[Path]) -> StyleObjective:
    """The training objective of a style model, or a ModelError when its manifest does
    not record one (imported checkpoints). ``roots``: folders to look for a relative
    style image path in (the working and repository folders, the assets folder)."""
    training = spec.manifest.get("training") or {}
    settings = training.get("settings") or {}
    needed = ("loss_net", "content_weight", "style_weight", "tv_weight")
    missing = [k for k in needed if settings.get(k) is None]
    if missing:
        raise ModelError(
            f"model {spec.name!r}: the manifest records no {', '.join(missing)}",
            hint="only models trained by `stylepipe train style` record their losses",
        )
    path, source = _style_image(
        spec, settings.get("style_image"), training.get("style_image_sha256"), roots
    )
    size = settings.get("style_size") or settings.get("image_size") or 256
    return StyleObjective(
        model=spec.name,
        loss_net=str(settings["loss_net"]),
        loss_net_seed=int(settings.get("loss_net_seed", 0)),
        weights={k: float(settings[f"{k}_weight"]) for k in ("content", "style", "tv")},
        style_size=int(size),
        style_path=path,
        style_source=source,
        loss_net_sha256=(training.get("loss_network") or {}).get("sha256"),
        loss_net_record=dict(training.get("loss_network") or {}),
        style_layers=training.get("style_layers"),
        style_scales=parse_style_scales(str(settings.get("style_scales") or 1)),
        content_layer=str(settings.get("content_layer") or CONTENT_LAYER),
    )


@dataclass
class LossNets:
    """Loss networks built once per (name, seed, weights file) and shared by the models.
    An ImageNet network's weights file is looked for by its recorded name under
    ``roots`` (``loss_networks/*/NAME``, the shared assets' layout) with the recorded
    sha256, else found the usual way (``$STYLEPIPE_VGG_WEIGHTS``, the hub cache)."""

    roots: Sequence[Path] = ()
    cache: dict[tuple[str, int, str], LossNetwork] = field(default_factory=dict)

    def get(self, objective: StyleObjective) -> LossNetwork:
        record = objective.loss_net_record
        weights = self._weights_file(record)
        key = (objective.loss_net, objective.loss_net_seed, str(weights))
        if key not in self.cache:
            options = LossNetOptions(
                seed=objective.loss_net_seed,
                weights=weights,
                convention=record.get("input_convention"),
            )
            net = get_loss_network(objective.loss_net).build(options)
            self.cache[key] = net.to(memory_format=torch.channels_last)
        return self.cache[key]

    def _weights_file(self, record: Mapping[str, Any]) -> Path | None:
        name, digest = record.get("weights"), record.get("file_sha256")
        if not name or name == "random":
            return None
        for root in self.roots:
            for path in sorted(Path(root).glob(f"loss_networks/*/{name}")):
                if digest is None or sha256_file(path) == digest:
                    return path
        return None


def build_criterion(objective: StyleObjective, nets: LossNets) -> tuple[StyleCriterion, str]:
    """The training criterion and a warning ('' if none) when the loss network's weights
    differ from the ones the manifest records (another torch version, say)."""
    lossnet = nets.get(objective)
    style = load_style_image(objective.style_path, objective.style_size)
    criterion = StyleCriterion(
        lossnet,
        style,
        content_weight=objective.weights["content"],
        style_weight=objective.weights["style"],
        tv_weight=objective.weights["tv"],
        style_layers=objective.style_layers,
        style_scales=objective.style_scales,
        content_layer=objective.content_layer,
    )
    built = lossnet.describe().get("sha256")
    warning = ""
    if objective.loss_net_sha256 and built != objective.loss_net_sha256:
        warning = f"{objective.model}: the loss network differs from the one it was trained with"
    return criterion, warning


def square_photo(path: Path, size: int) -> torch.Tensor:
    """The photo's centre square at ``size`` x ``size`` as ``(1, 3, size, size)``."""
    image = resize_short_side(open_rgb(path), size)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return to_tensor(image.crop((left, top, left + size, top + size)))


def measure(criterion: StyleCriterion, output: torch.Tensor, content: torch.Tensor) -> Losses:
    """The weighted loss terms of ``output`` (clamped to [0, 1]) in float32."""
    with torch.no_grad():
        terms = criterion(output.detach().float().clamp(0, 1), content)
    return {k: float(terms[k]) for k in TERMS}


def run_network(
    model: LoadedModel, content: torch.Tensor, repeats: int
) -> tuple[torch.Tensor, float]:
    """(output, median seconds per image) of the network after one warm-up run."""
    output = model(content)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        output = model(content)
        times.append(time.perf_counter() - start)
    return output, statistics.median(times)


@dataclass
class GatysRun:
    """One optimisation: losses and elapsed seconds at each checkpoint iteration, the
    total loss of every iterate (``curve``: iterations done before it, seconds when its
    loss was known, total; the first is the content image itself) and the final image.
    An iteration is one forward and backward pass of the loss network (for L-BFGS, line
    search evaluations included)."""

    checkpoints: list[dict[str, float]]
    curve: list[tuple[int, float, float]]
    image: torch.Tensor

    def time_to_reach(self, total: float) -> tuple[int, float] | None:
        """(iterations, seconds) of the first iterate whose total loss is <= ``total``,
        or None when no iterate got there."""
        for iteration, seconds, value in self.curve:
            if value <= total:
                return iteration, seconds
        return None


def _optimizer(name: str, x: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam([x], lr=lr)
    # Every line-search evaluation counts as an iteration of the curve; gatys() sets
    # max_iter/max_eval so that one step() call runs up to the next checkpoint.
    return torch.optim.LBFGS([x], lr=lr, history_size=20, line_search_fn="strong_wolfe")


def gatys(
    criterion: StyleCriterion,
    content: torch.Tensor,
    checkpoints: Sequence[int],
    *,
    optimizer: str = "adam",
    lr: float = 0.02,
    autocast: torch.dtype | None = None,
) -> GatysRun:
    """Optimise the image itself from ``content`` (Gatys et al. 2016) on ``criterion``,
    recording losses and time at each checkpoint (evaluation time not counted). The loss
    is always that of the image clamped to [0, 1]; Adam's iterate is also clamped after
    each step (projected gradient), L-BFGS's is left alone (clamping would corrupt its
    curvature pairs)."""
    # L-BFGS flattens gradients with view(), which needs the default memory format.
    layout = torch.channels_last if optimizer == "adam" else torch.contiguous_format
    x = content.clone().contiguous(memory_format=layout).requires_grad_(True)
    opt = _optimizer(optimizer, x, lr)
    curve: list[tuple[int, float, float]] = []
    start, excluded = time.perf_counter(), 0.0

    def closure() -> torch.Tensor:
        opt.zero_grad()
        with torch.autocast("cpu", dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            loss = criterion(x.clamp(0, 1), content)["total"]
        loss.backward()
        curve.append((len(curve), time.perf_counter() - start - excluded, float(loss.detach())))
        return loss

    marks = []
    for target in sorted(set(checkpoints)):
        while len(curve) < target:
            if optimizer == "lbfgs":
                left = target - len(curve)
                opt.param_groups[0].update(max_iter=left, max_eval=left)
            opt.step(closure)
            if optimizer == "adam":
                with torch.no_grad():
                    x.clamp_(0, 1)
        paused = time.perf_counter()
        seconds = paused - start - excluded
        marks.append(
            {"iteration": len(curve), "seconds": seconds, **measure(criterion, x, content)}
        )
        excluded += time.perf_counter() - paused
    return GatysRun(marks, curve, x.detach().clamp(0, 1).contiguous())
