"""The ``nn.Module`` stylepipe tiles for a spandrel model (imports torch)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _plain_call(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    return model(image)


class CommunityNet(nn.Module):
    """A spandrel model as a network of ``(B, 3, H, W)`` in [0, 1] to ``(B, 3, sH, sW)``:
    spandrel's own call (some families wrap the model) without its padding, since the
    tiler feeds tiles of the sizes the model's policy asks for."""

    def __init__(self, descriptor: Any) -> None:
        super().__init__()
        self.model = descriptor.model
        self.call = getattr(descriptor, "_call_fn", None) or _plain_call
        self.family = str(descriptor.architecture.id)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.call(self.model, x)
