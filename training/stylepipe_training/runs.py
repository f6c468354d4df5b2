"""Setting up, running and stopping a training run: the parts that ``train style`` and
``train sr`` share (see :mod:`stylepipe_training.handlers`).

A run lives in ``<workdir>/<name>/`` (default workdir: ``<user data dir>/runs``, i.e.
``$STYLEPIPE_HOME/runs`` when that is set): ``config.json``, ``checkpoint.pt`` and
``checkpoint.prev.pt``, ``losses.csv``, ``losses.png``, ``preview.jpg`` and
``previews/step-N.jpg``, and copies of the style and preview images it depends on.
"""

from __future__ import annotations

import argparse
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch

from stylepipe.app import App
from stylepipe.errors import DeviceError, StylepackError, UsageError
from stylepipe.models.devices import choose_device, cpu_has_fast_bf16
from stylepipe.packs.format import check_name
from stylepipe.paths import user_data_dir

from .checkpoint import find_checkpoint, load_checkpoint
from .config import RunConfig, new_config, resumed_config
from .data import PhotoBatches, PhotoSet
from .export import PackInfo
from .history import LossHistory
from .loop import RunState, Runtime, Trainer, train_loop
from .lossnet import AUTO, LossNetOptions, choose_auto, get_loss_network
from .progress import TrainingProgress
from .vgg import LossNetwork
from .warmstart import find_init_pack, start_from_pack, warm_up_after_changed_weights

RUNS = "runs"


def default_workdir() -> Path:
    """Runs live in ``<user data dir>/runs/<name>`` unless ``--workdir`` says otherwise."""
    return user_data_dir() / RUNS


PATH_OPTIONS = ("style_image", "data", "preview", "vgg_weights", "workdir")
#: How a run executes; remembered in its checkpoints so that a bare ``--resume``
#: continues the same way (same precision: the same loss curve), unless given again.
RUNTIME_OPTIONS = (
    "device",
    "precision",
    "threads",
    "workers",
    "checkpoint_every",
    "compile",
    "no_channels_last",
    "vgg_weights",
    "vgg_input",
    "no_download",
)
#: What the installed pack says about itself; remembered the same way, so that a resumed
#: run installs its pack with the licence, author and description it was started with.
PACK_OPTIONS = ("license", "author", "description", "fp16_weights")


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options the user typed (the parsers default everything to "not given"), with
    paths made absolute so that a run resumed from elsewhere finds them."""
    given = {k: v for k, v in vars(args).items() if k != "handler"}
    for key in PATH_OPTIONS:
        if given.get(key):
            given[key] = str(Path(given[key]).expanduser().absolute())
    if given.get("resume") not in (None, "auto"):
        given["resume"] = str(Path(given["resume"]).expanduser().absolute())
    return given


def resolve_training_precision(requested: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: ``auto`` is bf16 where the hardware runs it natively.
    (fp16 would need loss scaling; it is not offered for training.)"""
    if requested == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "fp32"
    if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"bf16 is not supported on {device}", hint="use --precision fp32")
    return requested


def make_runtime(given: dict[str, Any], app: App) -> Runtime:
    device = choose_device(given.get("device") or "auto", app.plugins.hook.select_device)
    if given.get("threads"):
        torch.set_num_threads(int(given["threads"]))  # process-wide: one run per process
    every = int(given.get("checkpoint_every") or 100)
    if every < 1:
        raise UsageError("--checkpoint-every must be at least 1")
    return Runtime(
        device=device,
        precision=resolve_training_precision(given.get("precision") or "auto", device),
        channels_last=not given.get("no_channels_last", False),
        compile=bool(given.get("compile", False)),
        checkpoint_every=every,
    )


def valid_name(name: str) -> str:
    """``name`` if it can name a pack, else a usage error (exit status 2)."""
    try:
        return check_name(name)
    except StylepackError as exc:
        raise UsageError(f"--name: {exc.message}", hint=exc.hint) from None


def locate_resume(given: dict[str, Any], task: str) -> tuple[Path, dict[str, Any]]:
    """The checkpoint ``--resume`` means: a file, a run folder, or (bare ``--resume``)
    the run folder of ``--name`` under the workdir."""
    target = given["resume"]
    if target == "auto":
        if not given.get("name"):
            raise UsageError("--resume without a path needs --name NAME to find the run")
        workdir = Path(given.get("workdir") or default_workdir())
        target = workdir / valid_name(given["name"])
        if not target.is_dir():
            known = sorted({p.parent.name for p in workdir.glob("*/checkpoint*.pt")})
            raise UsageError(
                f"no run named {given['name']!r} in {workdir}",
                hint=("runs there: " + ", ".join(known)) if known else "start it without --resume",
            )
    target = Path(target)
    if target.is_dir():
        return find_checkpoint(target, task)
    return target, load_checkpoint(target, task)


