"""stylepipe.tiling.heap: while a CPU run lasts, a freed activation is reused for the next
one instead of fresh memory faulted in page by page; outside (and where the user tuned
glibc's allocator, or the switch is off) large blocks are new memory each time. Counted
in minor page faults, not in seconds, each check in a fresh process (where a block lands
depends on what the process freed before)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from stylepipe.tiling import heap

pytestmark = pytest.mark.skipif(heap._glibc() is None, reason="glibc's allocator only")
PAGES = 64 * 2**20 // 4096  # one 64 MiB block, above glibc's largest mmap threshold
LAYERS = 4 * PAGES  # what touch() writes

ALLOCATOR = """
import json, resource, torch
from stylepipe.tiling import heap

def faults(fn):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

def touch():  # four layers' outputs of 64 MiB, each written, its input then freed
    x = torch.empty(16 * 2**20)
    for _ in range(4):
        y = torch.empty(16 * 2**20)
        y.fill_(1.0)
        x = y
    del x, y

def settle():
    for _ in range(4):
        touch()

found = {}
settle()
found["before"] = faults(touch)
with heap.reuse_freed_memory():
    settle()
    found["inside"] = faults(touch)
settle()
found["after"] = faults(touch)
with heap.reuse_freed_memory():
    with heap.reuse_freed_memory():
        settle()
    found["nested, inner left"] = faults(touch)
settle()
found["nested, both left"] = faults(touch)
with heap.reuse_freed_memory(enabled=False):
    settle()
    found["not asked"] = faults(touch)
heap.ENABLED = False
with heap.reuse_freed_memory():
    settle()
    found["switched off"] = faults(touch)
print(json.dumps(found))
"""


def allocator_faults(**env: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", ALLOCATOR],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, **env},
    )
    return dict(json.loads(done.stdout))


def test_a_freed_block_is_reused_inside_and_is_new_memory_outside() -> None:
    found = allocator_faults()
    for outside in ("before", "after", "nested, both left", "not asked", "switched off"):
        assert found[outside] >= LAYERS // 2, (outside, found)
    for inside in ("inside", "nested, inner left"):
        assert found[inside] < LAYERS // 10, (inside, found)


def test_allocator_settings_of_the_user_are_left_alone() -> None:
    found = allocator_faults(MALLOC_TRIM_THRESHOLD_="131072")
    assert found["inside"] >= LAYERS // 2, found


RUN = """
import resource, numpy as np, torch
from stylepipe.tiling import heap
from stylepipe.tiling.policy import TilingPolicy
from stylepipe.tiling.run import ArraySink, ArraySource, run_tiled_stream
torch.set_num_threads(1)
layers = [torch.nn.Conv2d(3, 16, 1)]
for _ in range(8):
    layers += [torch.nn.Conv2d(16, 16, 1), torch.nn.ReLU()]
net = torch.nn.Sequential(*layers, torch.nn.Conv2d(16, 3, 1)).requires_grad_(False)
pixels = np.zeros((1024, 1024, 3), np.uint8)
out = np.empty_like(pixels)
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    run_tiled_stream(net, ArraySource(pixels), TilingPolicy(), ArraySink(out), tile=0,
                     device=torch.device("cpu"))
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
reuse = [faults() for _ in range(3)][-1]
heap.ENABLED = False
print(reuse, [faults() for _ in range(3)][-1])
"""


def test_a_cpu_run_reuses_its_layers_memory() -> None:
    """Seventeen layers over 1024x1024 with 16 channels (64 MiB activations), as the
    command line runs a batch: with reuse, the third image faults in far fewer pages than
    without (where each activation is new memory)."""
    done = subprocess.run(
        [sys.executable, "-c", RUN], capture_output=True, text=True, check=True, timeout=300
    )
    reuse, without = map(int, done.stdout.split())
    # at least four 64 MiB activations' worth of fresh pages (6x seen in a loaded CI run,
    # 8x+ idle: how much glibc hands back between layers varies)
    assert without > 4 * PAGES
    assert reuse < without // 10
