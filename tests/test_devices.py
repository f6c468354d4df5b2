"""Device and precision choice (stylepipe.models.devices)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from stylepipe import DeviceError
from stylepipe.models import devices
from stylepipe.models.devices import (
    autocast_dtype,
    choose_device,
    cpu_has_fast_bf16,
    resolve_device,
    resolve_precision,
)
from stylepipe.plugins import load_plugins

CPU = torch.device("cpu")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"sse2", "avx512f", "avx512_bf16"}, True),
        ({"amx_bf16", "amx_tile"}, True),
        ({"sse2", "avx2", "avx512f"}, False),
    ],
)
def test_bf16_detection_from_cpuinfo_flags(flags: set[str], expected: bool) -> None:
    assert cpu_has_fast_bf16(flags=flags) is expected


@pytest.mark.parametrize(
    ("capability", "expected"), [("AVX512", False), ("AVX2", False), ("AMX_BF16", True)]
)
def test_bf16_detection_falls_back_on_torch_capability(capability: str, expected: bool) -> None:
    assert cpu_has_fast_bf16(flags=(), capability=capability) is expected


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512_bf16\n\nprocessor\t: 1\n")
    monkeypatch.setattr(devices, "_CPUINFO", fake)
    devices.cpu_flags.cache_clear()
    try:
        assert devices.cpu_flags() == frozenset({"fpu", "sse2", "avx512_bf16"})
        assert cpu_has_fast_bf16() is True
        monkeypatch.setattr(devices, "_CPUINFO", tmp_path / "missing")
        devices.cpu_flags.cache_clear()
        assert devices.cpu_flags() == frozenset()
    finally:
        devices.cpu_flags.cache_clear()


@pytest.mark.parametrize(("fast_bf16", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_on_cpu(
    monkeypatch: pytest.MonkeyPatch, fast_bf16: bool, expected: str
) -> None:
    monkeypatch.setattr(devices, "cpu_has_fast_bf16", lambda: fast_bf16)
    assert resolve_precision("auto", CPU) == expected


def test_auto_precision_on_gpus() -> None:
    # torch.device objects can be made without the hardware; auto only looks at the type
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    assert resolve_precision("auto", torch.device("mps")) == "fp32"


def test_auto_precision_respects_what_the_model_supports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cpu_has_fast_bf16", lambda: True)
    assert resolve_precision("auto", CPU, supported=("fp32",)) == "fp32"
    assert resolve_precision("auto", torch.device("cuda"), supported=("bf16",)) == "fp32"


def test_explicit_precision_is_kept_or_falls_back_with_a_warning() -> None:
    warnings: list[str] = []
    assert resolve_precision("BF16", CPU, warn=warnings.append) == "bf16"
    assert resolve_precision("fp16", CPU, warn=warnings.append) == "fp16"
    assert warnings == []
    assert resolve_precision("fp16", CPU, supported=("bf16",), warn=warnings.append) == "fp32"
    assert warnings and "fp16" in warnings[0] and "fp32" in warnings[0]


@pytest.mark.parametrize("bad", ["fp8", "half", "float64"])
def test_unknown_precision_is_a_device_error(bad: str) -> None:
    with pytest.raises(DeviceError, match="unknown precision") as info:
        resolve_precision(bad, CPU)
    assert "fp32" in (info.value.hint or "")


def test_autocast_dtypes() -> None:
    assert autocast_dtype("fp32") is None
    assert autocast_dtype("bf16") is torch.bfloat16
    assert autocast_dtype("fp16") is torch.float16
    with pytest.raises(DeviceError):
        autocast_dtype("auto")


def test_resolve_device_names() -> None:
    assert resolve_device("cpu") == CPU
    assert resolve_device(" CPU ") == CPU
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("gpu0")
    with pytest.raises(DeviceError, match="unsupported device"):
        resolve_device("meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_is_a_clear_error() -> None:
    with pytest.raises(DeviceError, match="CUDA was requested") as info:
        resolve_device("cuda:1")
    assert "--device cpu" in (info.value.hint or "")


def test_choose_device_through_the_select_device_hook() -> None:
    plugins = load_plugins(entry_points=False)
    assert choose_device("cpu", plugins.hook.select_device) == CPU
    assert choose_device("cpu") == CPU


def test_choose_device_takes_a_plugin_answer_and_rejects_junk() -> None:
    asked: list[str] = []

    def override(requested: str) -> object:
        asked.append(requested)
        return "cpu" if requested == "fast" else 42

    assert choose_device("fast", override) == CPU
    assert asked == ["fast"]
    with pytest.raises(DeviceError, match="not a torch.device"):
        choose_device("other", override)
    assert choose_device("cpu", lambda requested: None) == CPU
