"""Training settings: what defines a run (saved in its checkpoints and in the installed
model's manifest) and what may change when it is resumed. Import-light (no torch).

A resumed run takes its settings from the checkpoint. Options given again on the
command line must agree with them, except those in :data:`RESUME_OVERRIDES` (how long
to train, where and how fast to run), which take the new value, and the loss weights
(:data:`WEIGHT_OVERRIDES`), whose changes are recorded with the step they took effect.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stylepipe.errors import UsageError

from .lossnet import get_loss_network

STYLE_ARCHES: dict[str, dict[str, int]] = {
    "full": {"width": 32, "n_residual": 5},  # Johnson et al. 2016, supplementary table 1
    "half": {"width": 16, "n_residual": 5},  # half the channels: about 4x fewer FLOPs
}
SR_ARCHES: dict[str, dict[str, int]] = {
    "full": {"width": 64, "n_residual": 4},  # Johnson et al. 2016, SR network
    "half": {"width": 32, "n_residual": 4},
}
SR_LOSSES = ("feature", "pixel")
MIN_SCALED_SIDE = 16  # a crop or painting shrunk by --style-scales: 4 px left at block 3
DEFAULT_LOSS_NET = "auto"  # the best ImageNet weights found (lossnet.choose_auto)
#: Settings that may differ when a run is resumed.
RESUME_OVERRIDES = frozenset({"iterations", "epochs", "data"})
#: Loss weights and the learning rate a resumed run may change (a schedule, e.g. a lower
#: style weight once the style is learnt, or a lower rate after a divergence); each change
#: is recorded with its step in ``RunConfig.weight_changes``.
WEIGHT_OVERRIDES = frozenset(
    {"content_weight", "style_weight", "tv_weight", "pixel_weight", "loss_weight", "lr"}
)


@dataclass
class RunConfig:
    """Settings shared by style and super-resolution training."""

    name: str
    data: str
    iterations: int = 0
    epochs: float | None = None
    batch_size: int = 4
    lr: float = 1e-3
    seed: int = 0
    arch: str = "full"
    tv_weight: float | None = None
    loss_net: str = DEFAULT_LOSS_NET
    loss_net_seed: int = 0
    weight_changes: list[str] = field(default_factory=list)  # "step 600: style_weight 100 -> 50"
    task: str = field(default="", init=False)  # "style" or "sr", set by the subclass

    def arch_params(self) -> dict[str, Any]:
        """Build parameters of the network this run trains."""
        raise NotImplementedError

    def resolve(self, photo_count: int) -> None:
        """Fill the defaults that depend on other settings; see the subclasses."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Range checks that argparse cannot make; raises :class:`UsageError`."""
        if self.batch_size < 1:
            raise UsageError("--batch-size must be at least 1")
        if self.iterations < 0 or (self.epochs is not None and not self.epochs > 0):
            raise UsageError("--iterations and --epochs must be positive")
        if not self.lr > 0:
            raise UsageError("--lr must be positive")
        for key in ("tv_weight", "content_weight", "style_weight", "loss_weight", "pixel_weight"):
            value = getattr(self, key, 0.0)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise UsageError(f"--{key.replace('_', '-')} must be a finite number >= 0")


@dataclass
class StyleConfig(RunConfig):
    """``stylepipe train style``: Johnson et al. 2016, section 4.1."""

    task: str = field(default="style", init=False)
    arch: str = "half"  # width 16, Johnson's own instance-norm models
    style_image: str = ""
    image_size: int = 256
    style_size: int | None = None
    content_weight: float | None = None
    style_weight: float | None = None
    style_layers: str | None = None  # "relu1_2,relu2_2,..." (default: the network's)
    style_layer_weights: str | None = None  # "1,1,..." (default: by the network's reduction)
    style_scales: str = "1"  # "1,0.5": the style loss at full and at half scale
    content_layer: str = "relu2_2"  # the paper's; Johnson's released models used relu3_3

    def arch_params(self) -> dict[str, Any]:
        return dict(STYLE_ARCHES[self.arch])

    def resolve(self, photo_count: int) -> None:
        """Fill the defaults that depend on other settings (loss weights, sizes, epochs)."""
        defaults = get_loss_network(self.loss_net).style_defaults
        for key in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, key) is None:
                setattr(self, key, float(defaults[key]))
        if self.style_size is None:
            self.style_size = self.image_size
        _resolve_iterations(self, photo_count)

    def check(self) -> None:
        super().check()
        if self.arch not in STYLE_ARCHES:
            raise UsageError(f"--arch must be one of {', '.join(STYLE_ARCHES)}")
        if self.image_size < 32 or self.image_size % 4:
            raise UsageError("--image-size must be a multiple of 4, at least 32")
        if self.style_size is not None and self.style_size < 32:
            raise UsageError("--style-size must be at least 32")
        parse_layer_weights(self.style_layers, self.style_layer_weights)
        if not re.fullmatch(r"relu\d_\d", self.content_layer):
            raise UsageError(
                f"--content-layer: {self.content_layer!r} is not a layer name",
                hint="e.g. relu2_2 (the paper's) or relu3_3",
            )
        smallest = min(parse_style_scales(self.style_scales))
        for option, side in (("--image-size", self.image_size), ("--style-size", self.style_size)):
            if side is not None and side * smallest < MIN_SCALED_SIDE:
                raise UsageError(
                    f"--style-scales: {option} {side} at scale {smallest:g} is under "
                    f"{MIN_SCALED_SIDE} px",
                    hint="use larger sizes or a scale nearer 1",
                )


