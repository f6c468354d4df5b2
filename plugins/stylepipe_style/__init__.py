"""Built-in plugin: the Johnson et al. transformer network and the ``style`` filter.

Bundled style models live as data-only pack folders in this package's ``models/``
directory (``models/<name>/manifest.json`` + ``weights.safetensors``); every valid one is
registered as ``stylepipe_style/<name>``. The ``style`` filter's default is the first of
:data:`stylepipe_style.filter.DEFAULT_MODELS` that is bundled (starry-night: the style an
independent judge network recognises best), else the first by name. The folder may be
empty or absent.

Registration imports no torch: the network module is imported by :func:`build` (when a
model is loaded) and the filter imports torch in ``setup``/``apply``, so that commands
that only list or validate (``stylepipe filters``, ``check``) start fast.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe import Architecture, Filter, ModelSpec, TilingPolicy, hookimpl, register_pack_folder

from .filter import StyleFilter

if TYPE_CHECKING:
    from .network import TransformerNet

ARCHITECTURE_ID = "johnson-style"
BUNDLED_MODELS = Path(__file__).resolve().parent / "models"


def build(width: int = 32, n_residual: int = 5) -> TransformerNet:
    """A new (random-init) transformer network; imports torch on first use."""
    from .network import TransformerNet

    return TransformerNet(width=width, n_residual=n_residual)


def tiling_policy(width: int = 32, n_residual: int = 5) -> TilingPolicy:
    """Receptive-field radius in input pixels: 9x9 conv (4), two stride-2 3x3 convs
    (1 + 2), two 3x3 convs per residual block at stride 4 (8 each), two nearest-x2 +
    3x3 stages (at most 4 + 2), final 9x9 (4); rounded up with a margin to a multiple
    of 4, the network's size multiple (two stride-2 convolutions). The smallest input is
    8 pixels: the 9x9 reflection pad needs more than 4, and the stride-4 features of a
    4-pixel image could not be reflection-padded either."""
    radius = 4 + 1 + 2 + 8 * n_residual + 4 + 2 + 4
    halo = -(-(radius + 4) // 4) * 4
    return TilingPolicy(scale=1, multiple=4, halo=halo, global_norm=True, min_size=8)


def detect(state_dict: Mapping[str, Any]) -> dict[str, Any] | None:
    """Recognise a transformer-network checkpoint by its key layout (pytorch/examples
    ``fast_neural_style``, whose layer names this network shares) and infer ``width``
    from the first convolution and ``n_residual`` from the ``resN`` blocks. ``None`` if
    the keys or shapes do not fit."""
    shapes = {k: tuple(getattr(v, "shape", ())) for k, v in state_dict.items()}
    first = shapes.get("conv1.conv2d.weight", ())
    if len(first) != 4 or first[1:] != (3, 9, 9):
        return None
    width = first[0]
    expected = {
        "conv2.conv2d.weight": (2 * width, width, 3, 3),
        "conv3.conv2d.weight": (4 * width, 2 * width, 3, 3),
        "deconv1.conv2d.weight": (2 * width, 4 * width, 3, 3),
        "deconv2.conv2d.weight": (width, 2 * width, 3, 3),
        "deconv3.conv2d.weight": (3, width, 9, 9),
    }
    if any(shapes.get(k) != v for k, v in expected.items()):
        return None
    n_residual = 0
    while shapes.get(f"res{n_residual + 1}.conv1.conv2d.weight") == (4 * width, 4 * width, 3, 3):
        n_residual += 1
    if n_residual == 0:
        return None
    return {"width": width, "n_residual": n_residual}


@hookimpl
def register_architectures(register: Callable[[Architecture], None]) -> None:
    register(
        Architecture(
            id=ARCHITECTURE_ID,
            kind="style",
            build=build,
            default_params={"width": 32, "n_residual": 5},
            detect=detect,
            tiling=tiling_policy,
            summary="Johnson et al. 2016 transformer, instance norm, resize-conv upsampling",
            # pytorch/examples checkpoints take and give 0-255 images
            import_input_range=255.0,
        )
    )


@hookimpl
def register_filters(register: Callable[[type[Filter]], None]) -> None:
    register(StyleFilter)


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    register_pack_folder(BUNDLED_MODELS, register, kind="style")
