"""benchmarks/judge.py: the Gram distance on generated tensors, and on the real data
(when ../shared/assets is present) that the MobileNet judge recognises Johnson's
chicago_mosaic output as mosaic among every distinct painting."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import judge  # noqa: E402
import judge_metric as jm  # noqa: E402


def _features(seed: int, channels: int = 8, size: int = 12) -> torch.Tensor:
    return torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(seed))


def test_gram_distance_on_generated_tensors() -> None:
    f, other = _features(0), _features(1)
    g = {"a": jm.gram(f), "b": jm.gram(other)}
    assert jm.gram_distance(g, g) == 0.0
    # the Gram ignores where features are: shuffled pixels, or the image tiled twice
    shuffled = f.flatten(2)[..., torch.randperm(144)].reshape(f.shape)
    assert jm.gram_distance({"a": jm.gram(shuffled)}, {"a": g["a"]}) == pytest.approx(0, abs=1e-12)
    tiled = torch.cat([f, f], dim=3)
    assert jm.gram_distance({"a": jm.gram(tiled)}, {"a": g["a"]}) == pytest.approx(0, abs=1e-12)
    # twice the features: a Gram 4x the painting's, ||4G - G||^2 / ||G||^2 = 9; the
    # painting's norm normalises, so the other way round it is ||G/4 - G||^2 / ||G||^2
    double = {"a": jm.gram(2 * f)}
    assert jm.gram_distance(double, {"a": g["a"]}) == pytest.approx(9.0)
    assert jm.gram_distance({"a": g["a"]}, double) == pytest.approx(9 / 16)
    # the mean over the painting's layers
    mixed = {"a": g["a"], "b": jm.gram(2 * other)}
    assert jm.gram_distance(mixed, g) == pytest.approx(9.0 / 2)
    assert jm.gram_distance(g, {"a": g["a"]}) == 0.0  # layers the painting lacks don't count


def test_painting_names_group_sources_and_crops() -> None:
    same = {
        "scream": ["the_scream", "The-Scream", "scream"],
        "wave": ["wave", "wave_crop", "great-wave"],
        "starry_night": ["starry_night_google", "starry_night_crop", "starry-night"],
        "la_muse": ["la_muse", "muse", "la_muse_eccv"],
        "rain_princess": ["rain-princess-cropped"],
    }
    for painting, names in same.items():
        assert {jm.painting_name(n) for n in names} == {painting}


def test_models_of_the_same_name_get_distinct_labels(tmp_path: Path) -> None:
    """Two packs called mosaic (the new one and the bundled one) each keep a row label and
    a sheet of their own (the second used to overwrite the first's sheet)."""
    packs = [tmp_path / "home" / "mosaic", tmp_path / "old" / "mosaic", tmp_path / "x" / "wave"]
    opened = [judge.Opened(p.name, [p.name], p, None) for p in packs]
    labels = [m.label for m in judge.distinct_labels(opened)]
    assert labels == ["mosaic (home)", "mosaic (old)", "wave"]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread (the judge is light; several crawl on a shared CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.assets
def test_judge_recognises_johnsons_mosaic(assets: Path, one_thread: None) -> None:
    judge_net = jm.Judge(jm.load_network(assets))
    paintings = jm.Paintings.load(assets / "style_images", judge_net, 256)
    assert len(paintings.versions) == 11  # 20 files of 11 paintings
    assert len(paintings.files()["udnie"]) == 3

    photos = judge.content_photos(assets, ["chicago", "amber", "hoovertowernight"])
    refs = {(r.photo, r.painting): r for r in reversed(judge.references(assets, photos))}
    assert refs["chicago", "la_muse"].path.parent.name == "eccv16"  # the paper's model first
    mosaic = refs["chicago", "mosaic"].path
    assert mosaic.name == "chicago_mosaic.jpg"

    grams, _ = judge_net.measure(jm.load_image(mosaic, 256))
    verdict = paintings.verdict(grams, "mosaic")
    assert verdict["recognised"], verdict["distances"]
    assert verdict["margin"] > 1.5  # x3.1 when written
    assert set(verdict["distances"]) == set(paintings.versions)
