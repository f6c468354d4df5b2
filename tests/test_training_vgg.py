"""The VGG loss networks: seeded random VGG16, ImageNet VGG16/VGG19 files found by the
lookup order (explicit file, environment, hub cache, download), partial VGG19 files,
input conventions, and the ``auto`` choice. Files are written here with random values
in torchvision's key layout; nothing touches the network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file
from stylepipe_training import vgg, vgg_weights
from stylepipe_training.lossnet import (
    LossNetChoice,
    LossNetOptions,
    choose_auto,
    get_loss_network,
    loss_network_names,
    register_loss_network,
)

from stylepipe import sha256_file
from stylepipe.errors import ModelError, UsageError


@pytest.fixture(autouse=True)
def isolated_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub dir and no weights variables: no real cache is ever read."""
    monkeypatch.delenv(vgg_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(vgg_weights.INPUT_ENV, raising=False)
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    return hub


def features_state_dict(arch: str = "vgg16", seed: int = 1, last: int | None = None):
    """Random tensors under torchvision's ``features`` keys and shapes, up to index
    ``last`` (the whole ``features`` when None)."""
    with torch.device("meta"):
        model = getattr(torchvision.models, arch)(weights=None)
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.randn(value.shape, generator=generator) * 0.05
        for key, value in model.features.state_dict().items()
        if last is None or int(key.split(".")[0]) <= last
    }


