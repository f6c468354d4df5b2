"""The model descriptor (LoadedModel / load_model), weight fitting, model choice, and the
registration of data-only packs (stylepipe_local, bundled models/ folders)."""

from __future__ import annotations

import io
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stylepipe_sr
import stylepipe_style
import torch
from model_helpers import (
    SR_ARCH,
    STYLE_ARCH,
    catalog,
    context,
    tiny_sr_net,
    tiny_style_net,
    write_sr_pack,
    write_style_pack,
)
from torch import nn

from stylepipe import Architecture, ModelError, ModelSpec, NotFoundError, UsageError
from stylepipe.app import App
from stylepipe.errors import PluginWarning
from stylepipe.models.descriptor import pad_to_fit
from stylepipe.models.loading import LoadedModel, load_model, open_model, pick_model
from stylepipe.models.statedict import fold_batch_norms
from stylepipe.packs.folders import scan_pack_folder
from stylepipe.paths import user_plugin_dir
from stylepipe.plugins import load_plugins
from stylepipe.tiling.policy import TilingPolicy
from stylepipe.ui import UI

SIZES = [(1, 1), (7, 3), (3, 7), (5, 5), (13, 17), (8, 8), (24, 20)]


def arch(kind: str = "style") -> Architecture:
    return catalog().architectures.get(STYLE_ARCH if kind == "style" else SR_ARCH)


def spec_for(pack: Any) -> ModelSpec:
    return pack.model_spec()


def style_model(**kwargs: Any) -> tuple[LoadedModel, nn.Module]:
    pack, net = write_style_pack(**kwargs)
    model = load_model(spec_for(pack), arch("style"), precision="fp32", tile=0)
    return model, net


# --- descriptor contract ------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_style_descriptor_takes_any_size(height: int, width: int) -> None:
    model, _ = style_model()
    image = torch.rand(2, 3, height, width)
    out = model(image)
    assert out.shape == (2, 3, height, width)
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("scale", [4, 8])
@pytest.mark.parametrize(("height", "width"), [(1, 1), (7, 3), (6, 9)])
def test_sr_descriptor_output_is_exactly_scale_times(scale: int, height: int, width: int) -> None:
    pack, _ = write_sr_pack(name=f"sr{scale}", scale=scale)
    model = load_model(spec_for(pack), arch("sr"), precision="fp32", tile=0)
    out = model(torch.rand(1, 3, height, width))
    assert out.shape == (1, 3, height * scale, width * scale)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert model.scale == scale and model.multiple == 1


def test_descriptor_matches_the_bare_network_where_no_padding_is_needed() -> None:
    model, net = style_model()
    image = torch.rand(1, 3, 16, 12)
    with torch.no_grad():
        expected = net(image).clamp(0, 1)
    torch.testing.assert_close(model(image), expected, atol=1e-5, rtol=1e-4)


def test_descriptor_clamps_out_of_range_outputs() -> None:
    model, net = style_model()
    with torch.no_grad():
        model.net.deconv3.conv2d.bias.fill_(50.0)
    out = model(torch.rand(1, 3, 9, 9))
    assert torch.equal(out, torch.ones_like(out))


def test_descriptor_scales_to_the_weights_input_range() -> None:
    """A 1x1 convolution computing x - 127.5: in a 0-255 model that is x - 0.5 on [0, 1]."""
    shift = Architecture(
        id="shift",
        kind="style",
        build=lambda: nn.Conv2d(3, 3, 1),
        tiling=lambda: TilingPolicy(),
        precisions=("fp32",),
    )
    net = nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        net.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        net.bias.fill_(-127.5)
    path = user_plugin_dir() / "shift.pt"
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)
    image = torch.rand(1, 3, 5, 4)
    spec = ModelSpec("shift", "style", "shift", {}, path, manifest={"input_range": 255.0})
    model = load_model(spec, shift, precision="fp32")
    torch.testing.assert_close(model(image), (image - 0.5).clamp(0, 1), atol=1e-5, rtol=0)
    # Read in the wrong range the same weights give black: an error, never a black picture.
    spec = ModelSpec("shift", "style", "shift", {}, path, manifest={"input_range": 1.0})
    model = load_model(spec, shift, precision="fp32")
    with pytest.raises(ModelError, match="its output for a 16x20 image is black") as info:
        model(torch.rand(1, 3, 20, 16))
    assert "--input-range 255" in (info.value.hint or "")
    assert not model(torch.full((1, 3, 20, 16), 0.05)).any()  # a dark input may give black
    assert not model(image).any()  # so may a tiny one (instance norms are degenerate there)


