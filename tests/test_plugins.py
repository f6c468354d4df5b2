"""Plugin discovery: built-ins, entry points, env vars, broken plugins, the first-result
and command hooks, and the ``plugins`` / ``filters`` commands.

Third-party plugins here are real distributions: a ``*.dist-info`` folder with an
``entry_points.txt`` on ``sys.path``, found by ``importlib.metadata`` as pip would
install them. The last test installs one with pip into a fresh virtualenv.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stylepipe import Frame, PluginError, hookimpl
from stylepipe.cli import main
from stylepipe.errors import DuplicateError
from stylepipe.pipeline_cli import pipeline_from_filter_specs
from stylepipe.plugins import DEFAULT_PLUGINS, Catalog, load_plugins

REPO = Path(__file__).resolve().parent.parent

INVERT = '''
from dataclasses import dataclass

import numpy as np

from stylepipe import Filter, FilterParams, Frame, hookimpl, param


@dataclass(frozen=True)
class InvertParams(FilterParams):
    amount: float = param(1.0, help="how much of the inverted image", min=0.0, max=1.0)


class Invert(Filter):
    """Invert the colours."""

    name = "{name}"
    summary = "Invert the colours"
    Params = InvertParams

    def apply(self, frame: Frame) -> Frame:
        a = self.params.amount
        pixels = frame.pixels * (1 - a) + (1 - frame.pixels) * a
        return frame.replace(pixels=pixels.astype(np.float32))


@hookimpl
def register_filters(register):
    register(Invert)
'''


class Site:
    """A folder on ``sys.path`` holding modules and the dist-info of fake installs."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(
        self,
        dist: str,
        modules: dict[str, str],
        entry_points: dict[str, str],
        version: str = "1.0",
    ) -> None:
        for module, source in modules.items():
            (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        info = self.root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text("[stylepipe]\n" + lines)

    def add_filter_plugin(self, dist: str, module: str, filter_name: str = "invert") -> None:
        source = INVERT.replace("{name}", filter_name)
        self.add(dist, {module: source}, {module: module})


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("COLUMNS", "250")  # no wrapping of rich output in assertions
    yield Site(root)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(root)):
            del sys.modules[name]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, " ".join(captured.err.split())


def test_builtins_are_registered_like_third_party_plugins() -> None:
    plugins = load_plugins(entry_points=False)
    assert plugins.failures == []
    names = [name for name, _ in plugins.pm.list_name_plugin()]
    for module_name in DEFAULT_PLUGINS:
        assert module_name in names
        assert plugins.pm.get_plugin(module_name) is sys.modules[module_name]
    assert {info.name for info in plugins.info() if info.builtin} == set(DEFAULT_PLUGINS)
    catalog = Catalog.build(plugins)
    assert catalog.filters.resolve("stylepipe_basic/resize").item.name == "resize"


