"""The command line's usage errors, messages and output outside a terminal: unknown
options, an early Ctrl-C, `check` against what `run` rejects, -q, wrapping, plurals."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylepipe.cli import main
from stylepipe.ui import UI

REPO = Path(__file__).resolve().parent.parent


def make_images(folder: Path, count: int, size: int = 8) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    paths = []
    for n in range(count):
        paths.append(folder / f"img{n}.png")
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def run_cli(*argv: str | Path) -> tuple[int, str]:
    stderr = io.StringIO()
    code = main([str(a) for a in argv], ui=UI(stdout=io.StringIO(), stderr=stderr))
    return code, stderr.getvalue()


def test_an_unknown_option_shows_the_commands_usage_and_the_close_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_images(tmp_path / "in", 1)
    argv = ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--filter", "blur"]
    assert main([*argv, "--recurse"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: stylepipe run ")
    assert "stylepipe run: error: unrecognized arguments: --recurse" in err
    assert "did you mean --recursive?" in err
    assert not (tmp_path / "out").exists()
    assert main(["check", "p.toml", "--strickt"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: stylepipe check ") and "--strickt" in err
    assert "did you mean" not in err  # nothing close: no guess
    assert main(["--verison"]) == 2  # before any command: the top-level usage
    err = capsys.readouterr().err
    assert err.startswith("usage: stylepipe [-h]") and "did you mean --version?" in err


def test_ctrl_c_while_plugins_load_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import stylepipe.plugins

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(stylepipe.plugins, "load_plugins", interrupted)
    code, err = run_cli("filters")
    assert (code, err) == (130, "error: interrupted\n")


def test_entry_turns_any_ctrl_c_into_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import stylepipe.cli

    def interrupted() -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(stylepipe.cli, "main", interrupted)
    try:
        stylepipe.cli.entry()
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped entry(): Python would print a traceback")
    except SystemExit as exit:
        assert exit.code == 130
    assert capsys.readouterr().err == "stylepipe: interrupted\n"


# A real SIGINT in the middle of plugin loading, in a fresh interpreter.
_SIGINT_SCRIPT = """
import os, signal, sys, time
import stylepipe.cli, stylepipe.plugins
real = stylepipe.plugins.load_plugins
def slow(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
    return real(*args, **kwargs)
stylepipe.plugins.load_plugins = slow
stylepipe.cli.entry()
"""


def test_a_real_early_sigint_gives_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _SIGINT_SCRIPT, "filters"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip() == "error: interrupted"


def test_importing_the_cli_is_light() -> None:
    """A Ctrl-C can only be caught once the entry point runs: importing it is kept cheap
    (no numpy, Pillow, rich or pluggy), so that moment comes early."""
    code = (
        "import sys, stylepipe.cli; "
        "print(sorted(m for m in ('numpy', 'PIL', 'rich', 'pluggy') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_the_public_api_still_imports_by_name() -> None:
    import stylepipe
    from stylepipe import Filter, ParamError, hookimpl  # noqa: F401

    assert set(stylepipe.__all__) <= set(dir(stylepipe))
    assert all(getattr(stylepipe, name) is not None for name in stylepipe.__all__)
    with pytest.raises(AttributeError):
        stylepipe.NoSuchName  # noqa: B018


GPU = '[[step]]\nfilter = "blur"\n\n[runtime]\ndevice = "gpu"\n'


def test_check_rejects_the_device_run_rejects_naming_file_and_key(tmp_path: Path) -> None:
    pipe = tmp_path / "p.toml"
    pipe.write_text(GPU)
    make_images(tmp_path / "in", 1)
    code, err = run_cli("check", pipe)
    assert code == 2 and f"error: {pipe}:[runtime]:device: unknown device 'gpu'" in err
    code, err = run_cli("run", tmp_path / "in", "-o", tmp_path / "out", "-p", pipe)
    assert code == 2 and f"error: {pipe}:[runtime]:device: unknown device 'gpu'" in err
    argv = ["run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "blur"]
    code, err = run_cli(*argv, "--device", "gpu")
    assert code == 2 and "error: command line:--device: unknown device 'gpu'" in err
    code, err = run_cli(
        "run", tmp_path / "in", "-o", tmp_path / "o2", "-p", pipe, "--device", "cpu"
    )
    assert code == 0, err  # the command line's device replaces the file's
    pipe.write_text(GPU.replace("gpu", "cpu"))
    assert run_cli("check", pipe)[0] == 0


def test_check_reports_every_error_of_a_file_at_once(tmp_path: Path) -> None:
    pipe = tmp_path / "p.toml"
    pipe.write_text(
        'colour = 1\n[[step]]\nfilter = "blurr"\n[[step]]\nfilter = "resize"\nscael = 2\n'
        '[[step]]\nfilter = "blur"\nradius = -1\n[output]\nquality = 0\n'
        '[runtime]\ntile = "big"\ndevice = "gpu"\n'
    )
    code, err = run_cli("check", pipe)
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert [line.split(": ")[1] for line in errors] == [
        f"{pipe}:colour",
        f"{pipe}:step 1:filter",
        f"{pipe}:step 2:scael",
        f"{pipe}:step 3:radius",
        f"{pipe}:[output]:quality",
        f"{pipe}:[runtime]:tile",
        f"{pipe}:[runtime]:device",
    ]
    assert "did you mean 'blur'?" in err and "did you mean 'scale'?" in err


def test_every_bad_filter_spec_is_reported_at_once(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    code, err = run_cli(
        "run",
        tmp_path / "in",
        "-o",
        tmp_path / "out",
        "--filter",
        "blurr",
        "--filter",
        "resize:x=1",
    )
    assert code == 2
    assert "error: --filter 1:filter: unknown filter 'blurr'" in err
    assert "error: --filter 2:x: resize: unknown parameter 'x'" in err


def test_messages_say_whole_number_not_python_types(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    argv = ["run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "blur"]
    code, err = run_cli(*argv, "--tile", "big")
    assert code == 2 and "tile must be a whole number, got 'big'" in err
    assert "int" not in err and "None" not in err


def test_one_file_is_one_file_and_no_speed_when_all_failed(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    code, err = run_cli("run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "blur")
    assert code == 0 and "1 done, 0 failed of 1 file (" in err and "1 files" not in err
    bad = tmp_path / "bad"
    bad.mkdir()
    for n in range(3):
        (bad / f"b{n}.png").write_bytes(b"not a png")
    code, err = run_cli("run", bad, "-o", tmp_path / "out2", "--filter", "blur")
    assert code == 1 and "0 done, 3 failed of 3 files" in err
    assert "img/s" not in err.replace("-- img/s", "") and "images/s" not in err


def test_quiet_means_errors_only(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 2)
    (tmp_path / "in" / "sub").mkdir()
    make_images(tmp_path / "in" / "sub", 1)
    argv = ["run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "blur"]
    code, err = run_cli(*argv, "--name", "{stem}{ext}", "-q")
    assert (code, err) == (0, "")
    (tmp_path / "in" / "img0.jpg").write_bytes((tmp_path / "in" / "img0.png").read_bytes())
    code, err = run_cli(*argv, "--format", "webp")  # a name clash: a warning
    assert code == 0 and "warning:" in err
    code, err = run_cli(*argv, "--format", "webp", "--overwrite", "-q")
    assert (code, err) == (0, "")


def test_output_is_not_wrapped_when_not_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "in"
    make_images(deep, 1)
    (deep / "broken.png").write_bytes(b"not a png")
    code, err = run_cli("run", deep, "-o", tmp_path / "out", "--filter", "blur")
    assert code == 1
    assert any(str(deep / "broken.png") in line for line in err.splitlines()), err
    out = io.StringIO()
    assert main(["filters", "resize"], ui=UI(stdout=out, stderr=io.StringIO())) == 0
    help_line = next(line for line in out.getvalue().splitlines() if "target width" in line)
    assert "the height keeps the aspect unless given" in help_line  # one row, one line


def test_report_counts_images_left_in_subfolders(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    make_images(tmp_path / "in" / "sub" / "deeper", 2)
    report = tmp_path / "r.json"
    argv = ["run", tmp_path / "in", "-o", tmp_path / "out", "--filter", "blur"]
    code, err = run_cli(*argv, "--report", report)
    assert code == 0, err
    assert json.loads(report.read_text())["ignored"]["in_subfolders"] == 2
