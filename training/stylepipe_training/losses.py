"""Perceptual losses of Johnson, Alahi & Fei-Fei (ECCV 2016), section 3.

* Feature reconstruction loss at layer j: ``||phi_j(y_hat) - phi_j(y)||_2**2 / (C_j H_j W_j)``,
  averaged over the batch (the mean squared error of the activations).
* Gram matrix: ``G_j(x)[c, c'] = sum_hw phi_j(x)[c,h,w] phi_j(x)[c',h,w] / (C_j H_j W_j)``.
* Style reconstruction loss at layer j: the squared Frobenius norm
  ``||G_j(y_hat) - G_j(y_s)||_F**2``, averaged over the batch, summed over the style layers.
* Total variation (the paper's smoothness prior, Mahendran & Vedaldi 2015, with beta=2):
  ``mean((y[h+1,w] - y[h,w])**2) + mean((y[h,w+1] - y[h,w])**2)`` per image, averaged
  over the batch; the means make its weight independent of the image size.

How each layer's term is scaled before the user's weights apply depends on the loss
network (``layer_scaling``, see :mod:`stylepipe_training.lossnet`). The style loss may also
be measured at smaller scales of the output, against the painting shrunk alike
(``style_scales``, e.g. 1 and 0.5): at half scale a layer sees shapes twice as large, which
stands in for the deeper layers a partial loss network lacks. Gram matrices and
losses are computed in float32 even when the networks run under bf16 autocast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from .vgg import LossNetwork

CONTENT_LAYER = "relu2_2"  # the paper's; blocks 1-2 are the same in VGG16 and VGG19


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` -> ``(B, C, C)`` Gram matrices normalised by ``C*H*W``, in fp32."""
    b, c, h, w = features.shape
    # bmm is on autocast's reduced-precision list; Gram sums need fp32 accumulation.
    with torch.autocast(features.device.type, enabled=False):
        flat = features.float().reshape(b, c, h * w)
        return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def feature_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared feature distance normalised by ``C*H*W``, averaged over the batch."""
    return F.mse_loss(pred.float(), target.float())


def style_layer_loss(gram_pred: torch.Tensor, gram_target: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius distance between Gram matrices, averaged over the batch.
    ``gram_target`` is ``(1, C, C)`` (one style image) or ``(B, C, C)``."""
    return (gram_pred - gram_target).pow(2).sum(dim=(1, 2)).mean()


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Squared anisotropic total variation, averaged per pixel and over the batch."""
    x = image.float()
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).pow(2).mean()
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).pow(2).mean()
    return dh + dw


def content_scale(lossnet: LossNetwork, target: torch.Tensor) -> torch.Tensor | float:
    """The factor the feature loss is multiplied by (1, or 1 / target energy)."""
    if lossnet.layer_scaling == "target":
        return 1.0 / target.float().pow(2).mean().clamp_min(1e-12)
    return 1.0


def style_layer_factors(
    lossnet: LossNetwork, grams: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    """Per-layer factors of the style loss: ``1/C_j**2`` or ``1/||G_j(y_s)||_F**2``."""
    if lossnet.layer_scaling == "target":
        return {k: 1.0 / max(float(g.float().pow(2).sum()), 1e-24) for k, g in grams.items()}
    return {k: 1.0 / g.shape[-1] ** 2 for k, g in grams.items()}


def downscale(image: torch.Tensor, scale: float) -> torch.Tensor:
    """``image`` at ``scale`` of its size, each pixel the mean of the area it covers
    (exactly 2x2 means at 0.5 on even sides); ``scale`` 1 returns it unchanged."""
    if scale == 1.0:
        return image
    return F.interpolate(image, scale_factor=scale, mode="area")


class StyleCriterion:
    """The style-transfer objective: weighted content, style and TV terms.

    ``style_layers`` maps each style layer to its weight (default: the network's own
    mapping of the paper's layers, each weighing 1). ``style_scales`` are the scales the
    style loss is measured at (default 1 alone, the paper's); each adds its own term, the
    output and the painting shrunk alike. The style image's Gram targets are computed
    once, at construction; the content target (``content_layer`` of the input batch,
    relu2_2 by default, the paper's) once per batch, without gradient.
    """

    def __init__(
        self,
        lossnet: LossNetwork,
        style_image: torch.Tensor,
        *,
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        style_layers: Mapping[str, float] | None = None,
        style_scales: Sequence[float] = (1.0,),
        content_layer: str = CONTENT_LAYER,
    ) -> None:
        self.lossnet = lossnet
        self.weights = {"content": content_weight, "style": style_weight, "tv": tv_weight}
        if style_layers is None:
            style_layers = dict.fromkeys(lossnet.default_style_layers(), 1.0)
        lossnet.check_layers([*style_layers, content_layer])
        self.layer_weights = dict(style_layers)
        self.style_layers, self.content_layer = tuple(style_layers), content_layer
        self.style_scales = tuple(float(s) for s in style_scales)
        #: ``{scale: {layer: Gram target}}`` and ``{scale: {layer: factor}}``
        self.style_grams: dict[float, dict[str, torch.Tensor]] = {}
        self.factors: dict[float, dict[str, float]] = {}
        for scale in self.style_scales:
            with torch.no_grad():
                feats = lossnet(downscale(style_image.float(), scale), self.style_layers)
                grams = {k: gram_matrix(v) for k, v in feats.items()}
            factors = style_layer_factors(lossnet, grams)
            self.style_grams[scale] = grams
            self.factors[scale] = {k: factors[k] * self.layer_weights[k] for k in grams}

    def to(self, device: torch.device) -> StyleCriterion:
        self.style_grams = {
            s: {k: g.to(device) for k, g in grams.items()} for s, grams in self.style_grams.items()
        }
        return self

    def style_loss(self, feats: Mapping[str, torch.Tensor], scale: float) -> torch.Tensor:
        """The weighted sum over the style layers of the output's features at ``scale``."""
        targets, factors = self.style_grams[scale], self.factors[scale]
        return torch.as_tensor(
            sum(
                factors[k] * style_layer_loss(gram_matrix(feats[k]), targets[k])
                for k in self.style_layers
            )
        )

    def __call__(self, output: torch.Tensor, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted terms (``content``, ``style``, ``tv``) and their sum, ``total``."""
        with torch.no_grad():
            target = self.lossnet(content, [self.content_layer])[self.content_layer]
        layers = dict.fromkeys([*self.style_layers, self.content_layer])
        feats = self.lossnet(output, layers)
        style_only = dict.fromkeys(self.style_layers)
        content_term = feature_loss(feats[self.content_layer], target)
        content_term = content_term * content_scale(self.lossnet, target)
        style_term = sum(
            self.style_loss(
                feats if scale == 1.0 else self.lossnet(downscale(output, scale), style_only),
                scale,
            )
            for scale in self.style_scales
        )
        terms = {
            "content": self.weights["content"] * content_term,
            "style": self.weights["style"] * torch.as_tensor(style_term),
            "tv": self.weights["tv"] * total_variation(output),
        }
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms


class SRCriterion:
    """The super-resolution objective: feature loss at relu2_2 (or per-pixel MSE) plus TV.
    ``loss_weight`` multiplies the feature (or pixel) term; ``pixel_weight`` > 0 adds a
    per-pixel MSE term to the feature loss (0, the paper's form, leaves it out)."""

    def __init__(
        self,
        lossnet: LossNetwork | None,
        *,
        loss: str,
        tv_weight: float,
        loss_weight: float = 1.0,
        pixel_weight: float = 0.0,
        layer: str = CONTENT_LAYER,
    ) -> None:
        if loss == "feature" and lossnet is None:
            raise ValueError("the feature loss needs a loss network")
        if pixel_weight and loss != "feature":
            raise ValueError("pixel_weight adds a pixel term to the feature loss only")
        self.lossnet, self.loss, self.layer = lossnet, loss, layer
        self.weights = {"main": loss_weight, "tv": tv_weight, "pixel": pixel_weight}

    @property
    def terms(self) -> tuple[str, ...]:
        """Names of the weighted terms, ``total`` first."""
        extra = ("pixel",) if self.weights["pixel"] else ()  # feature loss only (checked)
        return ("total", self.loss, *extra, "tv")

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted terms (``feature`` or ``pixel``, ``pixel`` too when it is added to the
        feature loss, and ``tv``) and their sum, ``total``."""
        terms = {}
        if self.loss == "feature":
            assert self.lossnet is not None
            with torch.no_grad():
                want = self.lossnet(target, [self.layer])[self.layer]
            got = self.lossnet(output, [self.layer])[self.layer]
            main = feature_loss(got, want) * content_scale(self.lossnet, want)
            if self.weights["pixel"]:
                pixel = F.mse_loss(output.float(), target.float())
                terms["pixel"] = self.weights["pixel"] * pixel
        else:
            main = F.mse_loss(output.float(), target.float())
        terms[self.loss] = self.weights["main"] * main
        terms["tv"] = self.weights["tv"] * total_variation(output)
        terms["total"] = sum(terms.values(), torch.zeros((), device=output.device))
        return terms
