"""training/train_bundled.sh decides per model: skip, resume its run, continue from the
committed pack (--init-from), or start. Checked with a recorder in place of the CLI, so
that no training runs; the decisions are the script's own."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "training" / "train_bundled.sh"


def write_manifest(
    root: Path, kind: str, name: str, steps: int, loss_net: str, loss: str = "feature"
) -> Path:
    folder = root / f"stylepipe_{kind}" / "models" / name
    folder.mkdir(parents=True)
    training = {"steps": steps, "settings": {"loss_net": loss_net, "loss": loss}}
    (folder / "manifest.json").write_text(json.dumps({"name": name, "training": training}))
    return folder


def run_queue(
    tmp_path: Path, only: str, **settings: str | None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the queue with a recorder for the CLI; a setting of None takes the default."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    calls = tmp_path / "calls.txt"
    recorder = tmp_path / "stylepipe"
    recorder.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    env = {
        **os.environ,
        "STYLEPIPE": str(recorder),
        "PYTHON": sys.executable,
        "STYLEPIPE_HOME": str(tmp_path / "home"),
        "BUNDLED": str(tmp_path / "plugins"),
        "ONLY": only,
        "LATE": "",
        **{key: value for key, value in settings.items() if value is not None},
    }
    for key in (key for key, value in settings.items() if value is None):
        env.pop(key, None)
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)
    lines = calls.read_text().splitlines() if calls.exists() else []
    return done, lines


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_the_queue_continues_a_committed_pack_and_skips_a_finished_one(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    mosaic = write_manifest(plugins, "style", "mosaic", 2500, "vgg19")
    write_manifest(plugins, "style", "udnie", 5000, "vgg19")
    write_manifest(plugins, "style", "great-wave", 1600, "vgg16-random")  # other recipe
    done, calls = run_queue(tmp_path, "mosaic udnie great-wave")
    assert done.returncode == 0, done.stderr
    assert "udnie: bundled after 5000 steps, skipped" in done.stdout
    assert "mosaic: bundled after 2500 steps, skipped" in done.stdout  # first pass: 2000
    named = [(call.split("--name ")[1].split()[0], call) for call in calls]
    # the recorder installs nothing, so great-wave is started in both passes
    assert [name for name, _ in named] == ["great-wave", "mosaic", "great-wave"]
    assert "--iterations 2000" in named[0][1] and "--iterations 5000" in named[2][1]
    assert f"--init-from {mosaic}" in named[1][1] and "--iterations 5000" in named[1][1]
    assert all("--init-from" not in c and "--resume" not in c for n, c in named if n != "mosaic")
    assert all("--lr 1e-3" in c for n, c in named if n != "mosaic")  # new runs: LR
    assert "--lr 5e-4" in named[1][1]  # a continuation from a pack: CONTINUE_LR
    commands = (tmp_path / "home" / "commands.log").read_text()
    assert "--init-from" in commands  # the exact command is recorded


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_run_with_a_checkpoint_is_resumed_before_any_pack(tmp_path: Path) -> None:
    write_manifest(tmp_path / "plugins", "style", "mosaic", 2500, "vgg19")
    run_dir = tmp_path / "home" / "runs" / "mosaic"
    run_dir.mkdir(parents=True)
    (run_dir / "checkpoint.pt").write_bytes(b"")
    (run_dir / "losses.csv").write_text("step,total\n2700,1.0\n")
    done, calls = run_queue(tmp_path, "mosaic")
    assert done.returncode == 0, done.stderr
    # both passes resume the run (the recorder installs no pack); none starts from the pack
    assert len(calls) == 2 and all("--resume" in c and "--init-from" not in c for c in calls)
    assert all("--lr" not in c for c in calls)  # a rollback may have halved the run's rate


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_pixel_loss_upscaler_counts_whatever_loss_network_it_names(tmp_path: Path) -> None:
    # per-pixel loss never runs the loss network: its old pack is as good as a new one
    write_manifest(tmp_path / "plugins", "sr", "sr4-pixel", 3000, "vgg16-random", loss="pixel")
    write_manifest(tmp_path / "plugins", "sr", "sr4", 3000, "vgg16-random")
    done, calls = run_queue(tmp_path, "sr4 sr4-pixel")
    assert done.returncode == 0, done.stderr
    assert "sr4-pixel: bundled after 3000 steps, skipped" in done.stdout
    assert len(calls) == 1 and "--name sr4 " in calls[0] and "--init-from" not in calls[0]


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_late_passes_go_on_at_a_higher_style_weight_after_the_full_steps(tmp_path: Path) -> None:
    for name in ("mosaic", "the-scream", "udnie"):
        write_manifest(tmp_path / "plugins", "style", name, 5000, "vgg19")
    late = "mosaic:6500:30 the-scream:7000:20"
    done, calls = run_queue(tmp_path, "mosaic the-scream udnie", LATE=late)
    assert done.returncode == 0, done.stderr
    # all three at 5,000 already: only the late passes train, in the order given
    mosaic, scream = calls
    assert "--name mosaic " in mosaic and "--iterations 6500" in mosaic
    assert "--style-weight 30" in mosaic and "--init-from" in mosaic  # recorded by --init-from
    assert "--name the-scream " in scream and "--iterations 7000" in scream
    assert "--style-weight 20" in scream
    # by default mosaic and the-scream go on at weight 30; the-scream then comes back to
    # 15, mosaic goes on at 40 and 60, comes back to 25, goes on at 30, then settles at 25
    # (all at style size 384)
    default = tmp_path / "default"
    for name in ("mosaic", "the-scream", "udnie"):
        write_manifest(default / "plugins", "style", name, 5000, "vgg19")
    done, calls = run_queue(default, "mosaic the-scream udnie", LATE=None)
    assert done.returncode == 0, done.stderr
    names = [c.split("--name ")[1].split()[0] for c in calls]
    assert names == ["mosaic", "the-scream", "the-scream"] + ["mosaic"] * 5
    assert all("--iterations 6500" in c and "--style-weight 30" in c for c in calls[:2])
    assert "--iterations 7500" in calls[2] and "--style-weight 15" in calls[2]
    mosaic_passes = [
        (8000, 40, 384), (9000, 60, 384), (10000, 25, 384), (11600, 30, 384), (12000, 25, 384)
    ]  # fmt: skip
    for call, (steps, weight, size) in zip(calls[3:], mosaic_passes, strict=True):
        assert option(call, "--iterations") == str(steps)
        assert option(call, "--style-weight") == str(weight)
        assert option(call, "--style-size") == str(size)
    assert all("--style-scales" not in call for call in calls)  # the style at scale 1
    # paper-length runs (STYLE_STEPS above it) have no late pass
    paper = tmp_path / "paper"
    write_manifest(paper / "plugins", "style", "mosaic", 5000, "vgg19")
    done, calls = run_queue(paper, "mosaic", LATE="mosaic:6500:30", STYLE_STEPS="40000")
    assert done.returncode == 0, done.stderr
    assert calls and all("--style-weight 10 " in c for c in calls)


def option(call: str, flag: str) -> str:
    """The value a recorded command line gives ``flag``."""
    words = call.split()
    return words[words.index(flag) + 1]


def write_finished_run(
    home: Path,
    name: str,
    steps: int,
    installed: int,
    lr: float | None = None,
    style_size: int | None = None,
    layer_weights: str | None = None,
    style_scales: str | None = None,
    content_layer: str | None = None,
) -> None:
    """A run folder with a checkpoint at ``steps`` (going on at ``lr``; None: unreadable),
    its config (at ``style_size``, ``layer_weights``, ``style_scales`` and
    ``content_layer``; no size: no config) and the queue's pack at ``installed``."""
    run_dir = home / "runs" / name
    run_dir.mkdir(parents=True)
    if style_size is not None:
        config = {"style_size": style_size, "style_layer_weights": layer_weights}
        if style_scales is not None:  # a run from before --style-scales has none
            config["style_scales"] = style_scales
        if content_layer is not None:  # ... and one from before --content-layer
            config["content_layer"] = content_layer
        (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "checkpoint.pt").write_bytes(b"")
    if lr is not None:
        import torch

        torch.save({"config": {"lr": lr}, "step": steps}, run_dir / "checkpoint.pt")
    (run_dir / "losses.csv").write_text(f"step,total\n{steps},1.0\n")
    pack = home / "plugins" / name
    pack.mkdir(parents=True)
    (pack / "manifest.json").write_text(json.dumps({"training": {"steps": installed}}))


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_late_pass_from_the_bundled_pack_trains_at_its_own_rate(tmp_path: Path) -> None:
    # runs/ did not outlive the session: the pass starts from the committed pack, at the
    # rate the pass names (CONTINUE_LR when it names none), with its own style scales
    pack = write_manifest(tmp_path / "plugins", "style", "mosaic", 12000, "vgg19")
    late = "mosaic:12500:18:::3e-4:1,0.5 mosaic:13000:10"
    done, calls = run_queue(tmp_path, "mosaic", LATE=late)
    assert done.returncode == 0, done.stderr
    half, plain = calls  # the recorder trains nothing: both start from the pack
    assert option(half, "--init-from") == str(pack) and option(half, "--lr") == "3e-4"
    assert option(half, "--style-scales") == "1,0.5" and "--style-weight 18 " in half
    assert option(plain, "--init-from") == str(pack) and option(plain, "--lr") == "5e-4"
    assert "--style-scales" not in plain


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_late_pass_on_a_finished_run_goes_on_at_the_continuation_rate(tmp_path: Path) -> None:
    # great-wave finished its 5,000 steps: the late pass resumes it at CONTINUE_LR;
    # composition-vii was stopped inside its late pass: it keeps its own (maybe halved) rate
    home = tmp_path / "home"
    write_finished_run(home, "great-wave", 5000, installed=5000)
    write_finished_run(home, "composition-vii", 5400, installed=5000)
    late = "great-wave:6000:6 composition-vii:6000:20"
    done, calls = run_queue(tmp_path, "great-wave composition-vii", LATE=late)
    assert done.returncode == 0, done.stderr
    wave, composition = calls
    assert "--name great-wave " in wave and "--resume" in wave
    assert option(wave, "--lr") == "0.0005" and "--style-weight 6 " in wave
    assert "--name composition-vii " in composition and "--resume" in composition
    assert "--lr" not in composition and "--style-weight 20 " in composition


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_late_pass_never_raises_a_rate_a_spike_has_halved(tmp_path: Path) -> None:
    # composition-vii's run went on at 2.5e-4 after a rollback: its late pass stays there;
    # great-wave's run is at 1e-3: its late pass comes down to CONTINUE_LR
    home = tmp_path / "home"
    write_finished_run(home, "composition-vii", 5000, installed=5000, lr=2.5e-4)
    write_finished_run(home, "great-wave", 5000, installed=5000, lr=1e-3)
    late = "composition-vii:6000:20 great-wave:6000:6"
    done, calls = run_queue(tmp_path, "great-wave composition-vii", LATE=late)
    assert done.returncode == 0, done.stderr
    composition, wave = calls
    assert "--name composition-vii " in composition and option(composition, "--lr") == "0.00025"
    assert "--name great-wave " in wave and option(wave, "--lr") == "0.0005"


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_late_pass_may_name_its_own_lower_rate(tmp_path: Path) -> None:
    # mosaic settles at a fifth of the continuation rate; a rate above the run's own is
    # still not taken, and a pass at another style size starts from the pack at its rate
    home = tmp_path / "home"
    write_finished_run(home, "mosaic", 11600, installed=11600, lr=5e-4, style_size=384)
    write_finished_run(home, "udnie", 5000, installed=5000, lr=2.5e-4, style_size=384)
    write_finished_run(home, "the-scream", 7500, installed=7500, lr=5e-4, style_size=384)
    late = "mosaic:12000:25:::1e-4 udnie:6000:10:::1e-3 the-scream:8000:15:256::2e-4"
    done, calls = run_queue(tmp_path, "mosaic udnie the-scream", LATE=late)
    assert done.returncode == 0, done.stderr
    mosaic, udnie, scream = calls
    assert "--resume" in mosaic and option(mosaic, "--lr") == "0.0001"
    assert option(mosaic, "--style-weight") == "25" and option(mosaic, "--style-size") == "384"
    assert "--resume" in udnie and option(udnie, "--lr") == "0.00025"
    assert "--restart" in scream and float(option(scream, "--lr")) == 2e-4


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_late_pass_at_another_style_size_starts_a_new_run_from_the_pack(
    tmp_path: Path,
) -> None:
    # a resumed run keeps its criterion: mosaic's pass to finer panes starts again from
    # the pack its finished run installed; a run already at that size is resumed
    home = tmp_path / "home"
    write_finished_run(home, "mosaic", 10000, installed=10000, lr=5e-4, style_size=384)
    write_finished_run(home, "udnie", 5500, installed=5000, style_size=256)
    late = "mosaic:12000:30:256 udnie:6000:10:256"
    done, calls = run_queue(tmp_path, "mosaic udnie", LATE=late)
    assert done.returncode == 0, done.stderr
    mosaic, udnie = calls
    assert "--restart" in mosaic and "--resume" not in mosaic
    assert option(mosaic, "--init-from") == str(home / "plugins" / "mosaic")
    assert option(mosaic, "--style-size") == "256" and float(option(mosaic, "--lr")) == 5e-4
    assert "--resume" in udnie and "--init-from" not in udnie
    assert option(udnie, "--style-size") == "256"


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_late_pass_at_other_layer_weights_starts_a_new_run_from_the_pack(
    tmp_path: Path,
) -> None:
    # mosaic's pass weighting relu3 more starts again from its finished run's pack; udnie's
    # run already at those weights is resumed, and a later pass without weights (averaged
    # again) starts a new run once more
    weights = "0.05,0.05,0.1,0.1,0.35,0.35"
    home = tmp_path / "home"
    write_finished_run(home, "mosaic", 10000, installed=10000, lr=5e-4, style_size=384)
    write_finished_run(home, "udnie", 5500, installed=5000, style_size=384, layer_weights=weights)
    write_finished_run(
        home, "the-scream", 7500, installed=7500, style_size=384, layer_weights=weights
    )
    late = f"mosaic:11500:30:384:{weights} udnie:6000:10:384:{weights} the-scream:8000:15"
    done, calls = run_queue(tmp_path, "mosaic udnie the-scream", LATE=late)
    assert done.returncode == 0, done.stderr
    mosaic, udnie, scream = calls
    assert "--restart" in mosaic and "--resume" not in mosaic
    assert option(mosaic, "--init-from") == str(home / "plugins" / "mosaic")
    assert option(mosaic, "--style-layer-weights") == weights
    assert option(mosaic, "--style-size") == "384" and option(mosaic, "--style-weight") == "30"
    assert "--resume" in udnie and "--restart" not in udnie
    assert option(udnie, "--style-layer-weights") == weights
    assert "--restart" in scream and "--style-layer-weights" not in scream


