"""``compile`` (``--compile``, ``[runtime] compile``): whole-frame passes through
``torch.compile`` (stylepipe.tiling.compiled), compiled once per network and type, tiled
passes eager, and a compile that fails runs eagerly with one warning.

One test compiles for real (inductor, a tiny network at 32x32: about 15 s on the 2-core
CPU); the others stand a fake in for ``torch.compile``."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from model_helpers import gradient, tiny_style_net, write_style_pack
from PIL import Image
from stylepipe_style import tiling_policy as style_policy
from torch import nn

from stylepipe.cli import main
from stylepipe.tiling import compiled
from stylepipe.tiling.run import run_tiled
from stylepipe.ui import UI

CPU = torch.device("cpu")
FAILED = "torch.compile failed"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class FakeCompile:
    """Stands in for ``torch.compile``: records each module it is given and returns a
    forward that runs that module eagerly, or raises ``error`` (at the call, as inductor
    does; at ``torch.compile`` itself with ``at_once``)."""

    def __init__(self, error: BaseException | None = None, *, at_once: bool = False) -> None:
        self.error, self.at_once = error, at_once
        self.modules: list[nn.Module] = []
        self.kwargs: list[dict[str, Any]] = []
        self.calls = 0

    def __call__(self, module: nn.Module, **kwargs: Any) -> Callable[..., torch.Tensor]:
        self.modules.append(module)
        self.kwargs.append(kwargs)
        if self.error is not None and self.at_once:
            raise self.error

        def forward(*inputs: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.error is not None:
                raise self.error
            return module(*inputs)

        return forward


def style() -> tuple[nn.Module, Any]:
    net = tiny_style_net(seed=1, width=4, n_residual=1).to(memory_format=torch.channels_last)
    return net, style_policy(width=4, n_residual=1)


def image(h: int = 32, w: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def shares_weights(module: nn.Module, net: nn.Module) -> bool:
    """``module`` runs ``net``'s own parameters (the compiled shell, not a copy)."""
    mine = [p.data_ptr() for p in module.parameters()]
    return mine == [p.data_ptr() for p in net.parameters()] and module is not net


