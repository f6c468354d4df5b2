"""Architectures, named models and safe weight loading.

An :class:`Architecture` builds a network from parameters; a :class:`ModelSpec` names
weights for one. Weights are data: they load only through :func:`load_state_dict`
(safetensors, or ``torch.load(weights_only=True)``), never by unpickling code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stylepipe.errors import ModelError
from stylepipe.models.descriptor import BLACK_OUTPUT, CheckedSink, input_levels, plan_padding

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

    from stylepipe.filters import FilterContext
    from stylepipe.plugins import Catalog
    from stylepipe.registry import Entry
    from stylepipe.tiling.io import Sink, TileSource
from stylepipe.models.spec import Architecture, ModelKind, ModelSpec
from stylepipe.models.weights import load_state_dict, verify_weights
from stylepipe.tiling.policy import TilingPolicy


def _ignore(message: str) -> None:
    """Default ``warn``: drop the message (library callers that do not care)."""


@dataclass(eq=False)
class LoadedModel:
    """A network ready to run: the model descriptor (after spandrel).

    It knows the scale, size multiple, value range, tiling policy and precisions of its
    weights, so that call sites only ever see RGB in [0, 1]. Each image is padded to what
    the network accepts (any size works: odd, 1x1, 7x3), run in inference mode on
    ``device`` in ``precision`` through :func:`stylepipe.tiling.run.run_tiled_stream` (tiles
    of ``tile`` pixels; ``None``: from free memory, 0: whole image), clamped to [0, 1] and
    cropped to exactly ``scale`` times the input. Padding is virtual and the output is
    written band by band, so the image never exists twice in float32. A reduced-precision
    result with NaN/Inf, or one flat colour from an input that is not flat, is recomputed
    in fp32 with a warning, and fp32 is kept for the rest of the batch. ``compile``: run
    whole-frame (one-tile) passes through ``torch.compile`` (see
    :mod:`stylepipe.tiling.compiled`; off by default).
    """

    name: str
    kind: ModelKind
    net: nn.Module
    policy: TilingPolicy
    device: torch.device
    precision: str = "fp32"
    input_range: float = 1.0
    precisions: tuple[str, ...] = ("fp32",)
    tile: int | None = None
    warn: Callable[[str], None] = _ignore
    compile: bool = False

    @property
    def scale(self) -> int:
        return self.policy.scale

    @property
    def multiple(self) -> int:
        return self.policy.multiple

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` float in [0, 1] -> ``(B, 3, scale*H, scale*W)`` float32 in [0, 1]."""
        import torch

        if image.ndim != 4 or image.shape[1] != 3 or not image.is_floating_point():
            raise ModelError(
                f"model {self.name}: expected a float (B, 3, H, W) tensor, got "
                f"{image.dtype} {tuple(image.shape)}"
            )
        x = image.detach().to("cpu", torch.float32)
        outs = [
            torch.from_numpy(self.run_array(x[i].permute(1, 2, 0).numpy()))
            for i in range(x.shape[0])
        ]
        return torch.stack(outs).permute(0, 3, 1, 2)

    def run_array(self, pixels: np.ndarray) -> np.ndarray:
        """``(H, W)``, ``(H, W, 1)`` (gray, run as RGB) or ``(H, W, 3)`` pixels (float in
        [0, 1], uint8 or uint16) -> float32 ``(scale*H, scale*W, 3)`` in [0, 1]."""
        import numpy as np

        from stylepipe.tiling.io import ArraySink, ArraySource

        h, w = int(pixels.shape[0]), int(pixels.shape[1])
        if h < 1 or w < 1:
            raise ModelError(f"model {self.name}: empty image {tuple(pixels.shape)}")
        size, (top, left), mode = plan_padding(h, w, self.multiple, self.policy.min_size)
        source = ArraySource(
            pixels, size=size, offset=(top, left), mode=mode, gain=self.input_range
        )
        s = self.scale
        out = np.empty((h * s, w * s, 3), np.float32)
        sink = ArraySink(out, offset=(top * s, left * s), gain=1.0 / self.input_range)
        flat, bright = input_levels(pixels)
        self._infer(source, sink, (flat, bright), f"{w}x{h}")
        return out

    def _infer(self, source: TileSource, sink: Sink, levels: tuple[bool, bool], size: str) -> None:
        """Run, and check the output: a reduced-precision result that is NaN, black or
        blank is recomputed in fp32; NaN or black in fp32 is an error."""
        from stylepipe.models.devices import autocast_dtype

        dtype = autocast_dtype(self.precision)
        check = self._run(source, sink, dtype, size)
        problem = check.problem(flat_input=levels[0], bright_input=levels[1])
        if problem and dtype is not None:
            self.warn(
                f"model {self.name}: the {self.precision} output {problem}; recomputing in "
                "fp32, which is kept for the rest of this batch (--precision fp32 avoids this)"
            )
            self.precision = "fp32"
            check = self._run(source, sink, None, size)
            problem = check.problem(flat_input=levels[0], bright_input=levels[1])
        if not check.finite:
            raise ModelError(
                f"model {self.name}: the output has NaN or Inf values even in fp32",
                hint="the weights are broken; retrain or re-import the model",
            )
        if problem == BLACK_OUTPUT:  # a flat colour may be right in fp32; black is not
            raise ModelError(
                f"model {self.name}: its output for a {size} image {problem}",
                hint=self._range_hint(),
            )

    def _range_hint(self) -> str:
        """Black or blank output: most often weights read in the wrong value range."""
        other = 1.0 if self.input_range == 255.0 else 255.0
        return (
            f"the weights may expect another value range than the input range "
            f"{self.input_range:g} in the model's manifest: re-import them with "
            f"`stylepipe import-model FILE --name NAME --input-range {other:g}`, or retrain"
        )

    def _run(
        self, source: TileSource, sink: Sink, dtype: torch.dtype | None, size: str
    ) -> CheckedSink:
        from stylepipe.tiling.run import run_tiled_stream

        checked = CheckedSink(sink, self.input_range)
        try:
            run_tiled_stream(
                self.net,
                source,
                self.policy,
                checked,
                tile=self.tile,
                device=self.device,
                autocast_dtype=dtype,
                warn=self.warn,
                compile=self.compile,
            )
        except RuntimeError as exc:  # a network failure names the model and the size
            raise ModelError(f"model {self.name} failed on a {size} image: {exc}") from exc
        return checked