def test_black_output_in_reduced_precision_is_recomputed_in_fp32(tmp_path: Path) -> None:
    model, warnings = fragile_model(tmp_path, "black")
    out = model(torch.rand(1, 3, 16, 16))
    assert len(warnings) == 1 and "is black" in warnings[0] and out.amax() > 0.05


def test_descriptor_puts_the_network_in_channels_last_inference_mode() -> None:
    model, _ = style_model()
    assert not model.net.training
    assert all(not p.requires_grad for p in model.net.parameters())
    weight = model.net.conv1.conv2d.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)


def test_descriptor_rejects_wrong_tensors() -> None:
    model, _ = style_model()
    for bad in (
        torch.rand(3, 8, 8),
        torch.rand(1, 4, 8, 8),
        torch.zeros(1, 3, 8, 8, dtype=torch.int64),
    ):
        with pytest.raises(ModelError, match="expected a float"):
            model(bad)


@pytest.mark.parametrize(
    ("height", "width", "multiple", "min_size", "shape", "mode"),
    [
        (7, 3, 4, 8, (8, 8), "replicate"),  # 3 wide cannot reflect 3 pixels
        (13, 17, 4, 8, (16, 20), "reflect"),
        (1, 1, 1, 5, (5, 5), "replicate"),
        (16, 12, 4, 8, (16, 12), None),
    ],
)
def test_pad_to_fit(
    height: int, width: int, multiple: int, min_size: int, shape: tuple[int, int], mode: str | None
) -> None:
    image = torch.arange(height * width, dtype=torch.float32).view(1, 1, height, width)
    padded, (top, left) = pad_to_fit(image, multiple, min_size)
    assert tuple(padded.shape[-2:]) == shape
    assert torch.equal(padded[..., top : top + height, left : left + width], image)
    if mode is None:
        assert padded is image
    elif mode == "reflect" and top > 0:
        assert torch.equal(padded[..., top - 1, left : left + width], image[..., 1, :])


# --- loading: keys, batch norm folding, checksums, safety -----------------------------------


def test_wrong_architecture_parameters_list_the_mismatched_keys() -> None:
    pack, _ = write_style_pack(width=4, n_residual=2)
    spec = spec_for(pack)
    wrong = ModelSpec(**{**spec.__dict__, "arch_params": {"width": 8, "n_residual": 1}})
    with pytest.raises(ModelError) as info:
        load_model(wrong, arch("style"), precision="fp32")
    message = str(info.value)
    assert "unexpected keys" in message and "res2.conv1.conv2d.weight" in message
    assert "wrong shapes" in message and "conv1.conv2d.weight (4, 3, 9, 9)" in message
    assert "arch_params" in (info.value.hint or "") or "manifest" in (info.value.hint or "")


def test_missing_keys_are_listed(tmp_path: Path) -> None:
    state = tiny_style_net().state_dict()
    del state["in1.weight"]
    path = tmp_path / "w.pt"
    torch.save(state, path)
    spec = ModelSpec("partial", "style", STYLE_ARCH, {"width": 4, "n_residual": 1}, path)
    with pytest.raises(ModelError, match=r"missing keys \(1\): in1\.weight"):
        load_model(spec, arch("style"), precision="fp32")


def test_stale_instance_norm_statistics_are_dropped(tmp_path: Path) -> None:
    net = tiny_style_net()
    state = net.state_dict()
    state["in1.running_mean"] = torch.zeros(4)
    state["res1.in2.running_var"] = torch.ones(16)
    path = tmp_path / "old.pt"
    torch.save(state, path)
    spec = ModelSpec("old", "style", STYLE_ARCH, {"width": 4, "n_residual": 1}, path)
    model = load_model(spec, arch("style"), precision="fp32", tile=0)
    image = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(model(image), net(image).clamp(0, 1), atol=1e-5, rtol=1e-4)


