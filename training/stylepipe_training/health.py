"""A watch for dead layers. A ReLU whose output is zero at every position of an image
passes no gradient to anything before it, and once a layer is silent everywhere the
optimizer cannot bring it back: the run goes on, the loss flattens, and the network
stays whatever its later layers make of nothing. (Our first x4 pixel-loss run stalled
so at bicubic quality: its last upsampling stage had died.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


@contextmanager
def watch_relus(net: nn.Module) -> Iterator[list[str]]:
    """Run ``net`` inside the block; on leaving, the yielded list holds the ReLUs whose
    output was never positive. A module applied several times in one forward pass is
    watched per call (``relu (call 3)``), so a shared ReLU module is no blind spot."""
    silent: list[str] = []
    alive: dict[str, bool] = {}
    calls: dict[str, int] = {}

    def new_pass(module: nn.Module, inputs: Any) -> None:
        calls.clear()

    def recorder(name: str) -> Any:
        def record(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            label = name if calls[name] == 1 else f"{name} (call {calls[name]})"
            alive[label] = alive.get(label, False) or bool((output > 0).any())

        return record

    handles = [net.register_forward_pre_hook(new_pass)]
    handles += [
        module.register_forward_hook(recorder(name or "relu"))
        for name, module in net.named_modules()
        if isinstance(module, nn.ReLU)
    ]
    try:
        yield silent
    finally:
        for handle in handles:
            handle.remove()
        silent.extend(label for label, was_alive in alive.items() if not was_alive)


def silent_layers_warning(step: int, silent: list[str]) -> str:
    """What to tell the user about ``silent`` layers at ``step``."""
    return (
        f"step {step}: {', '.join(silent)} output zero everywhere on the preview image "
        "(dead ReLUs): no gradient passes them and training cannot revive them, so the "
        "network stops improving. Start the run again with a lower --lr."
    )
