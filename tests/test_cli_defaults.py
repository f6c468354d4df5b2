"""What `stylepipe run` does by default for a new user's usual commands: subfolders,
`-o FILE`, short filter specs, output names with {model}/{scale}, whole-run refusals,
and the demo's web copies."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from model_helpers import write_sr_pack, write_style_pack
from PIL import Image

from stylepipe.cli import main
from stylepipe.ui import UI


def make_image(path: Path, size: tuple[int, int] = (8, 6), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def run_cli(*argv: str | Path) -> tuple[int, str]:
    stderr = io.StringIO()
    code = main([str(a) for a in argv], ui=UI(stdout=io.StringIO(), stderr=stderr))
    return code, stderr.getvalue()


def test_images_in_subfolders_are_counted_with_a_hint(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    make_image(tmp_path / "in" / "2023" / "b.png")
    make_image(tmp_path / "in" / "2023" / "may" / "c.jpg")
    make_image(tmp_path / "in" / "2023" / ".hidden" / "d.png")  # hidden: not counted
    (tmp_path / "in" / "2023" / "notes.txt").write_text("not an image")
    code, err = run_cli("run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "blur")
    assert code == 0, err
    assert "1 done, 0 failed of 1 file" in err
    assert "ignored: 2 in subfolders (add --recursive)" in err
    top = tmp_path / "albums"
    make_image(top / "2022" / "x.png")
    (top / "index.txt").write_text("not an image")
    code, err = run_cli("run", top, "-o", tmp_path / "o2", "--filter", "blur")
    assert code == 2
    assert "no images found in the inputs (0 hidden, 1 not images, 1 in subfolders)" in err
    assert "add --recursive" in err
    code, err = run_cli(
        "run", tmp_path / "in", "-o", tmp_path / "o3", "--filter", "blur", "--recursive"
    )
    assert code == 0 and "3 done" in err and "in subfolders" not in err


def test_o_with_an_image_suffix_writes_that_file(tmp_path: Path) -> None:
    src = make_image(tmp_path / "photo.png", size=(20, 10))
    code, err = run_cli("run", src, "-o", tmp_path / "small.jpg", "--filter", "resize:0.5")
    assert code == 0, err
    assert (tmp_path / "small.jpg").is_file()
    with Image.open(tmp_path / "small.jpg") as image:
        assert (image.format, image.size) == ("JPEG", (10, 5))
    nested = tmp_path / "new" / "folder" / "out.webp"
    code, err = run_cli("run", src, "-o", nested, "--filter", "blur")
    assert code == 0 and Image.open(nested).format == "WEBP"
    code, err = run_cli("run", src, "-o", tmp_path / "small.jpg", "--filter", "blur")
    assert code == 2 and "the output" in err and "already exists" in err
    code, err = run_cli("run", src, "-o", tmp_path / "small.jpg", "--filter", "blur", "--overwrite")
    assert code == 0, err


def test_o_with_an_image_suffix_is_refused_clearly_otherwise(tmp_path: Path) -> None:
    one = make_image(tmp_path / "in" / "a.png")
    make_image(tmp_path / "in" / "b.png")
    code, err = run_cli("run", tmp_path / "in", "-o", tmp_path / "out.jpg", "--filter", "blur")
    assert code == 2 and "-o" in err and "names one file, but the inputs hold 2 images" in err
    assert not (tmp_path / "out.jpg").exists()
    argv = ["run", one, "-o", tmp_path / "out.jpg", "--filter", "blur"]
    code, err = run_cli(*argv, "--format", "png")
    assert code == 2 and "names a jpeg file, but the output format asked is png" in err
    code, err = run_cli("run", one, "-o", tmp_path / "out.bmp", "--filter", "blur")
    assert code == 2 and "cannot write .bmp files" in err
    (tmp_path / "folder.png").mkdir()  # an existing folder stays a folder
    code, err = run_cli("run", tmp_path / "in", "-o", tmp_path / "folder.png", "--filter", "blur")
    assert code == 0 and sorted(p.name for p in (tmp_path / "folder.png").iterdir()) == [
        "a.png",
        "b.png",
    ]


def test_whole_run_problems_are_one_error_before_starting(tmp_path: Path) -> None:
    for n in range(3):
        make_image(tmp_path / "in" / f"{n}.png", seed=n)
    code, err = run_cli("run", tmp_path / "in", "-o", tmp_path / "in", "--filter", "blur")
    assert code == 2 and err.count("error:") == 1 and "is the input folder" in err
    assert "failures" not in err and len(list((tmp_path / "in").iterdir())) == 3
    argv = ["run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "blur"]
    assert run_cli(*argv)[0] == 0
    code, err = run_cli(*argv)
    assert code == 2 and err.count("error:") == 1
    assert f"all 3 outputs already exist in {tmp_path / 'out'}" in err
    assert "--skip-existing" in err and "--overwrite" in err and "failures" not in err
    first = tmp_path / "in" / "0.png"
    code, err = run_cli("run", first, "-o", tmp_path / "in", "--filter", "blur", "--overwrite")
    assert code == 2 and "is the input itself" in err and err.count("error:") == 1
    make_image(tmp_path / "in" / "3.png")  # one new input: the others are per-file rows
    code, err = run_cli(*argv)
    assert code == 1 and "1 done, 3 failed of 4 files" in err


def test_bare_flags_and_main_parameter_in_filter_specs(tmp_path: Path) -> None:
    from stylepipe.pipeline_cli import pipeline_from_filter_specs
    from stylepipe.plugins import Catalog, load_plugins

    write_style_pack(name="mosaic")
    catalog = Catalog.build(load_plugins(entry_points=False))
    pipeline = pipeline_from_filter_specs(
        [
            "style:model=mosaic,preserve_color",
            "style:mosaic",
            "style:mosaic,strength=0.5,preserve_color",
            "resize:0.5",
            "crop:16:9",
            "autocontrast:per_channel",
        ],
        catalog,
    )
    params = [step.filter.params for step in pipeline.steps]
    assert (params[0].model, params[0].preserve_color) == ("mosaic", True)  # type: ignore[attr-defined]
    assert (params[1].model, params[1].preserve_color) == ("mosaic", False)  # type: ignore[attr-defined]
    assert (params[2].strength, params[2].preserve_color) == (0.5, True)  # type: ignore[attr-defined]
    assert params[3].scale == 0.5  # type: ignore[attr-defined]
    assert params[4].aspect == "16:9"  # type: ignore[attr-defined]
    assert params[5].per_channel is True  # type: ignore[attr-defined]


def test_a_bad_short_spec_explains_the_form(tmp_path: Path) -> None:
    make_image(tmp_path / "in" / "a.png")
    argv = ["run", tmp_path / "in", "-o", tmp_path / "out"]
    code, err = run_cli(*argv, "--filter", "resize:scale=0.5,longest")
    assert code == 2 and "--filter 1:scale" in err  # 'longest' continues the value
    code, err = run_cli(*argv, "--filter", "blur:2,3,4")
    assert code == 2 and "radius must be a number, got '2,3,4'" in err
    from stylepipe.errors import ParamError
    from stylepipe.filter_specs import parse_filter_spec

    with pytest.raises(ParamError) as info:
        parse_filter_spec("anything:bare")  # no filter known: no main parameter
    assert "expected key=value, got 'bare'" in info.value.message
    assert "style:mosaic" in (info.value.hint or "") and "preserve_color" in (info.value.hint or "")


def test_model_and_scale_name_fields_let_several_runs_share_a_folder(tmp_path: Path) -> None:
    write_style_pack(name="mosaic", seed=1)
    write_style_pack(name="wave", seed=2)
    write_sr_pack(name="sr4", scale=4)
    make_image(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    for model in ("mosaic", "wave"):
        code, err = run_cli(
            "run",
            tmp_path / "in",
            "-o",
            out,
            "--filter",
            f"style:{model},strength=0",
            "--name",
            "{stem}_{model}{ext}",
        )
        assert code == 0, err
    code, err = run_cli(
        "run",
        tmp_path / "in",
        "-o",
        out,
        "--filter",
        "upscale:2,model=sr4",
        "--name",
        "{stem}_{model}_x{scale}{ext}",
    )
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a_mosaic.png", "a_sr4_x2.png", "a_wave.png"]
    with Image.open(out / "a_sr4_x2.png") as image:
        assert image.size == (16, 12)
    code, err = run_cli(
        "run", tmp_path / "in", "-o", out, "--filter", "blur", "--name", "{stem}_{scale}{ext}"
    )
    assert code == 2 and "command line:--name: {scale} needs a step" in err


def test_name_fields_in_a_pipeline_file_are_checked(tmp_path: Path) -> None:
    pipe = tmp_path / "p.toml"
    pipe.write_text('[[step]]\nfilter = "blur"\n[output]\nname = "{stem}-{model}{ext}"\n')
    code, err = run_cli("check", pipe)
    assert code == 2 and f"{pipe}:[output]:name: {{model}} needs a step" in err


def test_the_demo_never_enlarges_a_photo_for_the_web(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    demo_path = Path(__file__).resolve().parent.parent / "samples" / "demo.py"
    spec = importlib.util.spec_from_file_location("stylepipe_demo", demo_path)
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    photos = tmp_path / "photos"
    make_image(photos / "small.jpg", size=(600, 400))
    make_image(photos / "large.jpg", size=(1200, 900))
    monkeypatch.setattr(demo, "PHOTOS", photos)
    monkeypatch.setattr(demo, "OUT", tmp_path / "demo-output")
    assert demo.basic() == [0]
    sizes = {p.name: Image.open(p).size for p in (tmp_path / "demo-output" / "basic").iterdir()}
    assert sizes == {"small.webp": (600, 400), "large.webp": (800, 600)}
