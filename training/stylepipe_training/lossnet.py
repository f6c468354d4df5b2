"""The choice of loss network: a small registry, import-light (no torch at import).

Johnson, Alahi & Fei-Fei (2016) compute their perceptual losses with a frozen VGG16
pretrained on ImageNet. Those weights cannot always be had (offline machines), so a
second choice, ``vgg16-random``, uses the same architecture with seeded random weights:
random convolutional features still carry texture statistics (He, Wang & Hopcroft 2016,
"A Powerful Generative Model Using Random Weights for the Deep Image Representation";
Ustyuzhaninov et al. 2016, "Texture Synthesis Using Shallow Convolutional Networks with
Random Filters").

Each choice names how the per-layer losses are scaled (``layer_scaling``):

* ``channels`` (``vgg16``): layer j's style loss is divided by C_j**2 and the content
  loss is the plain feature loss. With that scaling the loss equals pytorch/examples'
  mean-squared-error form, so its tried weights (content 1e5, style 1e10) apply as they are.
* ``target`` (``vgg16-random``): layer j's style loss is divided by the squared Frobenius
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
    named by the user, and a downloader (``None``: never download)."""

    seed: int = 0
    weights: Path | None = None
    download: Callable[[Path], None] | None = None


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


def _build_imagenet(options: LossNetOptions) -> LossNetwork:
    from .vgg import imagenet_vgg16

    return imagenet_vgg16(options.weights, download=options.download)


def _build_random(options: LossNetOptions) -> LossNetwork:
    from .vgg import random_vgg16

    return random_vgg16(options.seed)


register_loss_network(
    LossNetChoice(
        name="vgg16",
        summary="VGG16 with ImageNet weights (Johnson et al. 2016); needs the weights file",
        build=_build_imagenet,
        layer_scaling="channels",
        # pytorch/examples fast_neural_style defaults; TV as a small smoothness prior.
        style_defaults={"content_weight": 1e5, "style_weight": 1e10, "tv_weight": 1e3},
        sr_defaults={"tv_weight": 1e-2},
    )
)
register_loss_network(
    LossNetChoice(
        name="vgg16-random",
        summary="VGG16 architecture with seeded random weights; works offline",
        build=_build_random,
        layer_scaling="target",
        # Tuned on /work/shared/assets/style_images (see training/RECIPES.md).
        style_defaults={"content_weight": 1.0, "style_weight": 20.0, "tv_weight": 100.0},
        sr_defaults={"tv_weight": 1e-2},
    )
)