def load_model(
    spec: ModelSpec,
    architecture: Architecture,
    *,
    device: torch.device | str = "cpu",
    precision: str = "auto",
    tile: int | None = None,
    warn: Callable[[str], None] | None = None,
    compile: bool = False,
) -> LoadedModel:
    """Build ``architecture`` with the spec's parameters, load its weights as data and
    return the descriptor on ``device`` (channels-last) in the resolved ``precision``
    (``compile``: whole-frame passes through ``torch.compile``, see :class:`LoadedModel`).

    Checks that the architecture fits the spec, the weights' sha256 against the manifest,
    and every key (see :mod:`stylepipe.models.statedict`); raises :class:`ModelError` naming the
    model for anything that does not fit.
    """
    import torch

    from stylepipe.models.devices import resolve_precision

    warn = warn or _ignore
    where = f"model {spec.name!r} ({spec.weights})"
    if architecture.id != spec.architecture or architecture.kind != spec.kind:
        raise ModelError(
            f"{where} needs a {spec.kind} architecture {spec.architecture!r}, "
            f"got {architecture.kind} {architecture.id!r}"
        )
    verify_weights(spec)
    params = {**architecture.default_params, **spec.arch_params}
    net, policy = _network(architecture, params, load_state_dict(spec.weights), where)
    if spec.kind == "sr" and policy.scale != spec.scale:
        raise ModelError(f"{where}: manifest says x{spec.scale}, network is x{policy.scale}")
    supported = tuple(spec.manifest.get("precisions", architecture.precisions))
    dev = torch.device(device)
    net = net.eval().requires_grad_(False).to(dev).to(memory_format=torch.channels_last)
    return LoadedModel(
        name=spec.name,
        kind=spec.kind,
        net=net,
        policy=policy,
        device=dev,
        precision=resolve_precision(precision, dev, supported=supported, warn=warn),
        input_range=spec.input_range,
        precisions=("fp32", *(p for p in supported if p != "fp32")),
        tile=tile,
        warn=warn,
        compile=compile,
    )


