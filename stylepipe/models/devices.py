"""Device choice (cuda > mps > cpu), checks that a named device exists, and the
numeric precision neural filters run in.

Precision names: ``fp32`` (plain float32), ``bf16`` and ``fp16`` (float32 weights run
under ``torch.autocast`` with that dtype). ``auto`` picks fp16 on CUDA, bf16 on CPUs
with native bfloat16 instructions (AMX or AVX-512 BF16, where autocast is clearly
faster) and fp32 everywhere else. Reduced-precision results are checked by the model
descriptor and recomputed in fp32 when they are unusable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.errors import DeviceError

if TYPE_CHECKING:
    import torch

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
"""Accepted values of ``--precision`` / ``[runtime] precision``."""

CPU_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
_CPUINFO = Path("/proc/cpuinfo")


def resolve_device(requested: str) -> torch.device:
    """A ``torch.device`` for ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    import torch

    name = (requested or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise DeviceError(
            f"unknown device {requested!r}", hint="use auto, cpu, cuda, cuda:N or mps"
        ) from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA was requested but is not available", hint="use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"{requested} does not exist: {torch.cuda.device_count()} CUDA device(s) found"
            )
    elif device.type == "mps" and not _mps_available():
        raise DeviceError("MPS was requested but is not available", hint="use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {requested!r}", hint="use auto, cpu, cuda or mps")
    return device


def choose_device(requested: str, hook: Callable[..., Any] | None = None) -> torch.device:
    """The device for ``requested``: asked of ``hook`` (the ``select_device`` hook caller,
    whose built-in implementation is :func:`resolve_device`) when given, else resolved
    directly. A hook result that is not a device is an error naming it."""
    import torch

    if hook is None:
        return resolve_device(requested)
    chosen = hook(requested=requested)
    if chosen is None:
        return resolve_device(requested)
    if isinstance(chosen, str):
        chosen = torch.device(chosen)
    if not isinstance(chosen, torch.device):
        raise DeviceError(
            f"select_device returned {chosen!r} for {requested!r}, not a torch.device",
            hint="a plugin's select_device hook is faulty; disable it",
        )
    return chosen


def check_device(requested: str, hook: Callable[..., Any] | None = None) -> None:
    """Raise :class:`DeviceError` unless ``requested`` names a device that a batch could
    use on this machine (through ``hook`` as :func:`choose_device` asks it). ``auto`` and
    ``cpu`` always work and are accepted without importing torch."""
    if (requested or "auto").strip().lower() in ("auto", "cpu"):
        return
    choose_device(requested, hook)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags Linux reports in ``/proc/cpuinfo`` (empty elsewhere)."""
    try:
        text = _CPUINFO.read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_fast_bf16(flags: Iterable[str] | None = None, capability: str | None = None) -> bool:
    """Whether this CPU runs bfloat16 natively (AMX or AVX-512 BF16).

    Reads the ``/proc/cpuinfo`` flags; where there are none (not Linux), falls back on
    ``torch.backends.cpu.get_cpu_capability()`` naming AMX or BF16. Both sources can be
    passed in for testing.
    """
    found = frozenset(cpu_flags() if flags is None else flags)
    if found:
        return bool(found & CPU_BF16_FLAGS)
    if capability is None:
        import torch

        capability = str(torch.backends.cpu.get_cpu_capability())
    upper = capability.upper()
    return "AMX" in upper or "BF16" in upper


def resolve_precision(
    requested: str,
    device: torch.device,
    *,
    supported: Iterable[str] = ("fp32", "bf16", "fp16"),
    warn: Callable[[str], None] | None = None,
) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for a requested precision on ``device``.

    ``auto`` picks the fastest safe choice the model ``supported``; an explicit choice the
    model does not support falls back to fp32 with a warning; one the device cannot run
    raises :class:`DeviceError`.
    """
    name = (requested or "auto").strip().lower()
    if name not in PRECISIONS:
        raise DeviceError(f"unknown precision {requested!r}", hint="use " + ", ".join(PRECISIONS))
    allowed = set(supported) | {"fp32"}
    if name == "auto":
        best = _auto_precision(device)
        return best if best in allowed else "fp32"
    _check_device_runs(name, device)
    if name not in allowed:
        if warn is not None:
            warn(f"this model does not support {name}; running it in fp32")
        return "fp32"
    return name


def _auto_precision(device: torch.device) -> str:
    if device.type == "cuda":
        return "fp16"
    if device.type == "cpu" and cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


def _check_device_runs(precision: str, device: torch.device) -> None:
    import torch

    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"bf16 is not supported on {device}", hint="use --precision fp16 or fp32")


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a resolved precision (``None`` for fp32)."""
    import torch

    dtypes = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision not in dtypes:
        raise DeviceError(f"unknown precision {precision!r}", hint="use fp32, bf16 or fp16")
    return dtypes[precision]
