"""stylepipe.tiling.heap: while a CPU run lasts, a freed activation is reused for the next
one instead of fresh memory faulted in page by page; outside (and where the user tuned
glibc's allocator) nothing changes. Counted in minor page faults, not in seconds."""

from __future__ import annotations

import resource
from collections.abc import Callable

import numpy as np
import pytest
import torch

from stylepipe.tiling import heap
from stylepipe.tiling.policy import TilingPolicy
from stylepipe.tiling.run import ArraySink, ArraySource, run_tiled_stream

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="glibc's allocator only")
BLOCK = 16 * 2**20  # floats: 64 MiB, above glibc's largest mmap threshold (32 MiB)


def faults(fn: Callable[[], object]) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def touch() -> None:
    """Allocate, write and free a large block, as a layer's output is."""
    block = torch.empty(BLOCK)
    block.fill_(1.0)
    del block


def test_a_freed_block_is_reused_inside_and_faulted_in_again_outside() -> None:
    touch()
    fresh = faults(touch)
    assert fresh > BLOCK * 4 // 4096 // 2  # outside: new pages each time (mmap)
    with heap.reuse_freed_memory():
        touch()
        assert faults(touch) < fresh // 10  # inside: the same pages again
    touch()
    assert faults(touch) > fresh // 2  # glibc's defaults are back


def test_nested_uses_restore_the_defaults_only_when_the_last_one_leaves() -> None:
    with heap.reuse_freed_memory():
        with heap.reuse_freed_memory():
            touch()
        touch()
        assert faults(touch) < BLOCK * 4 // 4096 // 10
    touch()
    assert faults(touch) > BLOCK * 4 // 4096 // 2


@pytest.mark.parametrize("how", ["user tuned", "switched off", "not asked"])
def test_no_change_when_tuned_by_the_user_switched_off_or_not_asked(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if how == "user tuned":
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    if how == "switched off":
        monkeypatch.setattr(heap, "ENABLED", False)
    with heap.reuse_freed_memory(enabled=how != "not asked"):
        touch()
        assert faults(touch) > BLOCK * 4 // 4096 // 2


def test_a_cpu_run_reuses_its_layers_memory_and_hands_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two 1x1 convolutions of 16 channels over 1024x1024 (64 MiB activations): the
    run's own faults are fewer than its activations' pages, and it leaves glibc as it
    found it."""
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 1), torch.nn.Conv2d(16, 16, 1), torch.nn.Conv2d(16, 16, 1),
        torch.nn.Conv2d(16, 3, 1),
    ).requires_grad_(False)  # fmt: skip
    pixels = np.zeros((1024, 1024, 3), np.uint8)
    out = np.empty_like(pixels)

    def run() -> None:
        source, sink = ArraySource(pixels), ArraySink(out)
        run_tiled_stream(net, source, TilingPolicy(), sink, tile=0, device=torch.device("cpu"))

    run()
    with_reuse = faults(run)
    monkeypatch.setattr(heap, "ENABLED", False)
    run()
    without = faults(run)
    print(f"faults with reuse {with_reuse}, without {without}")
    assert with_reuse < 0.7 * without
    touch()
    assert faults(touch) > BLOCK * 4 // 4096 // 2
