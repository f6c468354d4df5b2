"""The ``upscale`` filter: x2 to x8 super-resolution (Johnson, Alahi & Fei-Fei 2016), and
any community upscaler imported through spandrel (x1 restoration to x8; see
:mod:`stylepipe_sr.community`).

The output is exactly ``scale`` times the input in both directions, whatever the input
size. The models are x4 and x8; a smaller ``scale`` runs the smallest model that reaches
it and resizes the result down with Lanczos (Real-ESRGAN's ``--outscale``). Alpha is
upscaled separately with bicubic interpolation (a network trained on photos has no
business inventing transparency). Grayscale inputs run through the network as RGB and
come back grayscale (BT.601 luma of the result), so a gray scan stays gray.

torch is imported when an image is processed, not when the plugin registers the filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stylepipe import (
    Filter,
    FilterContext,
    FilterParams,
    Frame,
    LoadedModel,
    ParamError,
    open_model,
    param,
    pick_model,
)

from .histogram import match_histograms
from .outscale import resize_lanczos

if TYPE_CHECKING:
    from stylepipe import Catalog, Entry, ModelSpec

BUNDLED_SOURCE = __name__.rpartition(".")[0]  # "stylepipe_sr": its models/ are the defaults
#: The default upscaler of each scale: the first of these that is bundled for the scale
#: (else the first by name). x4: sr4-pixel, which leads sr4 (feature loss) on Set5,
#: Set14 and BSD100 in PSNR and SSIM (Set5: 30.54 vs 29.24 dB) and leaves no grid
#: pattern (grid figure 0.02, as the originals; sr4: 0.20, a faint grid at every input
#: pixel, the random loss network's fingerprint); sr4 is sharper (0.82 of the original's
#: gradient vs 0.65; bicubic 0.50) but a default should add no artefact. README
#: "Quality report". Re-measure after retraining.
DEFAULT_MODELS = ("sr4-pixel", "sr4", "sr8")
DEFAULT_SCALE = 4
MIN_SCALE, MAX_SCALE = 1, 8
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class UpscaleParams(FilterParams):
    """Parameters of :class:`UpscaleFilter`."""

    scale: int | None = param(
        None,
        help="1 to 8 (default: the model's scale, or 4 without a model); below the model's "
        "scale, the model runs and its result is resized down with Lanczos",
        min=MIN_SCALE,
        max=MAX_SCALE,
    )
    model: str | None = param(
        None,
        help="super-resolution model, NAME or SOURCE/NAME (default: the bundled one for the "
        f"scale, {DEFAULT_MODELS[0]} for x2-x4); `stylepipe models --kind sr` lists them",
    )
    match_histogram: bool = param(
        False,
        help="match each output channel's histogram to the input's (the paper's "
        "post-processing; removes colour casts)",
    )


class UpscaleFilter(Filter):
    """Upscales each image x2 to x8 with a super-resolution model (x1 to x8 with an
    imported community model: `stylepipe import-model FILE --name NAME`); the output is exactly
    scale times the input (below the model's scale, its result resized down with
    Lanczos), alpha is upscaled bicubically, grayscale stays grayscale.
    Example: --filter upscale:scale=4,match_histogram=true"""

    name = "upscale"
    summary = (
        "x2-x8 neural super-resolution (Johnson et al. 2016); scales below the model's "
        "are resized down with Lanczos"
    )
    Params = UpscaleParams
    main_param = "scale"

    def __init__(self, params: FilterParams | None = None) -> None:
        super().__init__(params)
        self.model: LoadedModel | None = None

    @property
    def upscale_params(self) -> UpscaleParams:
        assert isinstance(self.params, UpscaleParams)
        return self.params

    def choose(self, catalog: Catalog) -> Entry[ModelSpec]:
        """The model entry for these parameters: the named one (whose scale must reach
        ``scale``), else the default (:data:`DEFAULT_MODELS`) among the bundled ones of the
        smallest scale that reaches it."""
        p = self.upscale_params
        if p.model is None:
            scale = model_scale_for(catalog, p.scale or DEFAULT_SCALE)
            return pick_model(
                catalog, None, "sr", bundled=BUNDLED_SOURCE, scale=scale, preferred=DEFAULT_MODELS
            )
        entry = pick_model(catalog, p.model, "sr", bundled=BUNDLED_SOURCE)
        if p.scale is not None and p.scale > entry.item.scale:
            raise ParamError(
                "scale",
                f"scale={p.scale} is more than {entry.qualified_name} gives (x{entry.item.scale})",
                hint=f"use scale={entry.item.scale} or less, or a model of a larger scale",
            )
        return entry

    def check(self, catalog: Catalog) -> None:
        """The model exists, is a super-resolution model and reaches the asked scale."""
        self.choose(catalog)

    def name_fields(self, catalog: Catalog) -> dict[str, str]:
        """``{model}``: the model's name; ``{scale}``: the output scale."""
        entry = self.choose(catalog)
        return {"model": entry.name, "scale": str(self.upscale_params.scale or entry.item.scale)}

    def setup(self, ctx: FilterContext) -> None:
        """Load the model once for the batch on the runtime's device and precision; a
        community model that tiles internally runs on the whole image."""
        spec = self.choose(ctx.catalog).item
        self.model = open_model(ctx, spec)
        if tiles_internally(spec):
            if ctx.runtime.tile:
                ctx.warn(f"model {spec.name} tiles internally: --tile is ignored")
            self.model.tile = 0

    def apply(self, frame: Frame) -> Frame:
        if self.model is None:
            raise RuntimeError("upscale: apply() called before setup()")
        # gray (H, W, 1) goes in as is: the model reads it as RGB without a 3x copy
        out = self.model.run_array(frame.pixels)
        if self.upscale_params.match_histogram:
            out = match_histograms(out, frame.rgb())
        if frame.channels == 1:
            out = np.clip(out @ LUMA, 0.0, 1.0)[:, :, None]
        scale = self.upscale_params.scale or self.model.scale
        if scale < self.model.scale:
            out = resize_lanczos(out, frame.height * scale, frame.width * scale)
        alpha = None if frame.alpha is None else upscale_alpha(frame.alpha, scale)
        pixels = np.ascontiguousarray(out, dtype=np.float32)
        metadata = frame.metadata.resized(scale)  # same print size: DPI / scale
        return frame.replace(pixels=pixels, alpha=alpha, metadata=metadata)