@dataclass
class SRConfig(RunConfig):
    """``stylepipe train sr``: Johnson et al. 2016, section 4.2."""

    task: str = field(default="sr", init=False)
    scale: int = 4
    loss: str = "feature"
    patch_size: int = 288
    skip: str = "bicubic"
    degradation: str = "gaussian-bicubic"
    loss_weight: float = 1.0
    pixel_weight: float = 0.0

    def arch_params(self) -> dict[str, Any]:
        return {"scale": self.scale, **SR_ARCHES[self.arch], "skip": self.skip}

    def resolve(self, photo_count: int) -> None:
        if self.tv_weight is None:
            if self.loss == "feature":
                self.tv_weight = float(get_loss_network(self.loss_net).sr_defaults["tv_weight"])
            else:
                self.tv_weight = 0.0  # per-pixel loss: already smooth (paper: no TV needed)
        _resolve_iterations(self, photo_count)

    def check(self) -> None:
        super().check()
        if self.arch not in SR_ARCHES:
            raise UsageError(f"--arch must be one of {', '.join(SR_ARCHES)}")
        if self.scale not in (4, 8):
            raise UsageError("--scale must be 4 or 8")
        if self.loss not in SR_LOSSES:
            raise UsageError(f"--loss must be one of {', '.join(SR_LOSSES)}")
        if self.pixel_weight and self.loss != "feature":
            raise UsageError("--pixel-weight adds a pixel term to --loss feature only")
        if self.patch_size % self.scale or self.patch_size < 12 * self.scale:
            raise UsageError(
                f"--patch-size must be a multiple of {self.scale}, at least {12 * self.scale}"
            )


def parse_layer_weights(layers: str | None, weights: str | None) -> dict[str, float] | None:
    """``--style-layers`` and ``--style-layer-weights`` as ``{layer: weight}`` (``None``
    when no layers are given; weights default to 1 each)."""
    if layers is None:
        if weights is not None:
            raise UsageError("--style-layer-weights needs --style-layers")
        return None
    names = [n.strip() for n in layers.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise UsageError("--style-layers: give distinct layer names, e.g. relu1_2,relu2_2")
    values = [1.0] * len(names)
    if weights is not None:
        try:
            values = [float(w) for w in weights.split(",")]
        except ValueError:
            raise UsageError("--style-layer-weights: give numbers, e.g. 1,1,0.5") from None
        if len(values) != len(names) or any(not (math.isfinite(v) and v >= 0) for v in values):
            raise UsageError(
                f"--style-layer-weights: give {len(names)} numbers >= 0, one per style layer"
            )
    return dict(zip(names, values, strict=True))


def parse_style_scales(text: str) -> tuple[float, ...]:
    """``--style-scales`` as distinct scales in (0, 1], e.g. ``"1,0.5"`` -> ``(1.0, 0.5)``."""
    try:
        scales = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError("--style-scales: give numbers, e.g. 1,0.5") from None
    if len(set(scales)) != len(scales) or not all(0 < s <= 1 for s in scales):
        raise UsageError("--style-scales: give distinct scales above 0 and at most 1, e.g. 1,0.5")
    return scales


def _resolve_iterations(config: RunConfig, photo_count: int) -> None:
    if config.epochs is not None:
        config.iterations = max(1, math.ceil(config.epochs * photo_count / config.batch_size))
    elif not config.iterations:
        raise UsageError("say how long to train: --iterations N or --epochs E")


def config_fields(cls: type[RunConfig]) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init}


def new_config(cls: type[RunConfig], given: Mapping[str, Any]) -> RunConfig:
    """A config from the options given on the command line (the rest default)."""
    missing = [k for k in ("name", "data") if given.get(k) is None]
    if cls is StyleConfig and not given.get("style_image"):
        missing.insert(0, "STYLE_IMAGE")
    if not given.get("iterations") and not given.get("epochs"):
        missing.append("--iterations N or --epochs E")
    if missing:
        raise UsageError(
            "missing " + ", ".join(m if m[0] in "-S" else f"--{m}" for m in missing),
            hint="or continue an earlier run with --resume",
        )
    values = {k: v for k, v in given.items() if k in config_fields(cls) and v is not None}
    config = cls(**values)
    config.check()
    return config


def resumed_config(
    cls: type[RunConfig], saved: Mapping[str, Any], given: Mapping[str, Any], step: int = 0
) -> tuple[RunConfig, list[str]]:
    """The saved config with the allowed overrides applied (loss weights recorded in
    ``weight_changes`` with ``step``); conflicting options are an error. Returns the
    config and the names of the settings that changed."""
    fields = config_fields(cls)
    config = cls(**{k: v for k, v in saved.items() if k in fields})
    conflicts, changed = [], []
    for key, value in given.items():
        if key not in fields or value is None or value == getattr(config, key):
            continue
        if key == "loss_net" and value == DEFAULT_LOSS_NET:
            continue  # auto resolved to the saved network when the run started
        if key in WEIGHT_OVERRIDES:
            config.weight_changes.append(f"step {step}: {key} {getattr(config, key)} -> {value}")
        if key in RESUME_OVERRIDES | WEIGHT_OVERRIDES:
            setattr(config, key, value)
            changed.append(key)
        else:
            conflicts.append(f"--{key.replace('_', '-')} {value} (run: {getattr(config, key)})")
    if conflicts:
        raise UsageError(
            "a resumed run keeps its settings; these differ: " + "; ".join(conflicts),
            hint="drop them, or start a new run under another --name",
        )
    if "iterations" in changed:
        config.epochs = None  # an explicit step count replaces an earlier --epochs
    config.check()
    return config, changed
