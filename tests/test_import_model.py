"""``stylepipe import-model``: pytorch/examples checkpoints become usable style packs."""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import context, frame, tiny_sr_net, tiny_style_net, to_pixels, to_tensor
from stylepipe_style import detect
from stylepipe_style.filter import StyleFilter

from stylepipe.cli import main
from stylepipe.inference import pad_to_fit
from stylepipe.paths import user_plugin_dir
from stylepipe.stylepacks import read_pack, sha256_file
from stylepipe.ui import UI


def examples_checkpoint(path: Path, *, width: int = 4, n_residual: int = 2, seed: int = 4) -> Path:
    """A checkpoint laid out as pytorch/examples ``fast_neural_style`` saves it with an old
    PyTorch: the transformer's state dict plus the stale running statistics every
    instance-norm layer carried then. Its weights are meant for 0-255 images."""
    net = tiny_style_net(seed, width, n_residual)
    state = OrderedDict(net.state_dict())
    for key in list(state):
        if key.endswith(".weight") and ".in" in f".{key}" and state[key].ndim == 1:
            prefix = key[: -len(".weight")]
            state[f"{prefix}.running_mean"] = torch.zeros_like(state[key])
            state[f"{prefix}.running_var"] = torch.ones_like(state[key])
    assert "res2.in1.running_var" in state and "in5.running_mean" in state
    torch.save(state, path, _use_new_zipfile_serialization=False)  # the pre-1.6 format
    return path


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), ui=UI(stdout=out, stderr=err))
    return code, out.getvalue(), " ".join(err.getvalue().split())  # undo rich's wrapping


def test_detect_infers_width_and_depth() -> None:
    assert detect(tiny_style_net(0, 4, 3).state_dict()) == {"width": 4, "n_residual": 3}
    assert detect(tiny_style_net(0, 8, 1).state_dict()) == {"width": 8, "n_residual": 1}
    assert detect(tiny_sr_net().state_dict()) is None
    state = tiny_style_net(0, 4, 1).state_dict()
    state["conv2.conv2d.weight"] = torch.zeros(8, 5, 3, 3)
    assert detect(state) is None


def test_import_then_stylize_with_the_255_range(tmp_path: Path) -> None:
    ckpt = examples_checkpoint(tmp_path / "mosaic.pth")
    code, out, err = cli(
        "import-model", str(ckpt), "--name", "mosaic", "--license", "BSD-3", "--author", "Ann"
    )
    assert code == 0, err
    assert "imported" in err and "--filter style:model=mosaic" in err and out == ""
    pack = read_pack(user_plugin_dir() / "mosaic")
    pack.verify()
    m = pack.manifest
    assert (m["kind"], m["architecture"], m["input_range"], m["scale"]) == (
        "style",
        "johnson-style",
        255.0,
        1,
    )
    assert m["arch_params"] == {"width": 4, "n_residual": 2}
    assert m["origin"]["file"] == "mosaic.pth"
    assert m["origin"]["sha256"] == sha256_file(ckpt)
    assert (m["license"], m["author"]) == ("BSD-3", "Ann")

    filt = StyleFilter.from_raw({"model": "mosaic"})
    ctx, warnings = context()
    filt.setup(ctx)
    source = frame(16, 12)
    net = tiny_style_net(4, 4, 2)
    with torch.no_grad():
        expected = (net(to_tensor(source.pixels) * 255.0) / 255.0).clamp(0, 1)
    np.testing.assert_allclose(filt.apply(source).pixels, to_pixels(expected), atol=1e-5)
    assert warnings == []


def test_an_existing_name_needs_force(tmp_path: Path) -> None:
    first = examples_checkpoint(tmp_path / "a.pth", seed=1)
    second = examples_checkpoint(tmp_path / "b.pth", seed=2)
    assert cli("import-model", str(first), "--name", "ink")[0] == 0
    code, _, err = cli("import-model", str(second), "--name", "ink")
    assert code == 2 and "already exists" in err and "--force" in err
    assert read_pack(user_plugin_dir() / "ink").manifest["origin"]["file"] == "a.pth"
    assert cli("import-model", str(second), "--name", "ink", "--force")[0] == 0
    assert read_pack(user_plugin_dir() / "ink").manifest["origin"]["file"] == "b.pth"
    assert sorted(p.name for p in user_plugin_dir().iterdir()) == ["ink"]


def test_input_range_can_be_overridden(tmp_path: Path) -> None:
    ckpt = tmp_path / "ours.safetensors"
    from safetensors.torch import save_file

    save_file(tiny_style_net().state_dict(), str(ckpt))
    assert cli("import-model", str(ckpt), "--name", "ours", "--input-range", "1")[0] == 0
    assert read_pack(user_plugin_dir() / "ours").manifest["input_range"] == 1.0


