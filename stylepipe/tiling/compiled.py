"""Whole-frame passes through ``torch.compile`` (``[runtime] compile``, ``--compile``).

When an image runs as one tile (the whole frame) and compiling is asked for,
:func:`stylepipe.tiling.job.run_job` runs the forward that :func:`compiled_forward` gives:
``torch.compile`` (inductor) of the network as the :class:`~stylepipe.tiling.sweep.Runner`
runs it (on the CPU in bf16/fp16, the runner's cast copy), compiled once per network,
parameter type, autocast type and device, and kept while the network lives (a batch).
One tile is plain instance norm of the whole image, so the compiled network runs outside
:class:`~stylepipe.tiling.globalnorm.GlobalNorm`. Tiled passes stay eager (their norm
layers are patched per sweep).

Off by default: on this project's 2-core CPU it gained 3 % at 512x512 after 29 s of
compiling (BENCHMARKS.md); on CUDA inductor can fuse instance norm, ReLU and padding.

A compile that fails (inductor on the CPU needs a C++ compiler; torch raises at the
first call, not in ``torch.compile``) is reported once through ``warn`` by
:func:`compile_failed`, and the network's whole-frame passes then run eagerly, in every
type (the fp32 rerun after a failed bf16 result too). Running out of memory is no
compile failure: it goes to the caller's tile back-off like an eager pass's.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from stylepipe.tiling.sweep import Runner, is_out_of_memory

__all__ = ["CompileFailed", "compile_failed", "compiled_forward"]

Forward = Callable[..., torch.Tensor]
_REASON_CHARS = 300


class CompileFailed(Exception):
    """The compiled network failed (compiling or running); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(eq=False)
class _Compiled:
    """One network's compiled forwards by (device, parameter type, autocast type), each
    with the module it was compiled from; ``failed``: compiling gave up for the batch."""

    forwards: dict[tuple[object, ...], tuple[weakref.ref[nn.Module], Forward]] = field(
        default_factory=dict
    )
    failed: bool = False


_COMPILED: weakref.WeakKeyDictionary[nn.Module, _Compiled] = weakref.WeakKeyDictionary()


def compiled_forward(runner: Runner) -> Forward | None:
    """The compiled forward of ``runner.net`` (cached per network and type), ``None``
    once compiling failed for the network. The forward raises :class:`CompileFailed`
    (so does this function, if ``torch.compile`` refuses at once)."""
    entry = _COMPILED.setdefault(runner.base, _Compiled())
    if entry.failed:
        return None
    # the fp32 rerun after a failed bf16 result must not reuse the bf16 compile
    key = (runner.device, runner.param_dtype, runner.autocast_dtype)
    known = entry.forwards.get(key)
    if known is not None and known[0]() is runner.net:
        return known[1]
    try:
        # dynamic=None (torch's default), not dynamic=False: a batch's images differ in
        # size. The first size compiles static kernels, a second one recompiles once with
        # dynamic shapes that serve every later size; dynamic=False would compile again
        # for every new size (tens of seconds each) until torch's recompile limit, then
        # run eagerly without a word.
        compiled = torch.compile(_shell(runner.net), dynamic=None)
    except Exception as exc:
        reason = _reason(exc)
    else:
        forward = _guarded(compiled)
        entry.forwards[key] = (weakref.ref(runner.net), forward)
        return forward
    raise CompileFailed(reason)  # outside the handler: no traceback keeps tensors alive


def compile_failed(runner: Runner, reason: str, warn: Callable[[str], None]) -> None:
    """Give up compiling ``runner``'s network for the batch (its other types too), with
    one warning."""
    entry = _COMPILED.setdefault(runner.base, _Compiled())
    if entry.failed:
        return
    entry.failed = True
    entry.forwards.clear()
    warn(
        f"torch.compile failed ({reason}); whole-frame passes run without compiling for "
        "the rest of this batch"
    )


def _shell(net: nn.Module) -> nn.Module:
    """A module sharing ``net``'s submodules, parameters and buffers, but not ``net``
    itself: what is compiled, so that the cache's value never keeps its key alive."""
    return copy.copy(net)


def _guarded(compiled: Forward) -> Forward:
    """``compiled``, raising :class:`CompileFailed` for whatever goes wrong inside it but
    running out of memory (the caller's tile back-off handles that)."""

    def forward(*inputs: torch.Tensor) -> torch.Tensor:
        try:
            return compiled(*inputs)
        except Exception as exc:
            if is_out_of_memory(exc):
                raise
            reason = _reason(exc)
        raise CompileFailed(reason)  # outside the handler: no traceback keeps tensors alive

    return forward


def _reason(exc: BaseException) -> str:
    """The exception's type and message on one line, shortened."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."