def tiles_internally(spec: ModelSpec) -> bool:
    """spandrel says the model's family tiles internally (it needs the whole image); a
    family where tiling is only discouraged (window attention) is still tiled, on its
    window grid with its measured halo (README "Community upscalers")."""
    return spec.arch_params.get("tiling") == "internal"


def model_scale_for(catalog: Catalog, scale: int) -> int:
    """The smallest scale of a bundled SR model that reaches ``scale`` (``scale`` itself
    when none does, so that the error names what is missing)."""
    reaching = [
        e.item.scale
        for e in catalog.models
        if e.item.kind == "sr" and e.source == BUNDLED_SOURCE and e.item.scale >= scale
    ]
    return min(reaching, default=scale)


def upscale_alpha(alpha: np.ndarray, scale: int) -> np.ndarray:
    """(H, W) alpha -> (scale*H, scale*W) by bicubic interpolation, clamped to [0, 1]."""
    import torch
    import torch.nn.functional as F

    height, width = alpha.shape
    plane = torch.from_numpy(np.ascontiguousarray(alpha, dtype=np.float32))[None, None]
    big = F.interpolate(
        plane, size=(height * scale, width * scale), mode="bicubic", align_corners=False
    )
    return np.ascontiguousarray(big[0, 0].clamp_(0.0, 1.0).numpy())