def start_run(
    cls: type[RunConfig], given: dict[str, Any], app: App
) -> tuple[RunConfig, Path, dict[str, Any] | None]:
    """The run's config and folder, and the checkpoint to resume (or None)."""
    task = str(cls.__dataclass_fields__["task"].default)
    if given.get("resume"):
        path, data = locate_resume(given, task)
        for key, value in data.get("runtime_options", {}).items():
            given.setdefault(key, value)
        config, changed = resumed_config(cls, data["config"], given, int(data["step"]))
        app.ui.info(
            f"resuming {path} at step {data['step']}"
            + (f" (changed: {', '.join(changed)})" if changed else "")
        )
        return config, path.parent, data
    config = new_config(cls, given)
    run_dir = Path(given.get("workdir") or default_workdir()) / valid_name(config.name)
    if (run_dir / "checkpoint.pt").exists() or (run_dir / "checkpoint.prev.pt").exists():
        if not given.get("restart"):
            raise UsageError(
                f"a run named {config.name!r} already has checkpoints in {run_dir}",
                hint="continue it with --resume, or discard it with --restart",
            )
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return config, run_dir, None


def loss_net_options(config: RunConfig, given: dict[str, Any]) -> LossNetOptions:
    weights = given.get("vgg_weights")
    return LossNetOptions(
        seed=config.loss_net_seed,
        weights=Path(weights) if weights else None,
        convention=given.get("vgg_input"),
        download=not given.get("no_download"),
    )


def resolve_auto_loss_net(config: RunConfig, given: dict[str, Any]) -> None:
    """Replace ``--loss-net auto`` by the network it finds, before the defaults that
    depend on the network are filled in (the run's config records the real one)."""
    if config.loss_net == AUTO:
        config.loss_net = choose_auto(loss_net_options(config, given))


def build_loss_network(config: RunConfig, given: dict[str, Any]) -> LossNetwork:
    return get_loss_network(config.loss_net).build(loss_net_options(config, given))


def check_loss_network(lossnet: LossNetwork, state: RunState, app: App) -> None:
    """Record the loss network; warn when a resumed run gets a different one."""
    described = lossnet.describe()
    before = state.extra.get("loss_network")
    if before and before.get("sha256") != described.get("sha256"):
        app.ui.warn(
            "the loss network's weights differ from the ones this run started "
            "with (another weights file or torch version); the loss curve may jump"
        )
    state.extra["loss_network"] = described


def report_photos(photos: PhotoSet, app: App) -> None:
    if photos.skipped:
        first, reason = next(iter(photos.skipped.items()))
        app.ui.warn(
            f"skipped {len(photos.skipped)} of {len(photos.files) + len(photos.skipped)}"
            f" photos in {photos.root} (first: {first}: {reason})"
        )


def run_loop(trainer: Trainer, batches: PhotoBatches, state: RunState, app: App) -> bool:
    """The loop with a progress display; closes the loader."""
    trainer.warn = app.ui.warn
    title = f"train {state.config.task} {state.config.name}"
    try:
        with TrainingProgress(app.ui, title, state.config.iterations, state.step) as progress:
            return train_loop(trainer, batches, state, progress, log=app.ui.info)
    finally:
        batches.close()


def new_state(
    config: RunConfig,
    run_dir: Path,
    trainer: Trainer,
    data: dict[str, Any] | None,
    given: dict[str, Any],
    app: App,
) -> RunState:
    """The run's state: restored from its checkpoint ``data``, else fresh, or
    (``--init-from``) starting from a model's weights at the step it was trained to."""
    state = RunState(run_dir, config, LossHistory(trainer.terms))
    if data is not None:
        state.restore(trainer, data)
        warm_up_after_changed_weights(data["config"], config, state, app)
    elif given.get("init_from"):
        start_from_pack(find_init_pack(app, given["init_from"]), config, trainer, state, app)
    state.extra.setdefault("run_id", uuid.uuid4().hex)  # lets a resumed run replace its pack
    remembered = (*RUNTIME_OPTIONS, *PACK_OPTIONS)
    state.runtime_options = {k: given[k] for k in remembered if k in given}
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return state


def pack_info(given: dict[str, Any]) -> PackInfo:
    return PackInfo(
        license=given.get("license"),
        author=given.get("author"),
        description=given.get("description"),
        fp16_weights=bool(given.get("fp16_weights")),
    )


def copy_source(path: Path, run_dir: Path, stem: str) -> Path:
    """Copy a file the run depends on into its folder, so resuming needs only the run."""
    target = run_dir / f"{stem}{path.suffix.lower()}"
    if Path(path).resolve() != target.resolve():
        shutil.copyfile(path, target)
    return target
