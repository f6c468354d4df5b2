"""The choice of loss network: a small registry, import-light (no torch at import).

Johnson, Alahi & Fei-Fei (2016) compute their perceptual losses with a frozen VGG16
pretrained on ImageNet (``vgg16``). ``vgg19`` takes ImageNet VGG19 weights, whole or
only its first three blocks (the file our machines have: conv1_1..conv3_4). The default,
``auto`` (:func:`choose_auto`), takes the best ImageNet weights found and never falls
back to random ones. ``vgg16-random`` uses seeded random weights: random features carry
some texture statistics (He, Wang & Hopcroft 2016; Ustyuzhaninov et al. 2016), but
measured here they give far weaker styles, so it is an explicit last resort only.

Each choice names how the per-layer losses are scaled (``layer_scaling``):

* ``channels`` (``vgg16``): layer j's style loss is divided by C_j**2 and the content
  loss is the plain feature loss. With that scaling the loss equals pytorch/examples'
  mean-squared-error form, so its tried weights (content 1e5, style 1e10) apply as they are.
* ``target`` (``vgg19``, ``vgg16-random``): layer j's style loss is divided by the squared Frobenius
  norm of the style image's Gram matrix at that layer, ``||G_j(y_s)||_F**2``, and the
  content loss by the energy of the content target, ``mean(phi_j(y_c)**2)`` over the
  batch (computed without gradient). Every term then starts near 1 whatever the random
  initialisation made of each layer's magnitude, so no layer dominates by accident.

More loss networks can be added with :func:`register_loss_network` (a choice point, not
a chain of ifs); the training code only ever goes through :func:`get_loss_network`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from stylepipe.errors import UsageError

if TYPE_CHECKING:
    from .vgg import LossNetwork

LayerScaling = Literal["channels", "target"]


@dataclass(frozen=True)
class LossNetOptions:
    """What building a loss network may use: the seed of random weights, a weights file
    named by the user, its input convention when the file does not state one, and
    whether torchvision's file may be downloaded when none is found."""

    seed: int = 0
    weights: Path | None = None
    convention: str | None = None
    download: bool = False


@dataclass(frozen=True)
class LossNetChoice:
    """One loss network: how to build it and the loss weights that work with it.

    ``style_defaults`` holds the default ``content_weight``, ``style_weight`` and
    ``tv_weight`` of style training; ``sr_defaults`` the default ``tv_weight`` of
    feature-loss super-resolution training (the feature weight is 1)."""

    name: str
    summary: str
    build: Callable[[LossNetOptions], LossNetwork]
    layer_scaling: LayerScaling
    style_defaults: Mapping[str, float] = field(default_factory=dict)
    sr_defaults: Mapping[str, float] = field(default_factory=dict)
    #: ``sum``: each style layer's term counts fully; ``mean``: the style weight applies
    #: to their mean (each layer weighs 1/n unless --style-layer-weights says otherwise).
    style_reduction: Literal["sum", "mean"] = "sum"


_REGISTRY: dict[str, LossNetChoice] = {}


def register_loss_network(choice: LossNetChoice) -> None:
    """Add a loss network; a second one with the same name is an error."""
    if choice.name in _REGISTRY:
        raise UsageError(f"loss network {choice.name!r} is registered twice")
    _REGISTRY[choice.name] = choice


def loss_network_names() -> list[str]:
    """The registered loss networks, in registration order."""
    return list(_REGISTRY)


def get_loss_network(name: str) -> LossNetChoice:
    """The loss network called ``name`` or an error listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(
            f"unknown loss network {name!r}", hint="use one of: " + ", ".join(_REGISTRY)
        ) from None


AUTO = "auto"


def _imagenet(architecture: str) -> Callable[[LossNetOptions], LossNetwork]:
    def build(options: LossNetOptions) -> LossNetwork:
        from .vgg_weights import download_torchvision, find_weights

        return find_weights(
            architecture,
            options.weights,
            convention=options.convention,
            download=download_torchvision if options.download else None,
        ).build(get_loss_network(architecture).layer_scaling)

    return build


def choose_auto(options: LossNetOptions) -> str:
    """What ``--loss-net auto`` means here: the architecture of the best ImageNet weights
    found (the given file; else torchvision's full VGG16, then VGG19, from the cache).
    Never random weights: without a file this is an error that names the fallback."""
    from .vgg_weights import find_weights

    return find_weights(AUTO, options.weights, convention=options.convention).layout.name


def _build_random(options: LossNetOptions) -> LossNetwork:
    from .vgg import random_vgg16

    return random_vgg16(options.seed)


register_loss_network(
    LossNetChoice(
        name="vgg16",
        summary="VGG16 with ImageNet weights (the paper's); needs torchvision's file",
        build=_imagenet("vgg16"),
        layer_scaling="channels",
        # pytorch/examples fast_neural_style defaults; TV as a small smoothness prior.
        style_defaults={"content_weight": 1e5, "style_weight": 1e10, "tv_weight": 1e3},
        sr_defaults={"tv_weight": 1e-2},
    )
)
register_loss_network(
    LossNetChoice(
        name="vgg19",
        summary="VGG19 with ImageNet weights, whole or only conv1_1..conv3_4 (relu4_4 "
        "when the file has it)",
        build=_imagenet("vgg19"),
        layer_scaling="target",
        # Calibrated on Johnson's own outputs (benchmarks/loss_balance.py, RECIPES.md):
        # 100 lost the photo; about 3-16 prefers the paper's content/style balance.
        style_defaults={"content_weight": 1.0, "style_weight": 10.0, "tv_weight": 10.0},
        sr_defaults={"tv_weight": 1e-2},
        style_reduction="mean",
    )
)
register_loss_network(
    LossNetChoice(
        name="vgg16-random",
        summary="VGG16 architecture with seeded random weights; a much weaker last resort",
        build=_build_random,
        layer_scaling="target",
        # Tuned on /work/shared/assets/style_images (see training/RECIPES.md).
        style_defaults={"content_weight": 1.0, "style_weight": 20.0, "tv_weight": 100.0},
        sr_defaults={"tv_weight": 1e-2},
    )
)
