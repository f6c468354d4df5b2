"""The VGG16 loss network: seeded random weights, the ImageNet weights lookup (explicit
file, environment, hub cache, download) and both state-dict layouts, with files written
here (random values in torchvision's key layout). Nothing touches the network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from stylepipe_training import vgg
from stylepipe_training.lossnet import (
    LossNetChoice,
    LossNetOptions,
    get_loss_network,
    loss_network_names,
    register_loss_network,
)

from stylepipe.errors import ModelError, UsageError


@pytest.fixture(autouse=True)
def isolated_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub dir and no weights variable: no real cache is ever read."""
    monkeypatch.delenv(vgg.WEIGHTS_ENV, raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def features_state_dict(seed: int = 1) -> dict[str, torch.Tensor]:
    """Random tensors under torchvision's ``vgg16().features`` keys and shapes."""
    with torch.device("meta"):
        model = torchvision.models.vgg16(weights=None)
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.randn(value.shape, generator=generator) * 0.05
        for key, value in model.features.state_dict().items()
    }


def full_layout(features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's full checkpoint layout. The classifier's keys are present but its
    tensors are small: the loader must ignore them, and at their real shapes (120M
    parameters) the file would be half a gigabyte."""
    state = {f"features.{k}": v for k, v in features.items()}
    for index in (0, 3, 6):
        state[f"classifier.{index}.weight"] = torch.zeros(4, 4)
        state[f"classifier.{index}.bias"] = torch.zeros(4)
    return state


def test_random_vgg16_is_seeded_and_leaves_global_rng_alone() -> None:
    before = torch.get_rng_state()
    a, b, c = vgg.random_vgg16(3), vgg.random_vgg16(3), vgg.random_vgg16(4)
    assert torch.equal(torch.get_rng_state(), before)
    assert a.info["sha256"] == b.info["sha256"] != c.info["sha256"]
    assert a.describe()["name"] == "vgg16-random" and a.describe()["seed"] == 3
    assert a.layer_scaling == "target"
    assert all(not p.requires_grad for p in a.parameters())


def test_features_have_the_vgg16_channels_and_stop_early() -> None:
    net = vgg.random_vgg16(0)
    out = net(torch.rand(1, 3, 32, 32), ["relu1_2", "relu2_2", "relu3_3", "relu4_3"])
    assert {k: v.shape[1] for k, v in out.items()} == vgg.CHANNELS
    assert out["relu4_3"].shape[-1] == 4  # three 2x2 max pools
    assert list(net(torch.rand(1, 3, 32, 32), ["relu2_2"])) == ["relu2_2"]
    net.train()
    assert not net.training


@pytest.mark.parametrize("layout", ["features", "full"])
def test_imagenet_weights_from_an_explicit_file(tmp_path: Path, layout: str) -> None:
    features = features_state_dict()
    state = features if layout == "features" else full_layout(features)
    path = tmp_path / "vgg.pth"
    torch.save(state, path)
    net = vgg.imagenet_vgg16(path)
    assert torch.equal(net.features[21].weight, features["21.weight"])
    assert torch.equal(net.features[0].bias, features["0.bias"])
    assert net.describe()["name"] == "vgg16" and net.layer_scaling == "channels"
    assert net.describe()["weights"] == str(path)


def test_weights_from_environment_then_hub_cache(
    tmp_path: Path, isolated_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = isolated_hub / "checkpoints" / vgg.VGG16_FILE
    cached.parent.mkdir(parents=True)
    torch.save(full_layout(features_state_dict(2)), cached)
    assert vgg.find_vgg16_weights(None) == cached
    env_file = tmp_path / "env.pth"
    torch.save(features_state_dict(3), env_file)
    monkeypatch.setenv(vgg.WEIGHTS_ENV, str(env_file))
    assert vgg.find_vgg16_weights(None) == env_file
    explicit = tmp_path / "explicit.pth"
    torch.save(features_state_dict(4), explicit)
    assert vgg.find_vgg16_weights(explicit) == explicit


def test_missing_weights_without_download_is_one_clear_error(isolated_hub: Path) -> None:
    with pytest.raises(ModelError) as info:
        vgg.imagenet_vgg16(None, download=None)
    text = str(info.value)
    assert "vgg16-random" in text and vgg.VGG16_FILE in text
    assert str(isolated_hub / "checkpoints") in text and "--vgg-weights" in text


def test_failed_download_gives_the_same_error() -> None:
    def offline(dest: Path) -> None:
        raise OSError("Temporary failure in name resolution")

    with pytest.raises(ModelError, match="download failed.*name resolution") as info:
        vgg.imagenet_vgg16(None, download=offline)
    assert "vgg16-random" in str(info.value)


def test_downloaded_file_lands_in_the_hub_cache_and_loads(isolated_hub: Path) -> None:
    features = features_state_dict(5)

    def write_locally(dest: Path) -> None:  # what torch.hub does, without the network
        dest.parent.mkdir(parents=True, exist_ok=True)
        torch.save(full_layout(features), dest)

    net = vgg.imagenet_vgg16(None, download=write_locally)
    assert torch.equal(net.features[2].weight, features["2.weight"])
    assert (isolated_hub / "checkpoints" / vgg.VGG16_FILE).is_file()


def test_bad_files_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="not found"):
        vgg.imagenet_vgg16(tmp_path / "absent.pth")
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(ModelError, match="not a VGG16 state dict: missing 0.weight"):
        vgg.imagenet_vgg16(other)
    wrong = features_state_dict()
    wrong["0.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(wrong, other)
    with pytest.raises(ModelError, match="does not fit VGG16"):
        vgg.imagenet_vgg16(other)
    monkeypatch.setenv(vgg.WEIGHTS_ENV, str(tmp_path / "nowhere.pth"))
    with pytest.raises(ModelError, match=vgg.WEIGHTS_ENV):
        vgg.find_vgg16_weights(None)


def test_registry_is_a_choice_point(monkeypatch: pytest.MonkeyPatch) -> None:
    from stylepipe_training import lossnet

    monkeypatch.setattr(lossnet, "_REGISTRY", dict(lossnet._REGISTRY))  # undone after
    assert loss_network_names()[:2] == ["vgg16", "vgg16-random"]
    with pytest.raises(UsageError, match="vgg16-random"):
        get_loss_network("vgg19")
    with pytest.raises(UsageError, match="twice"):
        register_loss_network(get_loss_network("vgg16"))
    choice = LossNetChoice(
        name="test-seeded-copy",
        summary="for this test",
        build=lambda options: vgg.random_vgg16(options.seed + 1),
        layer_scaling="target",
    )
    register_loss_network(choice)
    built = get_loss_network("test-seeded-copy").build(LossNetOptions(seed=1))
    assert built.info["seed"] == 2