def late_pass_on_two_runs(tmp_path: Path, fields: str, **udnie_criterion: str) -> list[str]:
    """The queue's calls for late passes ending in ``fields`` on mosaic's finished run (its
    config from before the criterion options, at lr 1e-4) and on udnie's, already at
    ``udnie_criterion``; checks that mosaic starts a new run from its pack and udnie's
    run is resumed."""
    home = tmp_path / "home"
    write_finished_run(home, "mosaic", 15600, installed=15600, lr=1e-4, style_size=384)
    write_finished_run(
        home, "udnie", 6000, installed=6000, lr=1e-4, style_size=384, **udnie_criterion
    )
    late = f"mosaic:17000:18:::3e-4:{fields} udnie:7000:10:::3e-4:{fields}"
    done, calls = run_queue(tmp_path, "mosaic udnie", LATE=late)
    assert done.returncode == 0, done.stderr
    mosaic, udnie = calls
    assert "--restart" in mosaic and option(mosaic, "--init-from") == str(
        home / "plugins" / "mosaic"
    )
    assert "--resume" in udnie and "--restart" not in udnie
    return calls


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_late_pass_at_other_style_scales_starts_a_new_run_at_its_own_rate(
    tmp_path: Path,
) -> None:
    # the pass measuring the style at half scale too starts mosaic from its pack, at the
    # pass's 3e-4 (a fresh Adam warms up); udnie's run, resumed, keeps its lower rate
    mosaic, udnie = late_pass_on_two_runs(tmp_path, "1,0.5", style_scales="1,0.5")
    assert option(mosaic, "--style-scales") == "1,0.5" and float(option(mosaic, "--lr")) == 3e-4
    assert option(udnie, "--style-scales") == "1,0.5" and option(udnie, "--lr") == "0.0001"


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_a_late_pass_at_another_content_layer_starts_a_new_run_from_the_pack(
    tmp_path: Path,
) -> None:
    # a pass at relu3_3 and content weight 1.3: mosaic's run measured the content at
    # relu2_2 (its config predates the option), udnie's is already at relu3_3
    calls = late_pass_on_two_runs(tmp_path, ":relu3_3:1.3", content_layer="relu3_3")
    for call in calls:
        assert option(call, "--content-layer") == "relu3_3"
        assert option(call, "--content-weight") == "1.3"
    _, plain = run_queue(tmp_path / "plain", "mosaic", LATE="mosaic:14000:35")
    assert "--content-layer" not in plain[0] and option(plain[0], "--content-weight") == "1"