class ConvBN(nn.Module):
    """What an SR checkpoint with batch norm looks like: ``X.conv2d`` then ``X.bn``."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.pad, self.conv2d = conv.pad, conv.conv2d
        self.bn = nn.BatchNorm2d(conv.conv2d.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv2d(self.pad(x)))


def test_batch_norm_is_folded_into_the_preceding_convolution(tmp_path: Path) -> None:
    reference = tiny_sr_net(seed=3)
    reference.head = ConvBN(reference.head)
    reference.body[0].conv1 = ConvBN(reference.body[0].conv1)
    generator = torch.Generator().manual_seed(1)
    for layer in (reference.head.bn, reference.body[0].conv1.bn):
        layer.running_mean.normal_(0, 0.5, generator=generator)
        layer.running_var.uniform_(0.5, 2.0, generator=generator)
        layer.weight.data.uniform_(0.5, 1.5, generator=generator)
        layer.bias.data.normal_(0, 0.2, generator=generator)
    reference.eval()
    path = tmp_path / "bn.pt"
    torch.save(reference.state_dict(), path)
    params = {"scale": 4, "width": 4, "n_residual": 1, "skip": "bicubic"}
    spec = ModelSpec("bn", "sr", SR_ARCH, params, path, scale=4)
    model = load_model(spec, arch("sr"), precision="fp32", tile=0)
    image = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        expected = reference(image).clamp(0, 1)
    torch.testing.assert_close(model(image), expected, atol=1e-5, rtol=1e-4)
    _, folded = fold_batch_norms(tiny_sr_net(), reference.state_dict())
    assert folded == ["body.0.conv1.bn", "head.bn"]


def test_a_modified_weights_file_fails_its_checksum() -> None:
    pack, _ = write_style_pack()
    with open(pack.weights, "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelError, match="sha256") as info:
        load_model(spec_for(pack), arch("style"))
    assert "re-import" in (info.value.hint or "")


class Payload:
    """Unpickling this would run code; weights_only loading must refuse it."""

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (print, ("code ran",))


def test_pickled_code_is_never_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"conv1.conv2d.weight": Payload()}, protocol=2))
    spec = ModelSpec("evil", "style", STYLE_ARCH, {}, path)
    with pytest.raises(ModelError, match="cannot load weights"):
        load_model(spec, arch("style"))
    assert "code ran" not in capsys.readouterr().out


def test_the_spec_must_fit_the_architecture() -> None:
    pack, _ = write_style_pack()
    with pytest.raises(ModelError, match="johnson-sr"):
        load_model(spec_for(pack), arch("sr"))


# --- reduced precision and its fp32 fallback ----------------------------------------------


class FragileInReducedPrecision(nn.Module):
    """Fine in fp32; NaN (or one flat colour) when autocast gives its convolution a
    reduced-precision dtype: a stand-in for weights that overflow in fp16/bf16."""

    def __init__(self, failure: str = "nan") -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.failure = failure
        self.calls: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        self.calls.append(y.dtype)
        if y.dtype != torch.float32:
            value = {"nan": float("nan"), "black": -1.0}.get(self.failure, 7.0)
            return torch.full_like(y, value)
        return y


def fragile_model(tmp_path: Path, failure: str) -> tuple[LoadedModel, list[str]]:
    torch.manual_seed(0)  # fp32 output with bright pixels (a random one could be all < 0)
    fragile = Architecture(
        id="fragile",
        kind="style",
        build=lambda: FragileInReducedPrecision(failure),
        tiling=lambda: TilingPolicy(),
    )
    path = tmp_path / "fragile.pt"
    torch.save(FragileInReducedPrecision().state_dict(), path)
    warnings: list[str] = []
    spec = ModelSpec("fragile", "style", "fragile", {}, path)
    model = load_model(spec, fragile, precision="bf16", tile=0, warn=warnings.append)
    return model, warnings


@pytest.mark.parametrize(("failure", "reason"), [("nan", "NaN or Inf"), ("flat", "blank")])
def test_reduced_precision_failure_reruns_in_fp32(
    tmp_path: Path, failure: str, reason: str
) -> None:
    model, warnings = fragile_model(tmp_path, failure)
    assert model.precision == "bf16"
    image = torch.rand(1, 3, 6, 5)
    out = model(image)
    net = model.net
    assert isinstance(net, FragileInReducedPrecision)
    with torch.no_grad():
        expected = net.conv(image.contiguous(memory_format=torch.channels_last)).clamp(0, 1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    assert len(warnings) == 1 and reason in warnings[0] and "fp32" in warnings[0]
    assert model.precision == "fp32"  # kept for the rest of the batch
    calls = len(net.calls)
    model(image)
    assert net.calls[calls:] and all(d == torch.float32 for d in net.calls[calls:])
    assert len(warnings) == 1


def test_compiled_reduced_precision_failure_reruns_in_fp32_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``compile``, the bf16 pass runs the compiled cast copy; its NaN output is
    recomputed in fp32 by a compile of the fp32 network, not the bf16 one again."""
    compiled: list[torch.dtype] = []

    def fake_compile(module: nn.Module, **kwargs: Any) -> Callable[..., torch.Tensor]:
        compiled.append(next(module.parameters()).dtype)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    model, warnings = fragile_model(tmp_path, "nan")
    model.compile = True
    image = torch.rand(1, 3, 6, 5)
    out = model(image)
    with torch.no_grad():
        expected = model.net.conv(image.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected.clamp(0, 1), atol=1e-5, rtol=1e-4)
    assert compiled == [torch.bfloat16, torch.float32]
    assert len(warnings) == 1 and "recomputing in fp32" in warnings[0]
    model(image)
    assert compiled == [torch.bfloat16, torch.float32]  # the fp32 compile is kept


