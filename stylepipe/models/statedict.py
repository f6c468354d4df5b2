"""Fitting a checkpoint's state dict to a freshly built network.

Two kinds of foreign keys are adapted before the strict key check, both documented
because they change what loads:

* stale ``running_mean`` / ``running_var`` / ``num_batches_tracked`` of instance-norm
  layers. PyTorch before 0.4 stored them although instance norm never uses them at
  inference (pytorch/examples ``fast_neural_style`` checkpoints carry them); they are
  dropped when the network's layer is an ``InstanceNorm`` without running statistics.
* batch norm after a convolution, as in the super-resolution network of Johnson et al.
  (2016). At inference batch norm is a fixed per-channel affine map, so it is folded into
  the preceding convolution (``W' = W * g / sqrt(v + eps)``,
  ``b' = (b - m) * g / sqrt(v + eps) + beta``) and the network stays a pure local
  function that tiles exactly. Naming convention: the batch norm ``X.bn.*`` follows the
  convolution ``X.conv2d`` (the layer naming of stylepipe's networks); ``eps`` is 1e-5,
  PyTorch's default, which state dicts do not record.

Anything else that does not fit is a :class:`ModelError` listing missing, unexpected and
mis-shaped keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from stylepipe.models.weights import check_weights

if TYPE_CHECKING:
    import torch
    from torch import nn

BN_EPS = 1e-5
_STALE_STAT = re.compile(r"^(?P<module>.+)\.(running_mean|running_var|num_batches_tracked)$")


def drop_stale_norm_stats(
    net: nn.Module, state: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``state`` without running statistics of the network's instance-norm layers."""
    from torch import nn

    modules = dict(net.named_modules())
    kept = {}
    for key, value in state.items():
        found = _STALE_STAT.match(key)
        layer = modules.get(found["module"]) if found else None
        if isinstance(layer, nn.modules.instancenorm._InstanceNorm) and not (
            layer.track_running_stats
        ):
            continue
        kept[key] = value
    return kept


def fold_batch_norms(
    net: nn.Module, state: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Fold every ``X.bn`` batch norm of ``state`` that the network lacks into the
    convolution ``X.conv2d``; returns the new state and the folded prefixes."""
    modules = dict(net.named_modules())
    out = dict(state)
    folded = []
    prefixes = sorted({k[: -len(".running_var")] for k in state if k.endswith(".running_var")})
    for bn in prefixes:
        parent, _, leaf = bn.rpartition(".")
        conv = f"{parent}.conv2d" if parent else "conv2d"
        if leaf != "bn" or bn in modules or f"{conv}.weight" not in out:
            continue
        _fold_one(out, bn, conv)
        folded.append(bn)
    return out, folded


def _fold_one(state: dict[str, torch.Tensor], bn: str, conv: str) -> None:
    import torch

    weight = state[f"{conv}.weight"].double()
    channels = weight.shape[0]
    mean = state.pop(f"{bn}.running_mean").double()
    var = state.pop(f"{bn}.running_var").double()
    gamma = state.pop(f"{bn}.weight", torch.ones(channels)).double()
    beta = state.pop(f"{bn}.bias", torch.zeros(channels)).double()
    state.pop(f"{bn}.num_batches_tracked", None)
    bias = state.get(f"{conv}.bias", torch.zeros(channels)).double()
    factor = gamma / torch.sqrt(var + BN_EPS)
    dtype = state[f"{conv}.weight"].dtype
    state[f"{conv}.weight"] = (weight * factor.view(-1, 1, 1, 1)).to(dtype)
    state[f"{conv}.bias"] = ((bias - mean) * factor + beta).to(dtype)


def fit_state_dict(net: nn.Module, state: Mapping[str, torch.Tensor], *, where: str) -> None:
    """Load ``state`` into ``net`` strictly, or raise :class:`ModelError` listing every
    problem (:func:`stylepipe.models.weights.check_weights`). ``where`` names the model."""
    check_weights(net, state, where=where)
    net.load_state_dict(dict(state), strict=True)
