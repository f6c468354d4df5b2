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
from stylepipe_style.network import TransformerNet

from stylepipe.cli import main
from stylepipe.models.descriptor import pad_to_fit
from stylepipe.models.weights import sha256_file
from stylepipe.packs.format import read_pack
from stylepipe.paths import user_plugin_dir
from stylepipe.ui import UI


def examples_net(seed: int = 4, width: int = 4, n_residual: int = 2) -> TransformerNet:
    """A random network standing in for a pytorch/examples one: like those, its output
    is in 0-255 (its last layer scaled by 255), so that it gives a picture at input
    range 255 and a black image at 1 (a random net left as is would give black at 255)."""
    net = tiny_style_net(seed, width, n_residual)
    with torch.no_grad():
        net.deconv3.conv2d.weight.mul_(255.0)
        net.deconv3.conv2d.bias.mul_(255.0)
    return net


def examples_checkpoint(path: Path, *, width: int = 4, n_residual: int = 2, seed: int = 4) -> Path:
    """A checkpoint laid out as pytorch/examples ``fast_neural_style`` saves it with an old
    PyTorch: the transformer's state dict plus the stale running statistics every
    instance-norm layer carried then. Its weights are meant for 0-255 images."""
    net = examples_net(seed, width, n_residual)
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
    net = examples_net(4, 4, 2)
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
    ckpt.write_bytes(b"\x80\x02garbage that is no pickle")
    code, _, err = cli("import-model", str(ckpt), "--name", "junk")
    assert code == 1 and "cannot load weights" in err and "not a PyTorch checkpoint" in err
    code, _, err = cli("import-model", str(tmp_path / "missing.pth"), "--name", "junk")
    assert code == 1 and "not found" in err


def _jpeg(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 30, 30)).save(path, "JPEG")


