"""``stylepipe import-model FILE --name NAME``: turn a foreign checkpoint into a data-only
style pack in the user plugin dir.

The checkpoint is read as data only (safetensors, or a torch file with
``weights_only=True``), recognised by the ``detect`` of a registered architecture (the
built-in ``johnson-style`` knows pytorch/examples ``fast_neural_style`` checkpoints and
infers their width and number of residual blocks), cleaned (stale instance-norm running
statistics dropped, batch norms folded; see :mod:`stylepipe.models.statedict`), checked against
the network key by key, and written as a pack whose manifest records where it came from
(file name and sha256), the value range it expects, and the given licence and author.
The value range is that of stylepipe's own weights when the file is recognisably theirs,
and is always tried on the sample photo first (see :mod:`stylepipe.packs.imports`).
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.app import App
from stylepipe.errors import ExitCode, ModelError, StylepackError, UsageError
from stylepipe.models.spec import Architecture
from stylepipe.models.statedict import drop_stale_norm_stats, fit_state_dict, fold_batch_norms
from stylepipe.models.weights import load_state_dict, sha256_file
from stylepipe.packs.format import LOCAL_PLUGIN, Pack, check_name, write_pack
from stylepipe.packs.imports import (
    RangeChoice,
    choose_input_range,
    known_input_range,
    probe_problem,
)
from stylepipe.paths import user_plugin_dir
from stylepipe.wording import model_noun

if TYPE_CHECKING:
    import torch
    from torch import nn

    from stylepipe.plugins import Catalog

EPILOG = """\
examples:
  stylepipe import-model candy.pth --name candy
  stylepipe import-model udnie.pth --name my-udnie --license "CC-BY-4.0" --author "Jane Doe"
  stylepipe import-model mine.safetensors --name mine --input-range 1 --force
  stylepipe import-model 4x-community.pth --name community4x --copy
  stylepipe run photos -o out --filter style:model=candy

pytorch/examples fast_neural_style checkpoints (.pth/.model) are recognised, including
old ones with running_mean/running_var keys; they expect 0-255 images, which is recorded
(--input-range 1 for checkpoints trained on [0, 1] images). stylepipe's own weights (a
pack's weights.safetensors) are recognised and take 0-1. Either way the weights are
tried on a sample photo first: if they give a black, white or NaN image in that range,
the other range is used when it gives a picture, and otherwise nothing is imported.
Community upscalers (ESRGAN, Real-ESRGAN compact, SwinIR, HAT, DAT... every family
spandrel knows; needs the extra: pip install 'stylepipe[community]') are recognised by
spandrel; the manifest records what it detected (family, scale, size requirements,
tiling advice, precisions) and the sha256 of the weights, which stay where they are
(the pack links to FILE) or are copied into the pack as safetensors with --copy.
The pack goes to the user plugin dir ($STYLEPIPE_HOME/plugins when set), where the
next run finds it. A name that a bundled or plugin model also has (mosaic) is then
addressed as stylepipe_local/NAME.
"""


@dataclass(frozen=True)
class ImportOptions:
    """What ``import-model`` was asked: the pack name, manifest fields and overrides."""

    name: str
    force: bool = False
    license: str | None = None
    author: str | None = None
    description: str | None = None
    input_range: float | None = None  # None: what the detecting architecture declares
    architecture: str | None = None  # None: try every architecture with a detect()
    copy: bool = False  # community models: copy the weights into the pack, not link them


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``import-model`` to the command line."""
    parser = subparsers.add_parser(
        "import-model",
        help="import a pytorch/examples style checkpoint or a community upscaler as a pack",
        description="Import a foreign checkpoint (state dict; pytorch/examples "
        "fast_neural_style layout and, with spandrel, community upscalers are recognised) "
        "as a data-only pack in the user "
        "plugin dir. The file is loaded as data only; no code in it runs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="checkpoint (.pth, .safetensors)")
    parser.add_argument("--name", required=True, help="model name: lowercase, digits, - _ .")
    parser.add_argument("--force", action="store_true", help="replace a pack of that name")
    parser.add_argument("--license", help="licence of the weights, recorded in the manifest")
    parser.add_argument("--author", help="author of the weights, recorded in the manifest")
    parser.add_argument("--description", help="one line shown in listings")
    parser.add_argument(
        "--input-range",
        type=float,
        choices=(1.0, 255.0),
        help="value of white the weights expect (default: from the recognised format)",
    )
    parser.add_argument("--architecture", help="only try this architecture id")
    parser.add_argument(
        "--copy",
        action="store_true",
        help="community models: keep a copy of the weights (as safetensors) in the pack "
        "instead of a link to FILE",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, app: App) -> int:
    """Import the checkpoint and say how to use it."""
    options = ImportOptions(
        name=args.name,
        force=args.force,
        license=args.license,
        author=args.author,
        description=args.description,
        input_range=args.input_range,
        architecture=args.architecture,
        copy=args.copy,
    )
    catalog = app.catalog
    pack = import_checkpoint(args.file, options, catalog)
    others = [
        e.qualified_name for e in catalog.models if e.name == pack.name and e.source != LOCAL_PLUGIN
    ]
    use_name = f"{LOCAL_PLUGIN}/{pack.name}" if others else pack.name
    if others:
        app.ui.warn(
            f"another plugin also has a model named {pack.name!r} ({', '.join(others)}); "
            f"address this one as {use_name}"
        )
    m = pack.manifest
    params = m["arch_params"]
    what = f"{params['family']} x{m['scale']}" if "family" in params else _params(params)
    app.ui.success(
        f"imported {args.file} as {model_noun(m['kind'])} {pack.name!r} "
        f"({m['architecture']} {what}) into {pack.path}"
    )
    app.ui.info(f"input range {m['input_range']:g}, from {m['origin']['input_range_from']}")
    step = "style" if m["kind"] == "style" else "upscale"
    app.ui.info(f"use it with: stylepipe run INPUT -o OUTPUT --filter {step}:model={use_name}")
    return int(ExitCode.OK)


def import_checkpoint(file: Path, options: ImportOptions, catalog: Catalog) -> Pack:
    """Recognise, clean, check and write ``file`` as the pack ``options.name`` in the user
    plugin dir; returns the written pack. Raises typed errors naming what is wrong."""
    try:
        name = check_name(options.name)
    except StylepackError as exc:
        raise UsageError(exc.message, hint=exc.hint) from None
    dest = user_plugin_dir() / name
    if dest.exists() and not options.force:
        raise UsageError(f"a model named {name!r} already exists at {dest}", hint="add --force")
    state = load_state_dict(Path(file))
    arch, params = detect_architecture(state, catalog, only=options.architecture, file=file)
    net = _network(arch, params, state, file)
    _check_finite(net.state_dict(), file)
    digest = sha256_file(Path(file))
    policy = arch.tiling(**params)
    known = known_input_range(Path(file), digest, catalog)
    if arch.load is not None:
        known = RangeChoice(1.0, "spandrel (community models take 0-1)")
    choice = choose_input_range(
        lambda value: probe_problem(net, policy.multiple, policy.min_size, value),
        given=options.input_range,
        known=known,
        default=arch.import_input_range,
        where=str(file),
    )
    manifest = _manifest(file, options, arch, params, choice, digest)
    if arch.load is None:
        return write_pack(dest, manifest, net.state_dict(), overwrite=options.force)
    if not options.copy:  # a link: the pack names the file and its sha256
        manifest["weights_link"] = {"path": str(Path(file).resolve()), "sha256": digest}
        return write_pack(dest, manifest, None, overwrite=options.force)
    return write_pack(dest, manifest, state, overwrite=options.force)


def _network(arch: Architecture, params: dict[str, Any], state: dict, file: Path) -> nn.Module:
    """The network holding the checkpoint's weights: through ``arch.load`` for families
    built from their weights (community models), else built from ``params``, cleaned
    and checked key by key."""
    if arch.load is not None:
        return arch.load(state, params)
    net = arch.build(**params)
    state = drop_stale_norm_stats(net, state)
    state, _ = fold_batch_norms(net, state)
    fit_state_dict(net, state, where=str(file))
    return net


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in params.items())


