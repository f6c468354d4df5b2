"""The training loop shared by style and super-resolution training.

A :class:`Trainer` owns the network, its optimizer and its loss and does one step; the
loop feeds it batches, records the losses, writes checkpoints (with a preview, the
loss CSV and plot) every ``checkpoint_every`` steps, and on SIGINT/SIGTERM finishes
the current step, writes a checkpoint and stops. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from PIL import Image
from torch import nn

from .checkpoint import capture_rng, restore_rng, save_checkpoint
from .config import RunConfig
from .data import PhotoBatches
from .health import silent_layers_warning, watch_relus
from .history import LossHistory
from .progress import TrainingProgress, format_terms
from .spikes import LOWER_THE_RATE, SpikeGuard, TrainingDiverged, roll_back


@dataclass(frozen=True)
class Runtime:
    """Where and how fast a run executes; may change between resumptions."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: str = "fp32"  # fp32, bf16 or fp16 (autocast dtype)
    channels_last: bool = True
    compile: bool = False
    checkpoint_every: int = 100

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> torch.autocast:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)


class Trainer:
    """One network, its Adam optimizer and its loss. Subclasses define :meth:`compute`
    (the weighted loss terms and ``total`` for a batch) and :meth:`preview`."""

    terms: tuple[str, ...] = ("total",)

    def __init__(self, net: nn.Module, runtime: Runtime, lr: float) -> None:
        self.runtime = runtime
        self.net = net.to(runtime.device).to(memory_format=runtime.memory_format).train()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr)
        self.warn: Callable[[str], None] = lambda message: None
        self._compute: Callable[[Any], dict[str, torch.Tensor]] = self.compute
        if runtime.compile:
            self._compute = torch.compile(self.compute)

    def prepare(self, batch: torch.Tensor) -> Any:
        """What :meth:`compute` takes, made from a batch outside autocast, without
        gradient (super-resolution makes its low-resolution input here)."""
        return batch

    def compute(self, inputs: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def preview(self) -> Image.Image:
        raise NotImplementedError

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        """Forward, backward and an optimizer step; returns the loss terms as floats."""
        terms = self.forward_step(batch)
        if not math.isfinite(float(terms["total"].detach())):
            raise TrainingDiverged("the loss became NaN or infinite", hint=LOWER_THE_RATE)
        return self.update(terms)

    def forward_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The loss terms of a batch, with the graph for :meth:`update`."""
        batch = batch.to(self.runtime.device, memory_format=self.runtime.memory_format)
        with torch.no_grad():
            inputs = self.prepare(batch)
        self.optimizer.zero_grad(set_to_none=True)
        with self.runtime.autocast():
            return self._forward(inputs)

    def update(self, terms: dict[str, torch.Tensor]) -> dict[str, float]:
        """Backward from ``terms["total"]`` and an optimizer step; the terms as floats."""
        terms["total"].backward()
        self.optimizer.step()
        return {k: float(terms[k].detach()) for k in self.terms}

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _forward(self, inputs: Any) -> dict[str, torch.Tensor]:
        if self._compute == self.compute:
            return self.compute(inputs)
        try:
            return self._compute(inputs)
        except Exception as exc:  # torch.compile needs a working C++ toolchain; fall back
            self.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); running eagerly")
            self._compute = self.compute
            return self.compute(inputs)

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])


@dataclass
class RunState:
    """Progress of one run: what a checkpoint saves besides the trainer."""

    run_dir: Path
    config: RunConfig
    history: LossHistory
    step: int = 0
    elapsed_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    runtime_options: dict[str, Any] = field(default_factory=dict)

    def payload(self, trainer: Trainer) -> dict[str, Any]:
        return {
            "task": self.config.task,
            "config": self.config.to_dict(),
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "history": self.history.state(),
            "rng": capture_rng(),
            "extra": self.extra,
            "runtime_options": self.runtime_options,
            **trainer.state_dict(),
        }

    def learning_rate_scale(self) -> float:
        """Below 1 during a warm-up (``extra["lr_warmup"]``: the step it starts from and
        its length): the learning rate grows linearly from nearly 0 to ``--lr``."""
        warmup = self.extra.get("lr_warmup")
        if not warmup or int(warmup["steps"]) <= 0:
            return 1.0
        done = self.step - int(warmup["start"]) + 1
        return min(1.0, max(done, 1) / int(warmup["steps"]))

    def restore(self, trainer: Trainer, data: dict[str, Any]) -> None:
        """Put a loaded checkpoint back into the trainer and this state."""
        trainer.load_state_dict(data)
        self.step, self.elapsed_s = int(data["step"]), float(data["elapsed_s"])
        self.history = LossHistory.from_state(data["history"])
        self.extra.update(data.get("extra", {}))
        restore_rng(data["rng"])


def write_checkpoint(trainer: Trainer, state: RunState) -> tuple[Path, list[str]]:
    """Checkpoint, preview (``preview.jpg`` and ``previews/step-N.jpg``), loss CSV and
    plot; returns the checkpoint's path and the layers silent on the preview."""
    path = save_checkpoint(state.run_dir, state.payload(trainer))
    with watch_relus(trainer.net) as silent:
        image = trainer.preview()
    (state.run_dir / "previews").mkdir(exist_ok=True)
    image.save(state.run_dir / "previews" / f"step-{state.step:06d}.jpg", quality=90)
    image.save(state.run_dir / "preview.jpg", quality=90)
    state.history.write_csv(state.run_dir / "losses.csv")
    state.history.write_plot(state.run_dir / "losses.png")
    return path, silent


class StopFlag:
    """Set by SIGINT/SIGTERM while the loop runs; :attr:`name` says which arrived."""

    def __init__(self) -> None:
        self.name: str | None = None

    @property
    def requested(self) -> bool:
        return self.name is not None


@contextmanager
def stop_signals() -> Iterator[StopFlag]:
    """Catch SIGINT and SIGTERM: the first sets the flag, a second SIGINT interrupts."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers can only be installed from the main thread
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if flag.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        flag.name = signal.Signals(signum).name

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


StepHook = Callable[[int, dict[str, float]], None]


def train_loop(
    trainer: Trainer,
    batches: PhotoBatches,
    state: RunState,
    progress: TrainingProgress,
    *,
    log: Callable[[str], None],
    on_step: StepHook | None = None,
    guard: SpikeGuard | None = None,
) -> bool:
    """Train until ``state.config.iterations``; returns False when stopped by a signal
    (after writing a checkpoint of the last finished step). A loss spike skips its
    batch; a burst of them rolls the run back at half the learning rate (:mod:`.spikes`)."""
    total, every = state.config.iterations, trainer.runtime.checkpoint_every
    speed: float | None = None
    terms: dict[str, float] = {}
    silent_before: list[str] = []
    guard = guard or SpikeGuard()
    guard.seed(state.history.column("total"))  # a resumed run is guarded from its first step
    with stop_signals() as stop:
        while state.step < total:
            started = time.perf_counter()
            trained = guarded_step(trainer, batches, state, guard)
            if trained is not None:
                terms = trained
                took = time.perf_counter() - started
                state.elapsed_s += took
                state.history.append(state.step, terms)
                rate = state.config.batch_size / max(took, 1e-9)
                speed = rate if speed is None else 0.9 * speed + 0.1 * rate
                progress.update(state.step, speed, terms)
                if on_step is not None:
                    on_step(state.step, terms)
            due = trained is not None and state.step % every == 0
            if stop.requested or due or state.step == total:
                path, silent = write_checkpoint(trainer, state)
                log(
                    f"step {state.step}/{total}: {format_terms(terms)}; "
                    f"{speed or 0:.2f} img/s; checkpoint {path}"
                )
                if silent and silent != silent_before:
                    trainer.warn(silent_layers_warning(state.step, silent))
                silent_before = silent
            if stop.requested:
                log(f"stopped by {stop.name} after step {state.step}")
                return False
    return True


def guarded_step(
    trainer: Trainer, batches: PhotoBatches, state: RunState, guard: SpikeGuard
) -> dict[str, float] | None:
    """One step at the scheduled learning rate, the loss judged before the update
    (:mod:`.spikes`): the loss terms, or None for a skipped batch or a rollback."""
    trainer.set_learning_rate(state.config.lr * state.learning_rate_scale())
    graph = trainer.forward_step(batches.batch(state.step))
    state.step += 1
    loss = float(graph["total"].detach())
    if not guard.is_spike(loss):
        return trainer.update(graph)
    del graph
    if guard.record(state.step, loss):
        roll_back(trainer, state, guard, log=trainer.warn)
    else:
        trainer.warn(
            f"step {state.step}: loss {loss:.4g} against a median of {guard.median:.4g}:"
            " a spike, batch skipped"
        )
    return None