def test_a_flat_input_is_not_mistaken_for_a_failure(tmp_path: Path) -> None:
    model, warnings = fragile_model(tmp_path, "flat")
    model.net = nn.Identity()
    out = model(torch.full((1, 3, 4, 4), 0.25))
    assert torch.allclose(out, torch.full_like(out, 0.25)) and warnings == []


def test_nan_in_fp32_is_an_error(tmp_path: Path) -> None:
    model, _ = fragile_model(tmp_path, "nan")
    with torch.no_grad():
        model.net.conv.bias.fill_(float("nan"))
    with pytest.raises(ModelError, match="even in fp32"):
        model(torch.rand(1, 3, 4, 4))


# --- choosing a model, opening it for a batch ---------------------------------------------


def test_pick_model_by_name_and_kind() -> None:
    write_style_pack(name="ink")
    write_sr_pack(name="sharp")
    cat = catalog()
    assert pick_model(cat, "ink", "style", bundled="stylepipe_style").qualified_name == (
        "stylepipe_local/ink"
    )
    assert pick_model(cat, "stylepipe_local/ink", "style", bundled="x").item.kind == "style"
    with pytest.raises(UsageError, match="is a super-resolution model for x4, not a style model"):
        pick_model(cat, "sharp", "style", bundled="stylepipe_style")
    with pytest.raises(UsageError, match="not a super-resolution model for x8") as wrong:
        pick_model(cat, "sharp", "sr", bundled="stylepipe_sr", scale=8)
    assert wrong.value.hint == "installed super-resolution models for x8: none"
    with pytest.raises(NotFoundError, match="unknown model 'inc'") as info:
        pick_model(cat, "inc", "style", bundled="stylepipe_style")
    assert "ink" in (info.value.hint or "")


def test_without_a_bundled_model_the_error_lists_installed_ones_and_how_to_get_one() -> None:
    with pytest.raises(NotFoundError) as info:
        pick_model(catalog(), None, "style", bundled="stylepipe_style")
    assert "installed: none" in str(info.value)
    assert "import-model" in (info.value.hint or "") and "train" in (info.value.hint or "")
    write_style_pack(name="ink")
    with pytest.raises(NotFoundError, match="stylepipe_local/ink") as info:
        pick_model(catalog(), None, "style", bundled="stylepipe_style")
    assert "model=NAME" in (info.value.hint or "")


def test_open_model_follows_the_runtime_options() -> None:
    pack, _ = write_style_pack()
    ctx, _ = context(precision="fp16", tile=64)
    model = open_model(ctx, spec_for(pack))
    assert (model.device.type, model.precision, model.tile) == ("cpu", "fp16", 64)
    assert model.compile is False
    ctx, _ = context(compile=True)
    assert open_model(ctx, spec_for(pack)).compile is True


def test_open_model_names_a_missing_architecture() -> None:
    pack, _ = write_style_pack()
    spec = ModelSpec(**{**spec_for(pack).__dict__, "architecture": "nope"})
    ctx, _ = context()
    with pytest.raises(ModelError, match="needs architecture 'nope'"):
        open_model(ctx, spec)


# --- registration of packs: user plugin dir and bundled models/ ---------------------------


def test_user_packs_are_registered_by_stylepipe_local() -> None:
    write_style_pack(name="ink")
    write_sr_pack(name="sharp")
    cat = catalog()
    assert {e.qualified_name for e in cat.models} == {
        "stylepipe_local/ink",
        "stylepipe_local/sharp",
    }
    assert cat.models.get("ink").weights == user_plugin_dir() / "ink" / "weights.safetensors"
    assert cat.warnings == []


def break_packs(root: Path) -> None:
    (root / "bad-json").mkdir(parents=True)
    (root / "bad-json" / "manifest.json").write_text("{not json")
    (root / "empty").mkdir()
    pack, _ = write_style_pack(root, name="no-weights")
    pack.weights.unlink()
    write_style_pack(root, name="twin", seed=1)
    twin = json.loads((root / "twin" / "manifest.json").read_text())
    (root / "twin-copy").mkdir()
    (root / "twin-copy" / "manifest.json").write_text(json.dumps(twin))
    (root / "twin-copy" / "weights.safetensors").write_bytes(
        (root / "twin" / "weights.safetensors").read_bytes()
    )