@pytest.mark.slow
def test_a_real_compile_matches_eager_and_happens_once(monkeypatch) -> None:
    net, policy = style()
    x = image()
    eager = run_tiled(net, x, policy, tile=0, device=CPU)
    real, calls = torch.compile, []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", counting)
    warnings: list[str] = []
    try:
        first = run_tiled(net, x, policy, tile=0, device=CPU, compile=True, warn=warnings.append)
        again = run_tiled(net, x, policy, tile=0, device=CPU, compile=True, warn=warnings.append)
    finally:
        torch._dynamo.reset()
    assert warnings == []  # really compiled: a failure would have warned
    assert calls == [{"dynamic": None}]  # the second image reused the compiled network
    torch.testing.assert_close(first, eager, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(again, first)


def test_whole_frames_compile_once_per_network_and_type(monkeypatch) -> None:
    fake = FakeCompile()
    monkeypatch.setattr(torch, "compile", fake)
    net, policy = style()
    warnings: list[str] = []
    for h, w in ((32, 40), (32, 40), (24, 28)):  # sizes vary: still one compile
        out = run_tiled(net, image(h, w), policy, tile=0, device=CPU, compile=True)
        assert out.shape == (1, 3, h, w)
    assert len(fake.modules) == 1 and fake.calls == 3
    assert shares_weights(fake.modules[0], net) and fake.kwargs == [{"dynamic": None}]
    # on the CPU, bf16 runs a cast copy: that copy is compiled, and fp32 still is cached
    run_tiled(
        net,
        image(),
        policy,
        tile=0,
        device=CPU,
        autocast_dtype=torch.bfloat16,
        compile=True,
        warn=warnings.append,
    )
    run_tiled(net, image(), policy, tile=0, device=CPU, compile=True)
    assert len(fake.modules) == 2 and fake.calls == 5 and warnings == []
    assert next(fake.modules[1].parameters()).dtype == torch.bfloat16
    other, _ = style()
    run_tiled(other, image(), policy, tile=0, device=CPU, compile=True)
    assert len(fake.modules) == 3 and shares_weights(fake.modules[2], other)


def test_the_cache_does_not_keep_the_network_alive(monkeypatch) -> None:
    monkeypatch.setattr(torch, "compile", FakeCompile())
    net, policy = style()
    run_tiled(net, image(), policy, tile=0, device=CPU, compile=True)
    assert len(compiled._COMPILED) >= 1
    before = len(compiled._COMPILED)
    del net
    import gc

    gc.collect()
    assert len(compiled._COMPILED) == before - 1


def test_tiled_passes_do_not_compile(monkeypatch) -> None:
    fake = FakeCompile()
    monkeypatch.setattr(torch, "compile", fake)
    net, policy = style()
    x = image()
    tiled = run_tiled(net, x, policy, tile=12, device=CPU, compile=True)
    assert fake.modules == [] and fake.calls == 0
    torch.testing.assert_close(tiled, run_tiled(net, x, policy, tile=12, device=CPU))


@pytest.mark.parametrize("at_once", [False, True])
def test_a_failing_compile_warns_once_and_runs_eagerly(monkeypatch, at_once: bool) -> None:
    fake = FakeCompile(RuntimeError("InvalidCxxCompiler: no working C++ compiler"), at_once=at_once)
    monkeypatch.setattr(torch, "compile", fake)
    net, policy = style()
    warnings: list[str] = []
    for seed in (0, 1):
        x = image(seed=seed)
        out = run_tiled(net, x, policy, tile=0, device=CPU, compile=True, warn=warnings.append)
        assert torch.equal(out, run_tiled(net, x, policy, tile=0, device=CPU))
    # bf16 (another network: the cast copy) does not try again either
    run_tiled(
        net,
        image(),
        policy,
        tile=0,
        device=CPU,
        autocast_dtype=torch.bfloat16,
        compile=True,
        warn=warnings.append,
    )
    assert len(fake.modules) == 1 and fake.calls == (0 if at_once else 1)
    assert len(warnings) == 1
    assert FAILED in warnings[0] and "RuntimeError: InvalidCxxCompiler" in warnings[0]
    assert "run without compiling for the rest of this batch" in warnings[0]


def test_out_of_memory_in_a_compiled_pass_halves_the_tile(monkeypatch) -> None:
    fake = FakeCompile(torch.OutOfMemoryError("CUDA out of memory"))
    monkeypatch.setattr(torch, "compile", fake)
    net, policy = style()
    x = image(64, 64)
    warnings: list[str] = []
    out = run_tiled(net, x, policy, tile=0, device=CPU, compile=True, warn=warnings.append)
    assert len(warnings) == 1 and "out of memory with 64px tiles" in warnings[0]
    assert fake.calls == 1  # the back-off's tiles run eagerly, and nothing said it failed
    torch.testing.assert_close(
        out, run_tiled(net, x, policy, tile=0, device=CPU), atol=1e-4, rtol=1e-4
    )


# --- from the command line and the pipeline file ------------------------------------------


def photos(folder: Path) -> Path:
    """Two images of different sizes in ``folder``."""
    folder.mkdir()
    for name, (h, w) in (("a.png", (20, 24)), ("b.png", (17, 13))):
        rgb = (gradient(h, w) * 255).round().astype(np.uint8)
        Image.fromarray(rgb).save(folder / name)
    return folder


def run(*argv: str | Path) -> tuple[int, str]:
    stderr = io.StringIO()
    args = ["--device", "cpu", "--precision", "fp32", "--tile", "0"]
    code = main([*map(str, argv), *args], ui=UI(stdout=io.StringIO(), stderr=stderr))
    return code, stderr.getvalue()


def test_the_option_and_the_runtime_key_reach_the_network(tmp_path: Path, monkeypatch) -> None:
    fake = FakeCompile()
    monkeypatch.setattr(torch, "compile", fake)
    _, net = write_style_pack(name="tiny", width=4, n_residual=1)
    folder = photos(tmp_path / "in")
    code, err = run("run", folder, "-o", tmp_path / "plain", "--filter", "style:tiny")
    assert code == 0, err
    assert fake.modules == []  # off by default
    code, err = run("run", folder, "-o", tmp_path / "o1", "--filter", "style:tiny", "--compile")
    assert code == 0, err
    assert len(fake.modules) == 1 and fake.calls == 2  # two sizes, one compile
    assert [p.shape for p in fake.modules[0].parameters()] == [p.shape for p in net.parameters()]
    pipe = tmp_path / "p.toml"
    pipe.write_text('[[step]]\nfilter = "style"\nmodel = "tiny"\n[runtime]\ncompile = true\n')
    code, err = run("run", folder, "-o", tmp_path / "o2", "-p", pipe)
    assert code == 0, err
    assert len(fake.modules) == 2  # a new batch loads the model again
    code, err = run("run", folder, "-o", tmp_path / "o3", "-p", pipe, "--no-compile")
    assert code == 0, err
    assert len(fake.modules) == 2
    for out in ("o1", "o2", "o3"):
        for name in ("a.png", "b.png"):
            assert (tmp_path / out / name).is_file()


def test_a_failing_compile_in_a_batch_is_one_warning(tmp_path: Path, monkeypatch) -> None:
    fake = FakeCompile(RuntimeError("C++ compile error"))
    monkeypatch.setattr(torch, "compile", fake)
    write_style_pack(name="tiny", width=4, n_residual=1)
    folder = photos(tmp_path / "in")
    code, err = run("run", folder, "-o", tmp_path / "out", "--filter", "style:tiny", "--compile")
    assert code == 0, err
    assert err.count(FAILED) == 1 and "C++ compile error" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