def detect_architecture(
    state: Mapping[str, torch.Tensor], catalog: Catalog, *, only: str | None, file: Path
) -> tuple[Architecture, dict[str, Any]]:
    """The first architecture (by id) whose ``detect`` recognises ``state``, with the
    build parameters it inferred."""
    candidates = [e.item for e in catalog.architectures if e.item.detect is not None]
    if only is not None:
        candidates = [a for a in candidates if a.id == only]
        if not candidates:
            catalog.architectures.get(only)  # unknown id: raises with "did you mean"
            raise UsageError(f"architecture {only!r} cannot recognise foreign checkpoints")
    for arch in candidates:
        assert arch.detect is not None
        params = arch.detect(state)
        if params is not None:
            return arch, {**arch.default_params, **params}
    known = ", ".join(a.id for a in candidates) or "none"
    raise ModelError(
        f"{file}: not a checkpoint of a known architecture ({len(state)} tensors)",
        hint=f"recognised layouts: {known} (pytorch/examples fast_neural_style for "
        "johnson-style, every family spandrel supports for spandrel); a plugin can add "
        "others with Architecture.detect",
    )


def _check_finite(state: Mapping[str, torch.Tensor], file: Path) -> None:
    import torch

    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ModelError(f"{file}: NaN or infinite values in {', '.join(bad[:5])}")


def _manifest(
    file: Path,
    options: ImportOptions,
    arch: Architecture,
    params: dict[str, Any],
    choice: RangeChoice,
    digest: str,
) -> dict[str, Any]:
    scale = arch.tiling(**params).scale
    source = Path(file)
    manifest: dict[str, Any] = {
        "name": options.name,
        "kind": arch.kind,
        "architecture": arch.id,
        "arch_params": params,
        "input_range": choice.value,
        "scale": scale,
        "description": options.description or f"imported from {source.name}",
        "origin": {
            "file": source.name,
            "sha256": digest,
            "input_range_from": choice.source,
            "imported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
    }
    if "precisions" in params:  # what the detecting architecture says these weights take
        manifest["precisions"] = list(params["precisions"])
    if options.license:
        manifest["license"] = options.license
    if options.author:
        manifest["author"] = options.author
    return manifest
