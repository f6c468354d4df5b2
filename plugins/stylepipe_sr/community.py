"""Community upscalers (ESRGAN, Real-ESRGAN compact, SwinIR, HAT, DAT... every family
spandrel knows) as the architecture ``spandrel``.

``stylepipe import-model`` calls :func:`detect` on a checkpoint read as data; spandrel
recognises the family and its hyperparameters from the tensors alone, and the facts it
reports (scale, channels, size requirements, tiling advice, precisions) become the
model's ``arch_params``, with the halo tiling needs for that family (:func:`halo_for`).
At run time :func:`load` rebuilds the network from the weights through spandrel.

spandrel is the optional extra ``stylepipe[community]``; nothing here imports it (or
torch) until a checkpoint is detected or a model loaded.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stylepipe import Architecture, ModelError, TilingPolicy

if TYPE_CHECKING:
    from torch import nn

ARCHITECTURE_ID = "spandrel"
EXTRA_HINT = "install the community extra: pip install 'stylepipe[community]' (spandrel)"
#: Halo (input pixels each side of a tile) per spandrel family, measured by comparing
#: tiled with full-frame output (benchmarks/community_halo.py; README "Community
#: upscalers"). Compact's receptive field is small and exact: see :func:`halo_for`.
FAMILY_HALOS = {"ESRGAN": 32, "SwinIR": 32, "HAT": 32, "DAT": 32}
DEFAULT_HALO = 32


def spandrel_module() -> Any:
    """spandrel, or a :class:`ModelError` naming the extra that provides it."""
    try:
        import spandrel
    except ImportError:
        raise ModelError(
            "this checkpoint is not a stylepipe architecture, and community models need "
            "spandrel, which is not installed",
            hint=EXTRA_HINT,
        ) from None
    return spandrel


def load_descriptor(spandrel: Any, state: Mapping[str, Any]) -> Any:
    """spandrel's model descriptor of ``state`` (a copy: spandrel renames keys in place),
    without the deprecation warnings some of its architectures raise while built."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.meshgrid", category=UserWarning)
        return spandrel.ModelLoader().load_from_state_dict(dict(state))


def halo_for(family: str, hyper: Mapping[str, Any]) -> int:
    """The halo for a model of ``family`` with spandrel's ``hyper``-parameters: Compact
    (SRVGG) convolves 3x3 ``num_conv + 2`` times at input resolution, so that radius
    (plus 2) is exact; other families use their measured :data:`FAMILY_HALOS`."""
    if family == "Compact" and isinstance(hyper.get("num_conv"), int):
        return int(hyper["num_conv"]) + 4
    return FAMILY_HALOS.get(family, DEFAULT_HALO)


def detect(state: Mapping[str, Any]) -> dict[str, Any] | None:
    """spandrel's facts about the checkpoint ``state`` as build parameters, or ``None``
    when spandrel does not know it. Raises :class:`ModelError` for what stylepipe cannot
    run (not an image-to-image RGB model, square-only inputs)."""
    spandrel = spandrel_module()
    try:
        descriptor = load_descriptor(spandrel, state)
    except spandrel.UnsupportedModelError:
        return None
    except Exception as exc:  # recognised but not loadable: say what spandrel said
        raise ModelError(
            f"spandrel recognised the checkpoint but cannot load it: {exc}",
            hint="the file may be truncated or modified",
        ) from None
    return describe(descriptor)


def describe(descriptor: Any) -> dict[str, Any]:
    """The JSON facts of a spandrel model descriptor (see :func:`detect`)."""
    from spandrel import ImageModelDescriptor

    family = str(descriptor.architecture.id)
    if not isinstance(descriptor, ImageModelDescriptor):
        raise ModelError(f"{family} is an inpainting model; stylepipe runs image-to-image ones")
    if (descriptor.input_channels, descriptor.output_channels) != (3, 3):
        raise ModelError(
            f"this {family} model takes {descriptor.input_channels} and gives "
            f"{descriptor.output_channels} channels; stylepipe runs RGB (3 to 3) models"
        )
    req = descriptor.size_requirements
    if req.square:
        raise ModelError(f"this {family} model takes square images only; stylepipe cannot tile it")
    hyper = dict(getattr(descriptor.model, "hyperparameters", {}))
    window = hyper.get("window_size")
    return {
        "family": family,
        "scale": int(descriptor.scale),
        "purpose": str(descriptor.purpose),
        "input_channels": int(descriptor.input_channels),
        "size_multiple": int(req.multiple_of),
        "size_min": int(req.minimum),
        "window": int(window) if isinstance(window, int) else 1,
        "tiling": descriptor.tiling.name.lower(),
        "precisions": precisions(descriptor),
        "halo": halo_for(family, hyper),
        "tags": [str(t) for t in descriptor.tags],
    }


#: Families whose forward makes float32 tensors of its own (SwinIR builds its attention
#: mask at run time for each input size), which a network cast to bf16 cannot multiply:
#: measured failing on a CPU with native bf16 ("float != BFloat16"); they run in fp32.
FP32_ONLY_FAMILIES = frozenset({"SwinIR"})


def precisions(descriptor: Any) -> list[str]:
    """fp32 and the reduced precisions spandrel says the model supports (none for the
    :data:`FP32_ONLY_FAMILIES`)."""
    found = ["fp32"]
    if str(descriptor.architecture.id) in FP32_ONLY_FAMILIES:
        return found
    if descriptor.supports_bfloat16:
        found.append("bf16")
    if descriptor.supports_half:
        found.append("fp16")
    return found


def tiling_policy(**params: Any) -> TilingPolicy:
    """Tiles on spandrel's size multiple and the attention window (so that a tile's
    windows are the whole frame's), at least its minimum size, with the family's halo."""
    multiple = math.lcm(int(params.get("size_multiple", 1)), int(params.get("window", 1)))
    return TilingPolicy(
        scale=int(params.get("scale", 1)),
        multiple=multiple,
        halo=int(params.get("halo", DEFAULT_HALO)),
        min_size=max(int(params.get("size_min", 1)), 1),
    )


def load(state: Mapping[str, Any], params: Mapping[str, Any]) -> nn.Module:
    """The network of ``state`` through spandrel; it must be the family and scale the
    model was imported as."""
    from .community_net import CommunityNet

    spandrel = spandrel_module()
    try:
        descriptor = load_descriptor(spandrel, state)
    except Exception as exc:  # unknown to this spandrel, or not loadable
        raise ModelError(f"spandrel cannot load the weights: {exc}", hint=EXTRA_HINT) from None
    found = (str(descriptor.architecture.id), int(descriptor.scale))
    if found != (params.get("family"), params.get("scale")):
        raise ModelError(
            f"the weights are a x{found[1]} {found[0]} model, imported as "
            f"x{params.get('scale')} {params.get('family')}",
            hint="re-import the model (stylepipe import-model FILE --name NAME --force)",
        )
    return CommunityNet(descriptor)


def build(**params: Any) -> nn.Module:
    """Community networks are built from their weights (:func:`load`), never from
    parameters alone."""
    raise ModelError(
        f"a {params.get('family', 'community')} network is built from its weights",
        hint="load it as a model (stylepipe run ... --filter upscale:model=NAME)",
    )


ARCHITECTURE = Architecture(
    id=ARCHITECTURE_ID,
    kind="sr",
    build=build,
    detect=detect,
    tiling=tiling_policy,
    load=load,
    summary="community upscalers through spandrel (ESRGAN, Compact, SwinIR, HAT, DAT...)",
    precisions=("fp32", "bf16", "fp16"),
)
