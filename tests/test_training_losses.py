"""Perceptual losses: Gram, feature, style and TV values against hand computations,
per-layer scaling, and losses that fall over a few steps on a fixed batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from stylepipe_style.network import TransformerNet
from stylepipe_training.loop import Runtime
from stylepipe_training.losses import (
    SRCriterion,
    StyleCriterion,
    downscale,
    feature_loss,
    gram_matrix,
    style_layer_loss,
    total_variation,
)
from stylepipe_training.style import StyleTrainer
from stylepipe_training.vgg import random_vgg16


@pytest.fixture(scope="module")
def lossnet():
    return random_vgg16(0)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors run faster on one thread, and far faster on a shared, busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_gram_matrix_by_hand() -> None:
    # C=2, H=1, W=2: channel a = (1, 2), channel b = (3, 4); normaliser C*H*W = 4.
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[1 + 4, 3 + 8], [3 + 8, 9 + 16]]]) / 4.0
    assert torch.allclose(gram_matrix(f), expected)


def test_gram_matrix_stays_fp32_under_bf16_autocast() -> None:
    f = torch.rand(2, 8, 5, 5) * 10
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram_matrix(f.bfloat16())
    assert g.dtype == torch.float32
    assert torch.allclose(g, gram_matrix(f.bfloat16().float()))


def test_total_variation_by_hand() -> None:
    # one channel, 2x3: rows (0, 1, 3) and (2, 2, 2)
    img = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]]])
    vertical = (4 + 1 + 1) / 3  # (2-0)^2, (2-1)^2, (2-3)^2 over 3 pairs
    horizontal = (1 + 4 + 0 + 0) / 4  # (1-0)^2, (3-1)^2, 0, 0 over 4 pairs
    assert float(total_variation(img)) == pytest.approx(vertical + horizontal)


def test_feature_and_style_losses_by_hand() -> None:
    a = torch.zeros(1, 2, 2, 2)
    b = torch.ones(1, 2, 2, 2)
    assert float(feature_loss(a, b)) == pytest.approx(1.0)  # 8 / (C*H*W = 8)
    g1 = torch.tensor([[[1.0, 2.0], [2.0, 0.0]]])
    g2 = torch.tensor([[[0.0, 0.0], [0.0, 3.0]]])
    assert float(style_layer_loss(g1, g2)) == pytest.approx(1 + 4 + 4 + 9)


def test_target_scaling_divides_each_layer_by_its_target_magnitude(lossnet) -> None:
    torch.manual_seed(0)
    style = torch.rand(1, 3, 40, 40)
    crit = StyleCriterion(lossnet, style, content_weight=1.0, style_weight=1.0, tv_weight=0.0)
    content = torch.rand(2, 3, 32, 32)
    terms = crit(content, content)  # output == content: no content loss
    assert float(terms["content"]) == 0.0
    feats = lossnet(content, crit.style_layers)
    expected = sum(
        float(((gram_matrix(feats[k]) - crit.style_grams[1.0][k]) ** 2).sum(dim=(1, 2)).mean())
        / float((crit.style_grams[1.0][k] ** 2).sum())
        for k in crit.style_layers
    )
    assert float(terms["style"]) == pytest.approx(expected, rel=1e-4)
    # the style image itself scores zero style loss, whatever the layer magnitudes
    assert float(crit(style, style)["style"]) == pytest.approx(0.0, abs=1e-6)
    # content: ||phi(y) - phi(x)||^2 / ||phi(x)||^2 summed over the batch
    other = torch.rand(2, 3, 32, 32)
    fy = lossnet(other, ["relu2_2"])["relu2_2"]
    fx = lossnet(content, ["relu2_2"])["relu2_2"]
    ratio = float(((fy - fx) ** 2).sum() / (fx**2).sum())
    assert float(crit(other, content)["content"]) == pytest.approx(ratio, rel=1e-4)


def test_channels_scaling_is_mean_squared_error_of_grams(lossnet) -> None:
    from stylepipe_training.losses import style_layer_factors
    from stylepipe_training.vgg import LAYOUTS, LossNetwork

    imagenet_like = LossNetwork(
        lossnet.features,
        name="vgg16",
        layout=LAYOUTS["vgg16"],
        blocks=4,
        convention="torchvision",
        layer_scaling="channels",
        info={},
    )
    grams = {"relu1_2": torch.ones(1, 64, 64), "relu4_3": torch.ones(1, 512, 512)}
    assert style_layer_factors(imagenet_like, grams) == {
        "relu1_2": 1 / 64**2,
        "relu4_3": 1 / 512**2,
    }


def test_sr_pixel_criterion_is_mse_plus_tv() -> None:
    out, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    terms = SRCriterion(None, loss="pixel", tv_weight=0.5)(out, target)
    assert float(terms["pixel"]) == pytest.approx(float(((out - target) ** 2).mean()))
    assert float(terms["total"]) == pytest.approx(
        float(terms["pixel"]) + 0.5 * float(total_variation(out))
    )
    with pytest.raises(ValueError):
        SRCriterion(None, loss="feature", tv_weight=0.0)


def test_sr_feature_criterion_with_an_added_pixel_term(lossnet) -> None:
    torch.manual_seed(1)
    out, target = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    plain = SRCriterion(lossnet, loss="feature", tv_weight=0.25)
    mixed = SRCriterion(lossnet, loss="feature", tv_weight=0.25, pixel_weight=10.0)
    assert plain.terms == ("total", "feature", "tv")
    assert mixed.terms == ("total", "feature", "pixel", "tv")
    a, b = plain(out, target), mixed(out, target)
    assert set(b) == set(mixed.terms)
    mse = float(((out - target) ** 2).mean())
    assert float(b["pixel"]) == pytest.approx(10.0 * mse)
    assert float(b["feature"]) == pytest.approx(float(a["feature"]))
    assert float(b["total"]) == pytest.approx(float(a["total"]) + 10.0 * mse, rel=1e-5)
    with pytest.raises(ValueError, match="feature loss only"):
        SRCriterion(None, loss="pixel", tv_weight=0.0, pixel_weight=1.0)


def test_style_losses_decrease_on_a_fixed_batch(lossnet) -> None:
    torch.manual_seed(0)
    style = torch.rand(1, 3, 48, 48)
    crit = StyleCriterion(lossnet, style, content_weight=1.0, style_weight=5.0, tv_weight=1.0)
    trainer = StyleTrainer(
        TransformerNet(width=8, n_residual=1),
        crit,
        Runtime(precision="fp32"),
        lr=1e-3,
        preview=torch.rand(1, 3, 32, 32),
    )
    batch = torch.rand(2, 3, 32, 32)
    losses = [trainer.train_step(batch) for _ in range(8)]
    last = losses[-3:]
    assert sum(t["total"] for t in last) / 3 < 0.5 * losses[0]["total"]
    assert sum(t["style"] for t in last) / 3 < 0.5 * losses[0]["style"]
    assert trainer.preview().size == (32, 32)


def test_style_layer_weights_scale_each_layer_and_unknown_layers_are_refused(lossnet) -> None:
    from stylepipe.errors import ModelError

    style = torch.rand(1, 3, 32, 32)
    kwargs = {"content_weight": 1.0, "style_weight": 1.0, "tv_weight": 0.0}
    one = StyleCriterion(lossnet, style, style_layers={"relu2_2": 1.0}, **kwargs)
    half = StyleCriterion(lossnet, style, style_layers={"relu2_2": 0.5}, **kwargs)
    out, content = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert float(half(out, content)["style"]) == pytest.approx(
        0.5 * float(one(out, content)["style"]), rel=1e-5
    )
    with pytest.raises(ModelError, match="no layer relu3_4"):
        StyleCriterion(lossnet, style, style_layers={"relu3_4": 1.0}, **kwargs)


def test_each_style_scale_adds_its_own_term_against_the_painting_shrunk_alike(lossnet) -> None:
    """At scale 0.5 the output and the painting are both averaged over 2x2 pixels before the
    loss network sees them: a term of its own, added to the full-scale one."""
    torch.manual_seed(2)
    style = torch.rand(1, 3, 48, 48)
    kwargs = {"content_weight": 1.0, "style_weight": 3.0, "tv_weight": 0.0}
    both = StyleCriterion(lossnet, style, style_scales=(1.0, 0.5), **kwargs)
    full = StyleCriterion(lossnet, style, **kwargs)
    shrunk = StyleCriterion(lossnet, F.avg_pool2d(style, 2), **kwargs)
    out, content = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    half = float(shrunk(F.avg_pool2d(out, 2), F.avg_pool2d(content, 2))["style"])
    assert half > 0
    terms = both(out, content)
    assert float(terms["style"]) == pytest.approx(
        float(full(out, content)["style"]) + half, rel=1e-5
    )
    assert float(terms["content"]) == pytest.approx(float(full(out, content)["content"]))
    # the painting itself is as near its own style at every scale
    assert float(both(style, style)["style"]) == pytest.approx(0.0, abs=1e-6)


def test_the_content_loss_is_measured_at_the_layer_asked_for(lossnet) -> None:
    """Johnson's released models measured the content at relu3_3, the paper at relu2_2:
    the term is the relative squared distance of the chosen layer's features."""
    torch.manual_seed(4)
    style = torch.rand(1, 3, 32, 32)
    kwargs = {"content_weight": 2.0, "style_weight": 1.0, "tv_weight": 0.0}
    out, content = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    for layer in ("relu2_2", "relu3_3"):
        criterion = StyleCriterion(lossnet, style, content_layer=layer, **kwargs)
        with torch.no_grad():
            got, want = lossnet(out, [layer])[layer], lossnet(content, [layer])[layer]
        expected = 2.0 * float(F.mse_loss(got, want) / want.pow(2).mean())
        assert float(criterion(out, content)["content"]) == pytest.approx(expected, rel=1e-5)
    deeper = StyleCriterion(lossnet, style, content_layer="relu3_3", **kwargs)
    paper = StyleCriterion(lossnet, style, **kwargs)
    assert float(deeper(out, content)["content"]) != pytest.approx(
        float(paper(out, content)["content"])
    )
    from stylepipe.errors import ModelError

    with pytest.raises(ModelError, match="no layer relu5_9"):
        StyleCriterion(lossnet, style, content_layer="relu5_9", **kwargs)


def test_downscale_averages_areas_and_leaves_scale_one_alone() -> None:
    image = torch.rand(1, 3, 8, 6)
    assert downscale(image, 1.0) is image
    assert torch.allclose(downscale(image, 0.5), F.avg_pool2d(image, 2))
    assert downscale(image, 0.25).shape[-2:] == (2, 1)