def test_entry_point_plugin_is_found_and_its_filter_runs(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_filter_plugin("stylepipe-invert", "sp_invert", "invert")
    plugins = load_plugins()
    info = {i.name: i for i in plugins.info()}["sp_invert"]
    assert (info.builtin, info.package, info.version) == (False, "stylepipe-invert", "1.0")
    assert info.hooks == ("register_filters",)
    pipeline = pipeline_from_filter_specs(["invert:amount=1"], Catalog.build(plugins))
    frame = Frame(np.full((2, 3, 3), 0.25, np.float32))
    out = pipeline.steps[0].filter.apply(frame)
    assert np.allclose(out.pixels, 0.75)

    code, out_text, _ = run_cli(capsys, "filters", "--json")
    assert code == 0
    by_name = {f["name"]: f for f in json.loads(out_text)["filters"]}
    assert by_name["invert"]["plugin"] == "sp_invert"
    assert by_name["invert"]["qualified_name"] == "sp_invert/invert"
    assert by_name["resize"]["plugin"] == "stylepipe_basic"


def test_load_plugins_env_limits_entry_points(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    site.add_filter_plugin("dist-one", "sp_one", "one")
    site.add_filter_plugin("dist-two", "sp_two", "two")

    def loaded() -> set[str]:
        plugins = load_plugins()
        return {name for name, _ in plugins.pm.list_name_plugin()} - set(DEFAULT_PLUGINS)

    assert loaded() == {"sp_one", "sp_two"}
    monkeypatch.setenv("STYLEPIPE_LOAD_PLUGINS", "sp_one")
    assert loaded() == {"sp_one"}
    monkeypatch.setenv("STYLEPIPE_LOAD_PLUGINS", " dist-two , nothing-else")  # dist names too
    assert loaded() == {"sp_two"}
    monkeypatch.setenv("STYLEPIPE_LOAD_PLUGINS", "")
    assert loaded() == set()
    assert set(DEFAULT_PLUGINS) <= {n for n, _ in load_plugins().pm.list_name_plugin()}


def test_trace_env_traces_hook_calls_to_stderr(
    site: Site, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, quiet = run_cli(capsys, "filters", "--json")
    assert code == 0 and "register_filters" not in quiet
    monkeypatch.setenv("STYLEPIPE_TRACE_PLUGINS", "1")
    code, out, err = run_cli(capsys, "filters", "--json")
    assert code == 0
    assert "register_commands" in err and "register_filters" in err
    assert "'stylepipe_basic')" in err  # each registration call names its plugin
    assert "register_filters" not in out  # stdout keeps only the JSON
    json.loads(out)


def test_plugin_failing_on_import_is_named_and_skipped(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add("broken-dist", {"sp_broken": "raise RuntimeError('boom at import')\n"},
             {"sp_broken": "sp_broken"})  # fmt: skip
    site.add_filter_plugin("fine-dist", "sp_fine", "fine")
    code, out, err = run_cli(capsys, "filters", "--json")
    assert code == 0
    assert "plugin 'sp_broken' failed to load and was skipped" in err
    assert "RuntimeError: boom at import" in err
    assert "fine" in {f["name"] for f in json.loads(out)["filters"]}
    code, out, _ = run_cli(capsys, "plugins", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["failures"] == [{"name": "sp_broken", "error": "RuntimeError: boom at import"}]
    assert "sp_broken" not in {p["name"] for p in report["plugins"]}


def test_misspelled_hook_fails_loudly(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    source = (
        "from stylepipe import hookimpl\n\n@hookimpl\ndef register_filter(register):\n    pass\n"
    )
    site.add("typo-dist", {"sp_typo": source}, {"sp_typo": "sp_typo"})
    with pytest.raises(PluginError) as info:
        load_plugins()
    assert "sp_typo" in str(info.value) and "register_filter" in str(info.value)
    code, _, err = run_cli(capsys, "plugins")
    assert code == 2
    assert "unknown hook" in err and "sp_typo" in err


def test_duplicate_filter_names_error_naming_both_plugins(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add_filter_plugin("twin-a", "sp_twin_a", "twin")
    site.add_filter_plugin("twin-b", "sp_twin_b", "twin")
    with pytest.raises(DuplicateError) as info:
        Catalog.build(load_plugins())
    assert "'sp_twin_a'" in str(info.value) and "'sp_twin_b'" in str(info.value)
    code, _, err = run_cli(capsys, "filters")
    assert code == 2
    assert "filter 'twin' is registered twice" in err


def test_filter_clashing_with_a_builtin_names_both(site: Site) -> None:
    site.add_filter_plugin("my-resize", "sp_resize", "resize")
    with pytest.raises(
        DuplicateError, match="'stylepipe_basic'.*'sp_resize'|'sp_resize'.*'stylepipe_basic'"
    ):
        Catalog.build(load_plugins())


def test_registration_hook_that_raises_names_the_plugin(site: Site) -> None:
    source = (
        "from stylepipe import hookimpl\n\n@hookimpl\ndef register_filters(register):\n    1 / 0\n"
    )
    site.add("crash-dist", {"sp_crash": source}, {"sp_crash": "sp_crash"})
    with pytest.raises(PluginError, match="plugin 'sp_crash' failed in register_filters"):
        Catalog.build(load_plugins())


def test_entry_point_name_of_a_builtin_is_reported(site: Site) -> None:
    site.add("squatter", {"sp_squat": INVERT.replace("{name}", "squat")},
             {"stylepipe_basic": "sp_squat"})  # fmt: skip
    plugins = load_plugins()
    assert plugins.pm.get_plugin("stylepipe_basic") is sys.modules["stylepipe_basic"]
    assert [f.name for f in plugins.failures] == ["stylepipe_basic"]
    assert "already used by a built-in plugin" in plugins.failures[0].error


DEVICE_PLUGIN = """
import torch
from stylepipe import hookimpl

@hookimpl
def select_device(requested):
    return torch.device("meta") if requested == "fancy" else None
"""


def test_select_device_first_result_wins_over_the_trylast_builtin(site: Site) -> None:
    import torch

    assert load_plugins().hook.select_device(requested="cpu") == torch.device("cpu")
    site.add("device-dist", {"sp_device": DEVICE_PLUGIN}, {"sp_device": "sp_device"})
    hook = load_plugins().hook
    assert hook.select_device(requested="fancy") == torch.device("meta")
    assert hook.select_device(requested="cpu") == torch.device("cpu")  # None: next plugin


COMMAND_PLUGIN = """
from stylepipe import hookimpl

def hello(args, app):
    app.ui.data(f"hello {args.who}, {len(list(app.catalog.filters))} filters")
    return 0

@hookimpl
def register_commands(subparsers):
    parser = subparsers.add_parser("hello", help="say hello")
    parser.add_argument("who")
    parser.set_defaults(handler=hello)
"""


def test_register_commands_adds_a_subcommand(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.add("hello-dist", {"sp_hello": COMMAND_PLUGIN}, {"sp_hello": "sp_hello"})
    code, out, _ = run_cli(capsys, "hello", "world")
    assert code == 0
    assert out.startswith("hello world, ") and out.strip().endswith("filters")


def test_plugins_command_table(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site.add_filter_plugin("stylepipe-invert", "sp_invert")
    site.add("broken-dist", {"sp_broken": "import not_a_module_anywhere\n"},
             {"sp_broken": "sp_broken"})  # fmt: skip
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0
    table = " ".join(out.split())
    assert "stylepipe_basic │ built-in │ register_filters" in table
    assert "sp_invert │ stylepipe-invert 1.0 │ register_filters" in table
    assert "failed to load" in table and "ModuleNotFoundError" in table


def test_plugins_json_has_stable_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "plugins", "--json")
    report = json.loads(out)
    assert code == 0 and set(report) == {"plugins", "failures"}
    for plugin in report["plugins"]:
        assert list(plugin) == ["name", "builtin", "package", "version", "hooks"]
    basic = next(p for p in report["plugins"] if p["name"] == "stylepipe_basic")
    assert basic["builtin"] is True and basic["hooks"] == ["register_filters"]


def test_filters_json_describes_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "filters", "resize", "--json")
    assert code == 0
    [resize] = json.loads(out)["filters"]
    assert list(resize) == ["name", "qualified_name", "plugin", "summary", "description", "params"]
    scale = next(p for p in resize["params"] if p["name"] == "scale")
    assert scale == {
        "name": "scale",
        "type": "float",
        "optional": True,
        "required": False,
        "default": None,
        "min": 0.001,
        "max": 64.0,
        "choices": None,
        "help": scale["help"],
    }
    resample = next(p for p in resize["params"] if p["name"] == "resample")
    assert resample["default"] == "lanczos" and "nearest" in resample["choices"]


def test_filters_table_and_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "filters")
    assert code == 0
    for name in ("resize", "crop", "grayscale", "blur", "sharpen", "convert"):
        assert f"{name}:" in out
    code, out, _ = run_cli(capsys, "filters", "sharpen")
    assert code == 0 and "Unsharp mask" in out and "threshold" in out and "blur:" not in out
    code, _, err = run_cli(capsys, "filters", "sharpn")
    assert code == 2 and "unknown filter 'sharpn'" in err and "did you mean 'sharpen'" in err


@pytest.mark.parametrize("command", ["check", "filters", "plugins"])
def test_help_has_examples(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    assert "examples:" in out and f"stylepipe {command}" in out


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "stylepipe-invert"
version = "0.3.0"
dependencies = ["stylepipe"]

[project.entry-points.stylepipe]
invert = "stylepipe_invert"

[tool.setuptools]
py-modules = ["stylepipe_invert"]
"""

RUN_FILTER = """
import numpy as np
from stylepipe import Frame
from stylepipe.pipeline_cli import pipeline_from_filter_specs
from stylepipe.plugins import Catalog, load_plugins
pipeline = pipeline_from_filter_specs(["invert:amount=1"], Catalog.build(load_plugins()))
out = pipeline.steps[0].filter.apply(Frame(np.full((2, 2, 3), 0.2, np.float32)))
print(float(out.pixels.mean()))
"""


def _venv_python(tmp_path: Path) -> Path:
    """A fresh virtualenv that also sees this repo's .venv packages (through a .pth that
    runs site.addsitedir, so the editable install of stylepipe keeps working)."""
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "_outer_venv.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


@pytest.mark.slow
def test_pip_installed_plugin_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    project = tmp_path / "stylepipe-invert"
    project.mkdir()
    (project / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (project / "stylepipe_invert.py").write_text(INVERT.replace("{name}", "invert"))
    python = _venv_python(tmp_path)
    env = {
        **os.environ,
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "STYLEPIPE_HOME": str(tmp_path / "home"),
        "COLUMNS": "250",
    }
    env.pop("PYTHONPATH", None)
    env.pop("STYLEPIPE_LOAD_PLUGINS", None)
    install = [
        sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
        "--no-deps", "--no-build-isolation", "--no-index", str(project),
    ]  # fmt: skip
    subprocess.run(install, check=True, env=env, cwd=tmp_path, capture_output=True)

    def stylepipe(*args: str) -> Any:
        done = subprocess.run(
            [str(python), "-m", "stylepipe", *args],
            env=env, cwd=tmp_path, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    filters = {f["name"]: f for f in stylepipe("filters", "--json")["filters"]}
    assert filters["invert"]["plugin"] == "invert"
    assert filters["invert"]["params"][0]["name"] == "amount"
    plugins = {p["name"]: p for p in stylepipe("plugins", "--json")["plugins"]}
    assert plugins["invert"] == {
        "name": "invert",
        "builtin": False,
        "package": "stylepipe-invert",
        "version": "0.3.0",
        "hooks": ["register_filters"],
    }
    ran = subprocess.run(
        [str(python), "-c", RUN_FILTER], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert abs(float(ran.stdout) - 0.8) < 1e-6
    # the plugin is not visible to this repo's own environment
    assert "invert" not in {e.name for e in Catalog.build(load_plugins()).filters}


class EventRecorder:
    """Implements the three batch events; ``fail_on`` makes image_finished raise."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.events: list[tuple[str, ...]] = []
        self.fail_on = fail_on

    @hookimpl
    def batch_started(self, job):  # type: ignore[no-untyped-def]
        self.events.append(("started", str(len(job.items))))

    @hookimpl
    def image_finished(self, item, result):  # type: ignore[no-untyped-def]
        self.events.append((item.source.name, result.status))
        if item.source.name == self.fail_on:
            raise RuntimeError("listener bug")

    @hookimpl
    def batch_finished(self, job, summary):  # type: ignore[no-untyped-def]
        self.events.append(("finished", str(summary.done)))


@pytest.mark.parametrize("fail_on", [None, "a.png"])
def test_batch_event_hooks_fire_in_order(tmp_path: Path, fail_on: str | None) -> None:
    from PIL import Image

    from stylepipe.app import App
    from stylepipe.engine.batch import run_batch
    from stylepipe.ui import UI

    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (6, 4), (200, 10, 10)).save(inputs / name)
    recorder = EventRecorder(fail_on)
    plugins = load_plugins(entry_points=False)
    plugins.pm.register(recorder, name="recorder")
    stderr = io.StringIO()
    app = App(plugins, UI(stdout=io.StringIO(), stderr=stderr))
    pipeline = pipeline_from_filter_specs(["grayscale"], app.catalog)
    summary = run_batch(app, pipeline, [inputs], tmp_path / "out")
    assert recorder.events == [
        ("started", "2"),
        ("a.png", "done"),
        ("b.png", "done"),
        ("finished", "2"),
    ]
    assert summary.done == 2 and sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.png",
        "b.png",
    ]
    assert ("listener bug" in stderr.getvalue()) == (fail_on is not None)