def test_an_unknown_layout_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    ckpt = tmp_path / "sr.pth"
    torch.save(tiny_sr_net().state_dict(), ckpt)
    code, _, err = cli("import-model", str(ckpt), "--name", "nope")
    assert code == 1 and "not a checkpoint of a known architecture" in err
    assert "johnson-style" in err
    assert not (user_plugin_dir() / "nope").exists()


def test_not_a_state_dict_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "junk.pth"
    ckpt.write_bytes(b"this is not a checkpoint")
    code, _, err = cli("import-model", str(ckpt), "--name", "junk")
    assert code == 1 and "cannot load weights" in err
    code, _, err = cli("import-model", str(tmp_path / "missing.pth"), "--name", "junk")
    assert code == 1 and "not found" in err


def test_nan_weights_are_refused(tmp_path: Path) -> None:
    state = tiny_style_net().state_dict()
    state["in1.weight"][0] = float("nan")
    ckpt = tmp_path / "nan.pth"
    torch.save(state, ckpt)
    code, _, err = cli("import-model", str(ckpt), "--name", "nan")
    assert code == 1 and "NaN" in err and "in1.weight" in err


@pytest.mark.parametrize("name", ["Bad Name", "-x", "a/b", ""])
def test_bad_names_are_usage_errors(tmp_path: Path, name: str) -> None:
    ckpt = examples_checkpoint(tmp_path / "m.pth")
    code, _, err = cli("import-model", str(ckpt), f"--name={name}")
    assert code == 2 and "invalid model name" in err


def test_unknown_architecture_option(tmp_path: Path) -> None:
    ckpt = examples_checkpoint(tmp_path / "m.pth")
    code, _, err = cli("import-model", str(ckpt), "--name", "m", "--architecture", "johnson-sr")
    assert code == 2 and "cannot recognise" in err
    code, _, err = cli("import-model", str(ckpt), "--name", "m", "--architecture", "jonson-style")
    assert code == 2 and "did you mean" in err


def test_manifest_is_plain_json_with_checksums(tmp_path: Path) -> None:
    ckpt = examples_checkpoint(tmp_path / "m.pth")
    assert cli("import-model", str(ckpt), "--name", "m", "--description", "test")[0] == 0
    data = json.loads((user_plugin_dir() / "m" / "manifest.json").read_text())
    assert data["description"] == "test"
    assert set(data["files"]) == {"weights.safetensors"}


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-model", "--help"]) == 0
    assert "stylepipe import-model mosaic.pth --name mosaic" in capsys.readouterr().out


def test_imported_style_runs_from_the_command_line(tmp_path: Path) -> None:
    """End to end, in process: import, then `run --filter style:model=NAME`."""
    from PIL import Image

    ckpt = examples_checkpoint(tmp_path / "mosaic.pth")
    assert cli("import-model", str(ckpt), "--name", "mosaic")[0] == 0
    photos = tmp_path / "photos"
    photos.mkdir()
    rgb = (frame(21, 30).pixels * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(photos / "a.png")
    rgba = np.dstack([rgb[:9, :7], np.full((9, 7), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(photos / "b.png")
    out = tmp_path / "out"
    code, _, err = cli(
        "run", str(photos), "-o", str(out), "--filter", "style:model=mosaic,strength=0.8",
        "--device", "cpu", "--precision", "fp32", "--tile", "0",
    )  # fmt: skip
    assert code == 0, err
    with Image.open(out / "a.png") as a, Image.open(out / "b.png") as b:
        assert (a.size, a.mode) == ((30, 21), "RGB")
        assert (b.size, b.mode) == ((7, 9), "RGBA")
        assert np.asarray(b)[:, :, 3].tolist() == rgba[:, :, 3].tolist()
        styled = np.asarray(a).astype(np.float32) / 255
    net = tiny_style_net(4, 4, 2)
    source = rgb.astype(np.float32) / 255
    padded, (top, left) = pad_to_fit(to_tensor(source), 4, 8)  # 21x30 -> 24x32, reflected
    with torch.no_grad():
        full = (net(padded * 255.0) / 255.0).clamp(0, 1)[..., top : top + 21, left : left + 30]
    expected = 0.2 * source + 0.8 * to_pixels(full)
    assert np.abs(styled - expected).max() <= 1.0 / 255 + 1e-6


def test_run_without_any_style_model_fails_before_reading_images(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"not even an image")
    code, _, err = cli("run", str(photos), "-o", str(tmp_path / "out"), "--filter", "style")
    assert code == 2 and "no bundled style model" in err and "import-model" in err
    assert not (tmp_path / "out").exists()
