"""Instance-norm statistics of a whole large image on the CPU: summed in bands and merged
in float64 (stylepipe.tiling.globalnorm.BAND_PIXELS), so that the whole-frame output is
as close to float64 as tiles are. One float32 sum per channel over a million pixels
(ATen's batch-norm statistics) is off by about 1.7e-4 of the deviation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stylepipe.tiling.globalnorm import BAND_PIXELS, Moments
from stylepipe.tiling.policy import TilingPolicy
from stylepipe.tiling.run import run_tiled

CPU = torch.device("cpu")


def _features(side: int = 1024, channels: int = 4) -> torch.Tensor:
    """Large mean, a trend across rows and noise: what a float32 sum loses digits on."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, channels, side, side, generator=g) * 3 + 50
    x += torch.linspace(0, 10, side)[None, None, :, None]
    return x.contiguous(memory_format=torch.channels_last)


def test_moments_of_a_large_channel_are_near_float64() -> None:
    x = _features()
    var64, mean64 = torch.var_mean(x.double(), dim=(0, 2, 3), correction=0)
    moments = Moments()
    moments.add(x)
    mean, var = moments.mean_var()
    assert float(((mean - mean64).abs() / var64.sqrt()).max()) < 2e-5
    assert float(((var - var64).abs() / var64).max()) < 2e-5
    assert moments.count == x.shape[2] * x.shape[3]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_moments_of_other_types_match_var_mean(dtype: torch.dtype) -> None:
    x = _features(side=200, channels=3).to(dtype)
    moments = Moments()
    moments.add(x)
    mean, var = moments.mean_var()
    var64, mean64 = torch.var_mean(x.double(), dim=(0, 2, 3), correction=0)
    tolerance = 1e-10 if dtype == torch.float64 else 1e-5  # not rounded to bf16 (3e-3)
    assert float(((mean - mean64).abs() / var64.sqrt()).max()) < tolerance
    assert float(((var - var64).abs() / var64).max()) < tolerance


def test_the_whole_frame_is_normalised_with_float64_accurate_statistics() -> None:
    """The whole-frame path (one tile) normalises a 1024x1024 image within 2e-5 of
    float64 instance norm; with one float32 sum per channel it is 1.7e-4 off."""
    norm = nn.InstanceNorm2d(4, affine=True)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    x = _features()
    assert x.shape[2] * x.shape[3] > 16 * BAND_PIXELS
    out = run_tiled(norm, x, TilingPolicy(global_norm=True), tile=0, device=CPU)
    weight, bias = norm.weight.detach().double(), norm.bias.detach().double()
    reference = F.instance_norm(x.double(), weight=weight, bias=bias, eps=norm.eps)
    assert float((out.double() - reference).abs().max()) < 2e-5
    single_sum = F.batch_norm(x, None, None, weight.float(), bias.float(), training=True)
    assert float((single_sum.double() - reference).abs().max()) > 5e-5  # what bands fix
