"""benchmarks/style_size.py on the real painting and loss network (when ../shared/assets is
present), tiny: a few L-BFGS iterations at two style sizes move the photo towards the
painting and write the sheet."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import style_size  # noqa: E402
from loss_balance import ASSETS, VGG  # noqa: E402


@pytest.mark.skipif(not (ASSETS / VGG).is_file(), reason="needs ../shared/assets loss network")
def test_style_size_probe_lowers_the_loss_and_writes_the_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--style", "great-wave", "--sizes", "32,48", "--photo-size", "32"]
    argv += ["--iterations", "4", "--threads", "1", "--out", str(tmp_path)]
    assert style_size.main(argv) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    sizes = [r for r in rows if r and r[0] in ("32", "48")]
    assert len(sizes) == 2 and all(float(r[1]) > 0 for r in sizes)
    args = style_size.parse_args(argv)
    net = style_size.imagenet_vgg19(ASSETS)
    photo = style_size.square_photo(ASSETS / style_size.PHOTO, 32)
    none = style_size.optimise(net, style_size.parse_args([*argv, "--iterations", "1"]), 32, photo)
    some = style_size.optimise(net, args, 32, photo)
    assert some["total"] < none["total"]  # the optimisation does something
    sheet = Image.open(tmp_path / "great-wave.png")
    assert sheet.width > 3 * 32 and sheet.height > 2 * 32  # photo + 2 sizes; painting, Johnson


@pytest.mark.skipif(
    not (ASSETS / VGG).is_file() or not (ASSETS / "judge_networks").is_dir(),
    reason="needs ../shared/assets loss and judge networks",
)
def test_style_size_probe_judges_each_picture_with_layer_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--style", "mosaic", "--sizes", "32", "--photo-size", "32", "--iterations", "2"]
    argv += ["--threads", "1", "--out", str(tmp_path), "--judge"]
    argv += ["--style-layer-weights", "0,0,0,1,2,3"]
    assert style_size.layer_weights(style_size.parse_args(argv))["relu3_4"] == 3.0
    assert style_size.main(argv) == 0
    judged = [ln.split() for ln in capsys.readouterr().out.splitlines() if ln.startswith("judge")]
    labels = [" ".join(row[2:-3]) for row in judged[1:]]
    assert labels == ["photo", "style size 32", "Johnson's model"]
    assert all(float(row[-3]) > 0 for row in judged[1:])  # distance to the painting
    lost = [float(row[-2]) for row in judged[1:]]
    assert lost[0] == 0 and lost[1] > 0 and lost[2] > 0  # the photo has lost nothing


def test_style_size_weighs_the_layers_as_training_does() -> None:
    """Without weights, ``stylepipe train --loss-net vgg19`` averages its style layers
    (each 1/n): the probe must optimise the very criterion the recipe trains on."""
    weights = style_size.layer_weights(style_size.parse_args([]))
    assert list(weights) == style_size.LAYERS.split(",")
    assert all(w == pytest.approx(1 / 6) for w in weights.values())


def test_style_size_layer_weights_must_match_the_layers() -> None:
    args = style_size.parse_args(["--style-layer-weights", "1,2"])
    with pytest.raises(Exception, match="one per style layer"):
        style_size.layer_weights(args)