def _network(
    architecture: Architecture,
    params: dict[str, Any],
    state: dict[str, torch.Tensor],
    where: str,
) -> tuple[nn.Module, TilingPolicy]:
    """The network of ``architecture`` with ``params`` holding the weights ``state``
    (``architecture.load`` when the family builds from its weights, else ``build`` and
    the key-by-key check), and its tiling policy."""
    from stylepipe.models.statedict import drop_stale_norm_stats, fit_state_dict, fold_batch_norms

    try:
        policy = architecture.tiling(**params)
        if architecture.load is not None:
            return architecture.load(state, params), policy
        net = architecture.build(**params)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{where}: cannot build {architecture.id} with {params}: {exc}") from exc
    state = drop_stale_norm_stats(net, state)
    state, _ = fold_batch_norms(net, state)
    fit_state_dict(net, state, where=where)
    return net, policy


TRAIN_OR_IMPORT = (
    "train one (`stylepipe train --help`) or import a pytorch/examples checkpoint "
    "(`stylepipe import-model FILE --name NAME`)"
)


def pick_model(
    catalog: Catalog,
    name: str | None,
    kind: ModelKind,
    *,
    bundled: str,
    scale: int | None = None,
    preferred: Sequence[str] = (),
) -> Entry[ModelSpec]:
    """The registered model a filter should use: ``name`` (short or ``<source>/<name>``)
    if given; else the default among the models of kind ``kind`` (and of the given
    ``scale``) that the plugin ``bundled`` registers: the first of ``preferred`` (the
    plugin's explicit choice, best first) that it has, else the first by name. Raises
    :class:`UsageError` subclasses that list the installed models and say how to get
    one."""
    from stylepipe.errors import NotFoundError, UsageError
    from stylepipe.wording import a_model, model_noun

    of_kind = [e for e in catalog.models if e.item.kind == kind]
    if scale is not None:
        of_kind = [e for e in of_kind if e.item.scale == scale]
    for_scale = f" for x{scale}" if scale is not None else ""
    what = model_noun(kind) + for_scale
    installed = ", ".join(e.qualified_name for e in of_kind) or "none"
    if name is None:
        bundled_ones = {e.name: e for e in of_kind if e.source == bundled}
        if bundled_ones:
            choice = next((n for n in preferred if n in bundled_ones), min(bundled_ones))
            return bundled_ones[choice]
        raise NotFoundError(
            f"no model given and no bundled {what} is installed (installed: {installed})",
            hint=("pass model=NAME, or " if of_kind else "") + TRAIN_OR_IMPORT,
        )
    entry = catalog.models.resolve(name)
    if entry.item.kind != kind or (scale is not None and entry.item.scale != scale):
        found = a_model(entry.item.kind) + (
            f" for x{entry.item.scale}" if entry.item.kind == "sr" else ""
        )
        raise UsageError(
            f"{entry.qualified_name} is {found}, not {a_model(kind)}{for_scale}",
            hint=f"installed {model_noun(kind, count=2)}{for_scale}: {installed}",
        )
    return entry


def open_model(ctx: FilterContext, spec: ModelSpec) -> LoadedModel:
    """Load ``spec`` for a batch as ``ctx.runtime`` asks (device through the
    ``select_device`` hook, precision, tile size, compile), warning through ``ctx.warn``."""
    from stylepipe.errors import NotFoundError
    from stylepipe.models.devices import choose_device

    try:
        architecture = ctx.catalog.architectures.get(spec.architecture)
    except NotFoundError as exc:
        raise ModelError(
            f"model {spec.name!r} needs architecture {spec.architecture!r}, "
            "which no installed plugin provides",
            hint=exc.hint,
        ) from exc
    device = choose_device(ctx.runtime.device, ctx.select_device)
    return load_model(
        spec,
        architecture,
        device=device,
        precision=ctx.runtime.precision,
        tile=ctx.runtime.tile,
        warn=ctx.warn,
        compile=ctx.runtime.compile,
    )