def full_layout(features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's full checkpoint layout; the classifier's tensors are small stand-ins
    (the loader must ignore them)."""
    state = {f"features.{k}": v for k, v in features.items()}
    for index in (0, 3, 6):
        state[f"classifier.{index}.weight"] = torch.zeros(4, 4)
        state[f"classifier.{index}.bias"] = torch.zeros(4)
    return state


def partial_vgg19(path: Path, convention: str | None = "caffe", seed: int = 2) -> dict:
    """conv1_1..conv3_4 of VGG19 as safetensors, like the file our machines have."""
    state = {f"features.{k}": v for k, v in features_state_dict("vgg19", seed, 16).items()}
    save_file(state, str(path), metadata={"input_convention": convention} if convention else None)
    return state


def test_random_vgg16_is_seeded_and_leaves_global_rng_alone() -> None:
    before = torch.get_rng_state()
    a, b, c = vgg.random_vgg16(3), vgg.random_vgg16(3), vgg.random_vgg16(4)
    assert torch.equal(torch.get_rng_state(), before)
    assert a.info["sha256"] == b.info["sha256"] != c.info["sha256"]
    assert a.describe()["name"] == "vgg16-random" and a.describe()["seed"] == 3
    assert a.layer_scaling == "target"
    assert all(not p.requires_grad for p in a.parameters())


def test_vgg16_layers_channels_and_early_stop() -> None:
    net = vgg.random_vgg16(0)
    assert net.default_style_layers() == ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    out = net(torch.rand(1, 3, 32, 32), net.default_style_layers())
    assert [v.shape[1] for v in out.values()] == [64, 128, 256, 512]
    assert out["relu4_3"].shape[-1] == 4  # three 2x2 max pools
    assert list(net(torch.rand(1, 3, 32, 32), ["relu2_2"])) == ["relu2_2"]
    net.train()
    assert not net.training


def test_our_layers_match_torchvision_vgg19_features() -> None:
    """Same indices and outputs as torchvision's own VGG19 with the same weights."""
    state = features_state_dict("vgg19", 3, 25)
    net = vgg.pretrained(
        vgg.LAYOUTS["vgg19"],
        state,
        blocks=4,
        convention="torchvision",
        layer_scaling="target",
        info={},
    )
    reference = torchvision.models.vgg19(weights=None).features[:27].eval()
    reference.load_state_dict(state)
    x = torch.rand(1, 3, 24, 24)
    normalised = (x - torch.tensor(vgg.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        vgg.IMAGENET_STD
    ).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = reference[:18](normalised)  # relu3_4 is features[17]
        got = net(x, ["relu3_4", "relu4_4"])
    assert torch.allclose(got["relu3_4"], expected, atol=1e-5)
    assert net.default_style_layers() == ("relu1_2", "relu2_2", "relu3_4", "relu4_4")


def test_caffe_convention_feeds_bgr_0_255_minus_the_mean() -> None:
    state = features_state_dict("vgg19", 4, 16)
    net = vgg.pretrained(
        vgg.LAYOUTS["vgg19"], state, blocks=3, convention="caffe", layer_scaling="target", info={}
    )
    conv = torch.nn.Conv2d(3, 64, 3, padding=1)
    conv.load_state_dict({"weight": state["0.weight"], "bias": state["0.bias"]})
    x = torch.rand(1, 3, 8, 8)
    caffe = x.flip(1) * 255 - torch.tensor(vgg.CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(net(x, ["relu1_1"])["relu1_1"], conv(caffe).relu(), atol=1e-3)


def test_partial_vgg19_file_is_read_with_its_stated_convention(tmp_path: Path) -> None:
    path = tmp_path / "partial.safetensors"
    state = partial_vgg19(path)
    found = vgg_weights.find_weights("vgg19", path)
    assert (found.layout.name, found.blocks, found.convention) == ("vgg19", 3, "caffe")
    assert not found.complete
    net = found.build("target")
    assert torch.equal(net.features[16].weight, state["features.16.weight"])
    assert net.default_style_layers() == ("relu1_2", "relu2_2", "relu3_4")
    described = net.describe()
    assert described["name"] == "vgg19" and described["input_convention"] == "caffe"
    assert described["file_sha256"] == sha256_file(path)
    assert len(described["sha256"]) == 64 and described["weights"] == path.name
    with pytest.raises(ModelError, match="no layer relu4_4"):
        net.check_layers(["relu4_4"])


def test_a_file_that_states_no_convention_is_refused_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bare.safetensors"
    partial_vgg19(path, convention=None)
    with pytest.raises(ModelError, match="input convention") as info:
        vgg_weights.find_weights("vgg19", path)
    assert "--vgg-input caffe" in str(info.value)
    assert vgg_weights.find_weights("vgg19", path, convention="caffe").convention == "caffe"
    monkeypatch.setenv(vgg_weights.INPUT_ENV, "torchvision")
    assert vgg_weights.find_weights("vgg19", path).convention == "torchvision"
    stated = tmp_path / "stated.safetensors"
    partial_vgg19(stated, convention="caffe")
    with pytest.raises(ModelError, match="states input convention 'caffe', not 'torchvision'"):
        vgg_weights.find_weights("vgg19", stated, convention="torchvision")


def test_vgg16_and_vgg19_files_are_told_apart(tmp_path: Path) -> None:
    v16 = tmp_path / "v16.pth"
    torch.save(full_layout(features_state_dict("vgg16")), v16)
    found = vgg_weights.find_weights("auto", v16, convention="torchvision")
    assert (found.layout.name, found.blocks, found.complete) == ("vgg16", 4, True)
    with pytest.raises(ModelError, match="holds vgg16 weights, not vgg19"):
        vgg_weights.find_weights("vgg19", v16, convention="torchvision")
    v19 = tmp_path / "v19.pth"
    torch.save(features_state_dict("vgg19"), v19)
    found = vgg_weights.find_weights("auto", v19, convention="torchvision")
    assert (found.layout.name, found.blocks) == ("vgg19", 4)


def test_hub_cache_order_and_names_imply_torchvision(
    tmp_path: Path, isolated_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_hub / "checkpoints").mkdir(parents=True)
    torch.save(full_layout(features_state_dict("vgg19")), vgg_weights.hub_path("vgg19"))
    options = LossNetOptions()
    assert choose_auto(options) == "vgg19"
    torch.save(full_layout(features_state_dict("vgg16")), vgg_weights.hub_path("vgg16"))
    assert choose_auto(options) == "vgg16"  # the paper's network first
    found = vgg_weights.find_weights("vgg19", None)
    assert found.convention == "torchvision" and found.path == vgg_weights.hub_path("vgg19")
    env_file = tmp_path / "env.safetensors"
    partial_vgg19(env_file)
    monkeypatch.setenv(vgg_weights.WEIGHTS_ENV, str(env_file))
    assert vgg_weights.find_weights("auto", None).path == env_file
    assert choose_auto(options) == "vgg19"


def test_auto_without_weights_names_the_places_and_the_random_fallback(
    isolated_hub: Path,
) -> None:
    with pytest.raises(ModelError) as info:
        choose_auto(LossNetOptions(download=True))  # auto never downloads
    text = str(info.value)
    assert "vgg16-397923af.pth" in text and "vgg19-dcbb9e9d.pth" in text
    assert str(isolated_hub / "checkpoints") in text and "--vgg-weights" in text
    assert "--loss-net vgg16-random" in text and "weaker" in text


def test_named_network_downloads_into_the_hub_cache(
    isolated_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features = features_state_dict("vgg16", 5)
    fetched: list[str] = []

    def write_locally(architecture: str, dest: Path) -> None:  # torch.hub, offline
        fetched.append(architecture)
        dest.parent.mkdir(parents=True, exist_ok=True)
        torch.save(full_layout(features), dest)

    monkeypatch.setattr(vgg_weights, "download_torchvision", write_locally)
    with pytest.raises(ModelError, match="downloads are disabled"):
        get_loss_network("vgg16").build(LossNetOptions(download=False))
    net = get_loss_network("vgg16").build(LossNetOptions(download=True))
    assert fetched == ["vgg16"] and net.layer_scaling == "channels"
    assert torch.equal(net.features[2].weight, features["2.weight"])

    def offline(architecture: str, dest: Path) -> None:
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(vgg_weights, "download_torchvision", offline)
    with pytest.raises(ModelError, match="download failed.*name resolution"):
        get_loss_network("vgg19").build(LossNetOptions(download=True))


def test_bad_files_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="not found"):
        vgg_weights.find_weights("vgg16", tmp_path / "absent.pth")
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(1)}, other)
    with pytest.raises(ModelError, match="not a VGG16/VGG19 state dict"):
        vgg_weights.find_weights("vgg16", other, convention="torchvision")
    torch.save(features_state_dict("vgg19", last=7), other)  # blocks 1-2 only
    with pytest.raises(ModelError, match="2 complete blocks"):
        vgg_weights.find_weights("vgg19", other, convention="torchvision")
    wrong = features_state_dict()
    wrong["0.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(wrong, other)
    with pytest.raises(ModelError, match="does not fit vgg16"):
        vgg_weights.find_weights("vgg16", other, convention="torchvision").build("channels")
    monkeypatch.setenv(vgg_weights.WEIGHTS_ENV, str(tmp_path / "nowhere.pth"))
    with pytest.raises(ModelError, match=vgg_weights.WEIGHTS_ENV):
        vgg_weights.given_file(None)


def test_registry_is_a_choice_point(monkeypatch: pytest.MonkeyPatch) -> None:
    from stylepipe_training import lossnet

    monkeypatch.setattr(lossnet, "_REGISTRY", dict(lossnet._REGISTRY))  # undone after
    assert loss_network_names() == ["vgg16", "vgg19", "vgg16-random"]
    assert get_loss_network("vgg19").style_reduction == "mean"
    with pytest.raises(UsageError, match="vgg16-random"):
        get_loss_network("vgg11")
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


@pytest.mark.assets
def test_the_shared_imagenet_vgg19_file(assets: Path) -> None:
    """The real partial VGG19: read as vgg19, 3 blocks, Caffe; its conv1_1 filters are
    smooth colour/edge detectors, not noise (neighbouring taps correlate)."""
    path = assets / "loss_networks" / "vgg19-imagenet-conv1-3" / "weights.safetensors"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    found = vgg_weights.read_weights(path, "caffe")
    assert (found.layout.name, found.blocks) == ("vgg19", 3)
    w = found.state["0.weight"]
    left, right = w[..., :, :-1].flatten(), w[..., :, 1:].flatten()
    assert torch.corrcoef(torch.stack([left, right]))[0, 1] > 0.5