def test_broken_packs_are_skipped_with_warnings_and_the_rest_register() -> None:
    root = user_plugin_dir()
    write_style_pack(name="good")
    break_packs(root)
    (root / "notes.txt").write_text("a stray file is not a pack folder")
    cat = catalog()
    assert sorted(e.name for e in cat.models) == ["good", "twin"]
    text = "\n".join(cat.warnings)
    assert len(cat.warnings) == 4
    for fragment in (
        "bad-json",
        "empty: no manifest.json",
        "weights.safetensors is missing",
        "'twin' is already used",
    ):
        assert fragment in text


def test_the_cli_app_shows_pack_warnings_on_stderr() -> None:
    (user_plugin_dir() / "bad").mkdir(parents=True)
    (user_plugin_dir() / "bad" / "manifest.json").write_text("[]")
    out, err = io.StringIO(), io.StringIO()
    app = App(load_plugins(entry_points=False), UI(stdout=out, stderr=err))
    assert len(app.catalog.models) == 0
    assert "warning:" in err.getvalue() and "skipped style pack" in err.getvalue()
    assert out.getvalue() == ""


def test_registration_warnings_are_python_warnings_for_library_users(tmp_path: Path) -> None:
    from stylepipe.packs.folders import register_pack_folder

    (tmp_path / "bad").mkdir()
    registered: list[ModelSpec] = []
    with pytest.warns(PluginWarning, match="skipped style pack"):
        problems = register_pack_folder(tmp_path, registered.append)
    assert len(problems) == 1 and registered == []


def test_bundled_folders_register_their_kind_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    style_dir, sr_dir = tmp_path / "style_models", tmp_path / "sr_models"
    write_style_pack(style_dir, name="wave")
    write_sr_pack(style_dir, name="wrong-kind")
    write_sr_pack(sr_dir, name="sharp-x4")
    monkeypatch.setattr(stylepipe_style, "BUNDLED_MODELS", style_dir)
    monkeypatch.setattr(stylepipe_sr, "BUNDLED_MODELS", sr_dir)
    cat = catalog()
    assert {e.qualified_name for e in cat.models} == {
        "stylepipe_style/wave",
        "stylepipe_sr/sharp-x4",
    }
    assert any("wrong-kind" in w and "folder of style models" in w for w in cat.warnings)
    assert pick_model(cat, None, "style", bundled="stylepipe_style").name == "wave"


def test_the_real_bundled_folders_scan_cleanly() -> None:
    for module in (stylepipe_style, stylepipe_sr):
        specs, problems = scan_pack_folder(module.BUNDLED_MODELS)
        assert problems == []
        assert all(s.kind == ("style" if module is stylepipe_style else "sr") for s in specs)


def test_generated_image_round_trip_through_numpy() -> None:
    """The descriptor accepts non-contiguous views (HWC arrays permuted to CHW)."""
    model, _ = style_model()
    pixels = np.random.default_rng(0).random((9, 11, 3), dtype=np.float32)
    view = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    assert not view.is_contiguous()
    torch.testing.assert_close(model(view), model(view.contiguous()))


def test_a_plugin_select_device_hook_decides_the_device() -> None:
    """``runtime.device`` goes through the select_device hook; a plugin may answer first."""
    from stylepipe import hookimpl
    from stylepipe.filters import FilterContext, RuntimeOptions

    asked: list[str] = []

    class Accelerator:
        @hookimpl
        def select_device(self, requested: str) -> torch.device | None:
            asked.append(requested)
            return torch.device("cpu") if requested == "my-npu" else None

    plugins = load_plugins(entry_points=False)
    plugins.pm.register(Accelerator(), name="accelerator")
    pack, _ = write_style_pack()
    ctx = FilterContext(
        RuntimeOptions(device="my-npu", precision="fp32"),
        catalog(),
        select_device=plugins.hook.select_device,
    )
    assert open_model(ctx, spec_for(pack)).device == torch.device("cpu")
    assert asked == ["my-npu"]
    ctx.runtime.device = "tpu"  # neither the plugin nor the built-in knows it
    with pytest.raises(UsageError, match="unknown device 'tpu'"):
        open_model(ctx, spec_for(pack))


def test_kinds_are_named_in_words_when_a_pack_is_in_the_wrong_folder(tmp_path: Path) -> None:
    write_sr_pack(tmp_path, name="sharp")
    specs, problems = scan_pack_folder(tmp_path, kind="style")
    assert specs == []
    assert problems == [
        f"skipped style pack {tmp_path / 'sharp'}: a super-resolution model in a folder "
        "of style models"
    ]
