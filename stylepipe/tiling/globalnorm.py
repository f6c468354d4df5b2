"""Whole-image statistics for the instance-norm layers of a tiled network.

Instance normalisation (Ulyanov et al. 2016) divides every channel by its mean and
standard deviation over the *whole* image. Run tile by tile, each tile would get its own
statistics and colour and style would jump at tile borders (CycleGAN#32,
neural-style#329). :class:`GlobalNorm` makes each such layer use statistics supplied
for the whole image instead, without touching the network's parameters or state-dict
keys: inside its context every per-instance norm layer's ``forward`` is replaced by one
that, per layer,

* applies fixed whole-image statistics (``F.batch_norm`` in inference form, which is the
  same affine map as instance norm once mean and variance are given), or
* *measures*: adds the layer's input over the tile's own region (its core, never the
  halo) to float64 running sums, then stops the forward pass, since nothing after the
  layer can be right before its statistics are known, or
* *records*: normalises by the statistics of the tensor it gets (the whole image, as
  plain instance norm does) and keeps them.

Measuring layer after layer in forward order gives every layer exactly the statistics
it has on the full frame: the streaming multi-pass scheme.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

from stylepipe.errors import ModelError

_EPS = 1e-5  # only to keep batch norm's inverse deviation finite; removed again
BAND_PIXELS = 1 << 15
"""Pixels per channel summed in float32 at once; larger blocks are cut into row bands
whose statistics are merged in float64. ATen's CPU statistics of a whole 1024x1024
channel (one float32 sum) measured 1.7e-4 relative error in the mean, in bands 6e-6;
on a photo through the bundled starry-night (512x512), the whole frame's 8-bit output so
agreed with a float64 reference on 99.77 % of values, in bands on 99.98 % (tiles:
99.99 %). Smaller bands are a little closer (16384 pixels: 99.99 %) but each is one more
parallel call, which costs a thread wake-up on a busy machine (measured 40 ms each on
this project's shared 2-core VM; 65536 pixels: 99.93 %)."""


class StopForward(Exception):
    """Raised by the layer being measured: the rest of the forward pass is not needed."""


@dataclass(frozen=True)
class Window:
    """The part of a tile whose features count towards the statistics: the tile's core,
    as ``(top, bottom, left, right)`` relative to its read region of ``size``."""

    top: int
    bottom: int
    left: int
    right: int
    size: tuple[int, int]


@dataclass
class Moments:
    """Per-channel count, mean and sum of squared deviations (``m2``) in float64, merged
    tile by tile with the parallel update of Chan, Golub & LeVeque (1979), so that no
    ``E[x^2] - E[x]^2`` cancellation occurs however large the mean or the image."""

    mean: torch.Tensor | None = None
    m2: torch.Tensor | None = None
    count: int = 0

    def add(self, feats: torch.Tensor) -> None:
        """Merge the pixels of a ``(B, C, h, w)`` block, a band of rows at a time (at
        most :data:`BAND_PIXELS` pixels each)."""
        rows = max(1, BAND_PIXELS // max(1, feats.shape[3]))
        for top in range(0, feats.shape[2], rows):
            self._merge(feats[:, :, top : top + rows])

    def _merge(self, feats: torch.Tensor) -> None:
        n = feats.shape[0] * feats.shape[2] * feats.shape[3]
        if n == 0:
            return
        # batch norm's statistics kernels read channels-last views in place, 2-3x faster
        # than var_mean on a copy; float32 and float64 through the one that only sums
        # (batch_norm_update_stats, whose results have the input's type), narrower
        # types through the one that accumulates in float (and also writes an output),
        # given float32 parameters so that its statistics come out in float32 too
        # (without, they are rounded to the input's type: a bf16 mean of 50 is 0.1 off)
        if feats.dtype in (torch.float32, torch.float64):
            mean, var = torch.batch_norm_update_stats(feats, None, None, 0.0)
            var = var.double()
        else:
            ones = torch.ones(feats.shape[1], device=feats.device)
            _, mean, invstd = torch.native_batch_norm(
                feats, ones, torch.zeros_like(ones), None, None, True, 0.0, _EPS
            )
            var = (invstd.double() ** -2 - _EPS).clamp_min(0.0)
        mean, m2 = mean.double(), var * n
        if self.mean is None or self.m2 is None:
            self.mean, self.m2, self.count = mean, m2, n
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + delta * delta * (self.count * n / total)
        self.count = total

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and biased variance (what instance norm uses), float64."""
        if self.mean is None or self.m2 is None:
            raise ModelError("no pixels were measured for an instance-norm layer")
        return self.mean, self.m2 / self.count


def is_instance_norm(module: nn.Module) -> bool:
    """Whether ``module`` normalises each image by its own statistics (instance norm
    without running statistics, or in training mode)."""
    return isinstance(module, nn.InstanceNorm2d) and (
        module.training or not module.track_running_stats
    )


def untileable_layers(net: nn.Module) -> list[str]:
    """Names of layers with whole-image statistics that :class:`GlobalNorm` cannot
    supply (group norm, adaptive pooling): such a network cannot be cut into tiles."""
    kinds = (nn.GroupNorm, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
    return [name for name, m in net.named_modules() if isinstance(m, kinds)]


@dataclass(eq=False)
class GlobalNorm:
    """Whole-image statistics for every instance-norm layer of ``net`` (see module doc).

    ``stats`` maps each layer whose statistics are known to ``(mean, var)`` (float64).
    Use as ``with GlobalNorm(net) as norm:``; set :attr:`mode` to ``"measure"`` (with
    :attr:`window` per tile), ``"record"``, or ``"local"`` (plain instance norm of a whole
    image, computed faster) around forward passes.
    """

    net: nn.Module
    layers: list[nn.InstanceNorm2d] = field(init=False)
    stats: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    mode: str = "apply"
    window: Window | None = None
    target: nn.Module | None = None
    moments: Moments | None = None
    _cache: dict[tuple[object, ...], tuple[torch.Tensor | None, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layers = [
            m
            for m in self.net.modules()
            if isinstance(m, nn.InstanceNorm2d) and is_instance_norm(m)
        ]

    @property
    def complete(self) -> bool:
        """Whether every layer's statistics are known."""
        return all(m in self.stats for m in self.layers)

    def complete_for(self, module: nn.Module) -> bool:
        """Whether the statistics of every instance-norm layer inside ``module`` are known."""
        return all(m in self.stats for m in module.modules() if is_instance_norm(m))

    def __enter__(self) -> GlobalNorm:
        for module in self.layers:
            # an instance attribute shadows the class's forward; __exit__ removes it
            module.forward = self._forward_of(module)  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        for module in self.layers:
            module.__dict__.pop("forward", None)

    def _forward_of(self, module: nn.InstanceNorm2d) -> Callable[[torch.Tensor], torch.Tensor]:
        def forward(x: torch.Tensor) -> torch.Tensor:
            return self._run(module, x)

        return forward

    @contextmanager
    def measuring(self) -> Iterator[None]:
        """Measure the first layer without statistics over the tiles run inside; its
        statistics are fixed on leaving."""
        self.mode, self.target, self.moments = "measure", None, None
        try:
            yield
            if self.target is None or self.moments is None:
                raise ModelError("no instance-norm layer was reached while measuring")
            self.stats[self.target] = self.moments.mean_var()
        finally:
            self.mode, self.target, self.moments = "apply", None, None

    def _run(self, module: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
        if module in self.stats:
            return self._apply(module, x)
        if self.mode == "local" and x.shape[0] == 1:
            # plain instance norm of a whole image. For one image this is batch norm in
            # training form, whose CPU kernel reads channels-last bf16 in place, where
            # instance_norm copies the activation to contiguous float and back (2x slower).
            # On the CPU its statistics are one float32 sum per channel, too coarse for a
            # large image (see BAND_PIXELS): they are summed in bands there instead
            weight, bias = (None if p is None else p.detach() for p in (module.weight, module.bias))
            if x.device.type != "cpu":
                return F.batch_norm(x, None, None, weight, bias, training=True, eps=module.eps)
            moments = Moments()
            moments.add(x)
            # float32 statistics and parameters for narrower activations, as in _apply
            mean, var, weight, bias = (
                None if t is None else t.to(_wide_dtype(x))
                for t in (*moments.mean_var(), weight, bias)
            )
            return F.batch_norm(x, mean, var, weight, bias, training=False, eps=module.eps)
        if self.mode == "record":
            feats = _wide(x)
            var, mean = torch.var_mean(feats, dim=(0, 2, 3), correction=0)
            self.stats[module] = (mean.double(), var.double())
            return self._apply(module, x)
        if self.mode != "measure":
            raise ModelError("an instance-norm layer has no whole-image statistics yet")
        if self.target is not None and self.target is not module:
            raise ModelError("instance-norm layers ran in a different order on another tile")
        self.target = module
        if self.moments is None:
            self.moments = Moments()
        self.moments.add(self._valid(x))
        raise StopForward

    def _valid(self, x: torch.Tensor) -> torch.Tensor:
        """The features of ``x`` inside the current tile's core."""
        win = self.window
        if win is None:
            return x
        (h, w), (fh, fw) = win.size, x.shape[-2:]
        ry, rx = Fraction(fh, h), Fraction(fw, w)
        bounds = (win.top * ry, win.bottom * ry, win.left * rx, win.right * rx)
        if any(b.denominator != 1 for b in bounds):
            raise ModelError(
                f"a {h}x{w} tile maps to {fh}x{fw} features: tile edges fall between "
                "feature pixels",
                hint="the architecture's tiling policy needs a larger size multiple",
            )
        t, b, l_, r = (int(v) for v in bounds)
        return x[..., t:b, l_:r]

    def _apply(self, module: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
        # float32 statistics and affine parameters for float32 and narrower activations:
        # batch norm takes bf16/fp16 input with float32 parameters and computes in float32
        dtype = _wide_dtype(x)
        key = (module, x.device, dtype)
        if key not in self._cache:
            params = [*self.stats[module], module.weight, module.bias]
            self._cache[key] = tuple(
                None if p is None else p.detach().to(x.device, dtype) for p in params
            )
        mean, var, weight, bias = self._cache[key]
        return F.batch_norm(
            x, mean, var, weight, bias, training=False, momentum=0.0, eps=module.eps
        )


def _wide_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 for float64 ``x``, else float32."""
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


def _wide(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, or float64 if it is float64 already."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()