def _png(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(path, "PNG")


def _stylepack(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", "{}")
        archive.writestr("weights.safetensors", b"")


def _text(path: Path) -> None:
    path.write_text("# my notes about this style\n")


def _pickled_object(path: Path) -> None:
    import argparse

    torch.save({"conv1.conv2d.weight": torch.ones(1), "args": argparse.Namespace(lr=1)}, path)


@pytest.mark.parametrize(
    ("maker", "suffix", "expected"),
    [
        (_jpeg, ".pth", "this is a JPEG image, not a checkpoint"),
        (_jpeg, ".safetensors", "this is a JPEG image, not a checkpoint"),
        (_png, ".pt", "this is a PNG image, not a checkpoint"),
        (_stylepack, ".stylepack", "this is a .stylepack archive, not a checkpoint"),
        (_text, ".pth", "this is a text file, not a checkpoint"),
        (_pickled_object, ".pth", "holds Python objects besides tensors (argparse.Namespace)"),
    ],
)
def test_a_file_that_is_no_checkpoint_is_named_for_what_it_is(
    tmp_path: Path, maker, suffix: str, expected: str
) -> None:
    """Never PyTorch's paragraph recommending weights_only=False (which would run the
    file's code); the message says what the file is instead."""
    path = tmp_path / f"file{suffix}"
    maker(path)
    code, _, err = cli("import-model", str(path), "--name", "x")
    assert code == 1 and expected in err, err
    for advice in ("weights_only", "arbitrary code", "trusted source", "add_safe_globals"):
        assert advice not in err
    assert not (user_plugin_dir() / "x").exists()


def test_a_picture_gets_a_hint_about_training_and_a_pack_about_install(tmp_path: Path) -> None:
    _jpeg(tmp_path / "painting.jpg")
    err = cli("import-model", str(tmp_path / "painting.jpg"), "--name", "x")[2]
    assert "stylepipe train style PICTURE" in err
    _stylepack(tmp_path / "wave.stylepack")
    err = cli("import-model", str(tmp_path / "wave.stylepack"), "--name", "x")[2]
    assert f"install it with: stylepipe install {tmp_path / 'wave.stylepack'}" in err


# --- stylepipe's own weights take 0-1, and imports never give black images -------------------


def test_a_packs_own_weights_are_recognised_by_their_metadata(tmp_path: Path) -> None:
    from model_helpers import write_style_pack

    pack, net = write_style_pack(tmp_path / "packs", "mine")
    code, _, err = cli("import-model", str(pack.weights), "--name", "again")
    assert code == 0, err
    assert "input range 1, from stylepipe metadata in the weights file" in err
    manifest = read_pack(user_plugin_dir() / "again").manifest
    assert manifest["input_range"] == 1.0
    assert manifest["origin"]["input_range_from"] == "stylepipe metadata in the weights file"


BUNDLED_MOSAIC = Path(__file__).resolve().parent.parent / "plugins/stylepipe_style/models/mosaic"


def older_weights(dest: Path) -> Path:
    """The bundled mosaic's weights as packs wrote them before the safetensors metadata
    existed (the retrained packs carry it): the same tensors, no metadata."""
    from safetensors.torch import load_file, save_file

    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file(load_file(str(BUNDLED_MOSAIC / "weights.safetensors")), str(dest))
    return dest


def test_bundled_weights_beside_their_manifest_take_its_range(tmp_path: Path) -> None:
    """Weights without metadata beside a pack manifest, as in any older pack."""
    import hashlib

    weights = older_weights(tmp_path / "pack" / "weights.safetensors")
    manifest = json.loads((BUNDLED_MOSAIC / "manifest.json").read_text())
    manifest["files"]["weights.safetensors"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    weights.with_name("manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli("import-model", str(weights), "--name", "m")
    assert code == 0, err
    assert "input range 1, from the pack manifest.json beside it" in err


def test_a_lone_weights_file_is_tried_on_the_sample_photo(tmp_path: Path) -> None:
    """The reported case: weights.safetensors out of a .stylepack, nothing beside it. At
    the format's 255 the real trained mosaic gives black; 1 gives the picture."""
    lone = older_weights(tmp_path / "weights.safetensors")
    code, _, err = cli("import-model", str(lone), "--name", "m")
    assert code == 0, err
    assert "input range 1, from the sample photo (at 255 the output is black)" in err
    assert read_pack(user_plugin_dir() / "m").manifest["input_range"] == 1.0


def test_an_input_range_that_gives_black_is_refused(tmp_path: Path) -> None:
    import shutil

    lone = tmp_path / "weights.safetensors"
    shutil.copyfile(BUNDLED_MOSAIC / "weights.safetensors", lone)
    code, _, err = cli("import-model", str(lone), "--name", "m", "--input-range", "255")
    assert code == 1
    assert "at input range 255 (--input-range) the weights' output on the sample photo" in err
    assert "is black" in err and "at --input-range 1 they give a picture" in err
    assert not (user_plugin_dir() / "m").exists()


def test_weights_for_0_255_read_as_0_1_are_refused_as_white(tmp_path: Path) -> None:
    """The trained mosaic turned into a 0-255 network (its last layer times 255), as
    pytorch/examples trains them: read at input range 1 its output is washed out."""
    from safetensors.torch import load_file

    state = load_file(str(BUNDLED_MOSAIC / "weights.safetensors"))
    for key in ("deconv3.conv2d.weight", "deconv3.conv2d.bias"):
        state[key] = state[key].float() * 255.0
    ckpt = tmp_path / "mosaic-255.pth"
    torch.save({k: v.float() for k, v in state.items()}, ckpt)
    code, _, err = cli("import-model", str(ckpt), "--name", "m", "--input-range", "1")
    assert code == 1 and "is white (almost every value saturated)" in err, err
    assert "at --input-range 255 they give a picture" in err
    assert cli("import-model", str(ckpt), "--name", "m")[0] == 0  # the default: 255
    assert read_pack(user_plugin_dir() / "m").manifest["input_range"] == 255.0


def test_a_pack_that_gives_black_fails_the_run_with_a_reason(tmp_path: Path) -> None:
    """The safety net of every run: a pack whose manifest has the wrong range (written
    by hand, or imported before this check) fails each image; no black file is written."""
    from model_helpers import write_style_pack
    from PIL import Image

    write_style_pack(name="wrong", input_range=255.0)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray((frame(20, 24).pixels * 255).round().astype(np.uint8)).save(photos / "a.png")
    out = tmp_path / "out"
    code, _, err = cli(
        "run", str(photos), "-o", str(out), "--filter", "style:model=wrong", "--device", "cpu"
    )
    assert code == 1
    assert "is black" in err and "--input-range 1" in err
    assert not out.exists() or not list(out.iterdir())


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
    assert "stylepipe import-model candy.pth --name candy" in capsys.readouterr().out


def test_a_bundled_models_name_is_printed_qualified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18, bug 2: beside a bundled `mosaic`, the printed command names the imported
    one as stylepipe_local/mosaic (a short `mosaic` would be ambiguous), and it runs."""
    import stylepipe_style
    from model_helpers import write_style_pack
    from PIL import Image

    write_style_pack(tmp_path / "bundled", "mosaic")
    monkeypatch.setattr(stylepipe_style, "BUNDLED_MODELS", tmp_path / "bundled")
    code, _, err = cli(
        "import-model", str(examples_checkpoint(tmp_path / "m.pth")), "--name", "mosaic"
    )
    assert code == 0, err
    assert "(stylepipe_style/mosaic); address this one as stylepipe_local/mosaic" in err
    spec = err.split("use it with: ", 1)[1].split("--filter ", 1)[1].split()[0]
    assert spec == "style:model=stylepipe_local/mosaic"
    Image.fromarray((frame(21, 30).pixels * 255).round().astype(np.uint8)).save(tmp_path / "a.png")
    code, _, err = cli(
        "run", str(tmp_path / "a.png"), "-o", str(tmp_path / "out"), "--filter", spec
    )
    assert code == 0, err


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
    net = examples_net(4, 4, 2)
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
