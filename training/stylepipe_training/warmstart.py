"""``--init-from MODEL``: start a run from an installed model's weights.

A new run takes the network weights of a pack (a model name from ``stylepipe models``,
or a pack folder) and carries on counting from the steps its manifest records:
``--iterations`` stays the total, so a style trained for 2,500 steps and continued with
``--iterations 5000`` trains 2,500 more. Adam starts afresh (a pack holds no optimizer
state), so the learning rate warms up from nearly 0 over :data:`WARMUP_STEPS`: a fresh
Adam's first steps move every weight by about ``--lr`` whatever its gradient, which
throws a trained network far off (measured on mosaic at step 2,283: the loss went from
2.5 to 221 in one step, and 16 steps later the preview was a purple blur).
The data order continues from the pack's step, as a resumed run's does.

This is how a long training continues on another machine or in another session when
only the pack travelled (``--resume`` needs the run folder and its checkpoint), and how
a shared style is fine-tuned further.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from stylepipe.app import App
from stylepipe.commands._packref import resolve_pack
from stylepipe.errors import StylepackError, UsageError
from stylepipe.models.weights import check_weights, sha256_file
from stylepipe.packs.format import MANIFEST, Pack, load_pack_weights, read_pack

from .config import WEIGHT_OVERRIDES, RunConfig
from .loop import RunState, Trainer

#: Steps over which a run started from a pack warms its learning rate up to ``--lr``.
WARMUP_STEPS = 200

#: The network each kind of training builds, as packs name it.
ARCHITECTURE_OF_TASK = {"style": "johnson-style", "sr": "johnson-sr"}


def find_init_pack(app: App, model: str) -> Pack:
    """The pack ``--init-from`` names: a folder holding a manifest, else a model name."""
    folder = Path(model).expanduser()
    try:
        if (folder / MANIFEST).is_file():
            return read_pack(folder)
        return resolve_pack(app, model)[0]
    except StylepackError as exc:
        raise UsageError(f"--init-from {model}: {exc.message}", hint=exc.hint) from None


def check_init_pack(pack: Pack, config: RunConfig) -> int:
    """The steps ``pack`` was trained for, once it is shown to hold the network this run
    trains (same kind, architecture and parameters) and fewer steps than the run's."""
    manifest = pack.manifest
    where = f"--init-from {pack.name}"
    wanted = ARCHITECTURE_OF_TASK[config.task]
    if manifest["kind"] != config.task or manifest["architecture"] != wanted:
        raise UsageError(
            f"{where}: a {manifest['kind']} model of architecture "
            f"{manifest['architecture']!r}; `train {config.task}` trains {wanted!r}"
        )
    if dict(manifest["arch_params"]) != config.arch_params():
        raise UsageError(
            f"{where}: its network {manifest['arch_params']} is not the one this run "
            f"builds {config.arch_params()}",
            hint="give the --arch (and for sr --scale and --skip) the model was trained with",
        )
    steps = int(manifest.get("training", {}).get("steps") or 0)
    if steps >= config.iterations:
        raise UsageError(
            f"{where}: it has trained {steps} steps already and --iterations "
            f"{config.iterations} counts the total",
            hint=f"give --iterations above {steps}",
        )
    return steps


def start_from_pack(
    pack: Pack, config: RunConfig, trainer: Trainer, state: RunState, app: App
) -> None:
    """Load the pack's weights into the trainer's network and move the run to its step."""
    steps = check_init_pack(pack, config)
    pack.verify()
    weights = load_pack_weights(pack.weights)
    check_weights(trainer.net, weights, where=f"--init-from {pack.name}", error=UsageError)
    trainer.net.load_state_dict({k: v.float() for k, v in weights.items()})
    training: dict[str, Any] = pack.manifest.get("training", {})
    state.step = steps
    state.elapsed_s = float(training.get("duration_s") or 0.0)
    record_weight_changes(training.get("settings") or {}, config, steps)
    state.extra["init_from"] = {
        "model": pack.name,
        "steps": steps,
        "weights_sha256": sha256_file(pack.weights),
        "loss_network": training.get("loss_network"),
    }
    state.extra["lr_warmup"] = {"start": steps, "steps": WARMUP_STEPS}
    app.ui.info(
        f"starting from {pack.name} ({pack.path}) at step {steps}, with a fresh optimizer"
        f" whose learning rate warms up over {WARMUP_STEPS} steps"
    )


#: Criterion settings besides the loss weights that a run continued from a pack may
#: change (a resumed run may not): the record says so, e.g. mosaic's finer panes.
CRITERION_SETTINGS = frozenset(
    {"style_size", "style_layers", "style_layer_weights", "style_scales", "content_layer"}
)


def record_weight_changes(settings: dict[str, Any], config: RunConfig, step: int) -> None:
    """Carry the pack's own ``weight_changes`` into this run's, and add each loss weight,
    learning rate or criterion setting this run changes at ``step``: the manifest then
    tells the whole schedule, e.g. a style trained at style weight 10 and continued at 20."""
    changes = [str(c) for c in settings.get("weight_changes") or []]
    # a setting a pack predates had its default then (e.g. the style loss at scale 1 alone)
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    for key in sorted(WEIGHT_OVERRIDES | CRITERION_SETTINGS):
        before, now = settings.get(key, defaults.get(key)), getattr(config, key, None)
        if before is None or now is None:
            continue
        if before != now:  # 10 == 10.0: a weight read back from JSON compares equal
            changes.append(f"step {step}: {key} {before} -> {now} (continued from the pack)")
    config.weight_changes[:0] = changes


#: Loss weights whose change on a resume restarts the learning-rate warm-up.
LOSS_WEIGHTS = WEIGHT_OVERRIDES - {"lr"}


def warm_up_after_changed_weights(
    saved: dict[str, Any], config: RunConfig, state: RunState, app: App
) -> None:
    """A run resumed with other loss weights warms its learning rate up again over
    :data:`WARMUP_STEPS`: Adam's moment estimates belong to the old loss, and with a larger
    weight its steps grow by the ratio until they catch up (mosaic resumed at 3x the
    style weight and 5e-4 diverged within 10 steps)."""
    changed = [k for k in sorted(LOSS_WEIGHTS) if k in saved and saved[k] != getattr(config, k)]
    if not changed:
        return
    state.extra["lr_warmup"] = {"start": state.step, "steps": WARMUP_STEPS}
    app.ui.info(
        f"{', '.join(changed)} changed: the learning rate warms up again over {WARMUP_STEPS} steps"
    )


def warn_if_other_loss_network(state: RunState, app: App) -> None:
    """A pack trained with another loss network starts this run far from its optimum."""
    before = (state.extra.get("init_from") or {}).get("loss_network") or {}
    now = state.extra.get("loss_network") or {}
    if before and now and before.get("sha256") != now.get("sha256"):
        app.ui.warn(
            f"--init-from: the model was trained with loss network {before.get('name')!r}, "
            f"this run uses {now.get('name')!r}; expect the loss to start high"
        )
