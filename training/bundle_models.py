"""Copy finished training packs into the built-in plugins as bundled models.

    python training/bundle_models.py                     every pack in runs/home/plugins
    python training/bundle_models.py mosaic sr4          only these
    python training/bundle_models.py --from DIR --runs DIR --plugins DIR

Each pack is validated the way ``stylepipe install`` validates an archive (manifest,
checksums, shareable file names, weights parsed as data and checked against the network
the manifest describes, pictures decoded), then written to
``plugins/stylepipe_style/models/<name>/`` or ``plugins/stylepipe_sr/models/<name>/`` by
its kind, with:

* float16 weights (converted when the pack has float32; half the size, and the networks
  run in float32 after loading anyway);
* only the files a bundled pack needs: manifest, weights, preview and style thumbnail
  (at most 512 pixels, JPEG quality 85) and a licence text if it has one;
* a provenance record in the manifest's ``training`` field (kept where already there;
  built by ``training/bundle_provenance.py``): the ``stylepipe train`` command line
  rebuilt from the run's ``config.json``, the data folder, steps, wall time, the loss
  network and its seed, and the command that trains the model the paper's way once
  ImageNet VGG16 weights are available.

Style images whose authorship is unknown are not redistributed: their packs ship
without ``style.jpg`` (see :data:`WITHHELD_STYLE_IMAGES`).
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from stylepipe_training.images import open_rgb

from stylepipe.errors import StylepackError, StylepipeError, UsageError
from stylepipe.models.weights import check_weights
from stylepipe.packs.format import (
    MANIFEST,
    Pack,
    build_network,
    check_extra_files,
    load_pack_weights,
    read_pack,
    shareable_files,
    write_pack,
)
from stylepipe.plugins import Catalog, load_plugins

sys.path.insert(0, str(Path(__file__).resolve().parent))  # however this script is loaded
from bundle_provenance import REPO, portable_path, provenance  # noqa: E402

DEFAULT_FROM = REPO / "runs" / "home" / "plugins"
DEFAULT_PLUGINS = REPO / "plugins"
#: Which built-in plugin bundles each kind of model.
PLUGIN_OF_KIND = {"style": "stylepipe_style", "sr": "stylepipe_sr"}
PICTURE_SIDE = 512
JPEG_QUALITY = 85
#: Bundled pictures by source file name; a JPEG is preferred over a PNG of the same role.
PICTURE_ROLES = {
    f"{role}.{ext}": f"{role}.jpg" for role in ("preview", "style") for ext in ("jpg", "png")
}
TEXT_KEPT = ("LICENSE.txt",)
#: Packs whose style image is not ours to redistribute, with the reason (recorded in
#: the manifest instead of the thumbnail).
WITHHELD_STYLE_IMAGES = {
    "mosaic": "the mosaic style image (from pytorch/examples) has no known author or "
    "licence, so its thumbnail is not redistributed",
}


@dataclass(frozen=True)
class Bundled:
    """One pack written into a plugin: where, and the size of each file in bytes."""

    pack: Pack
    sizes: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


def check_pack(folder: Path, catalog: Catalog) -> tuple[Pack, dict[str, torch.Tensor]]:
    """Validate a pack folder completely (the checks ``stylepipe install`` makes) and
    return it with its weights; raises :class:`StylepackError` naming the folder."""
    try:
        pack = read_pack(folder)
        files = shareable_files(pack)
        net = build_network(pack.manifest, catalog.architectures)
        tensors = load_pack_weights(pack.weights)
        check_weights(net, tensors, where=pack.name, error=StylepackError)
        check_extra_files(folder, files)
    except StylepackError as exc:
        where = str(folder)
        message = exc.message if exc.message.startswith(where) else f"{where}: {exc.message}"
        raise StylepackError(message, hint=exc.hint) from exc
    return pack, tensors


def to_fp16(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Float32 (or wider) tensors as float16; others unchanged."""
    return {
        k: v.to(torch.float16) if v.is_floating_point() and v.element_size() > 2 else v
        for k, v in tensors.items()
    }


def shrink_picture(path: Path, side: int = PICTURE_SIDE, quality: int = JPEG_QUALITY) -> bytes:
    """The picture as a JPEG of at most ``side`` pixels a side."""
    image = open_rgb(path)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def bundled_files(pack: Pack) -> dict[str, bytes | Path]:
    """The files (other than manifest and weights) the bundled pack gets, by name."""
    files: dict[str, bytes | Path] = {}
    listed = sorted(pack.manifest["files"], key=lambda f: (f.endswith(".png"), f))
    for name in listed:
        role = PICTURE_ROLES.get(name)
        if role == "style.jpg" and pack.name in WITHHELD_STYLE_IMAGES:
            continue
        if role is not None and role not in files:
            files[role] = shrink_picture(pack.path / name)
        elif name in TEXT_KEPT:
            files[name] = pack.path / name
    return files


# --- bundling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A validated pack, ready to be written as a bundled one."""

    source: Path
    dest: Path
    manifest: dict[str, Any]
    weights: dict[str, torch.Tensor]
    files: dict[str, bytes | Path]


def prepare_pack(
    source: Path, plugins: Path, catalog: Catalog, runs: Path | None = None
) -> Prepared:
    """Validate ``source`` and work out the bundled pack (under ``plugins``) it becomes;
    nothing is written."""
    pack, tensors = check_pack(source, catalog)
    manifest = {k: v for k, v in pack.manifest.items() if k not in ("format", "format_version")}
    manifest.pop("files")
    run_dir = runs / pack.name if runs is not None else None
    manifest["training"] = provenance(pack, run_dir if run_dir and run_dir.is_dir() else None)
    manifest["weights_dtype"] = "float16"
    if pack.name in WITHHELD_STYLE_IMAGES:
        manifest["style_image_note"] = WITHHELD_STYLE_IMAGES[pack.name]
    dest = plugins / PLUGIN_OF_KIND[str(manifest["kind"])] / "models" / pack.name
    return Prepared(source, dest, manifest, to_fp16(tensors), bundled_files(pack))


def write_bundled(prepared: Prepared, catalog: Catalog) -> Bundled:
    """Write the pack (atomically, replacing an earlier bundled copy) and validate the
    written folder as it will be shipped."""
    p = prepared
    written = write_pack(p.dest, p.manifest, p.weights, p.files, overwrite=True)
    written, _ = check_pack(written.path, catalog)
    sizes = {n: (written.path / n).stat().st_size for n in (MANIFEST, *written.manifest["files"])}
    return Bundled(written, sizes)


def bundled_total(plugins: Path) -> tuple[int, int]:
    """Bytes and number of packs in every bundled ``models/`` folder under ``plugins``."""
    folders = [plugins / plugin / "models" for plugin in PLUGIN_OF_KIND.values()]
    packs = [p for f in folders if f.is_dir() for p in f.iterdir() if (p / MANIFEST).is_file()]
    return sum(f.stat().st_size for p in packs for f in p.iterdir() if f.is_file()), len(packs)


def select_packs(root: Path, names: Sequence[str]) -> list[Path]:
    """The pack folders to bundle: ``names`` (each must exist) or every folder in ``root``."""
    if not root.is_dir():
        raise UsageError(f"no trained packs at {root}", hint="train first, or pass --from DIR")
    if not names:
        found = sorted(p for p in root.iterdir() if (p / MANIFEST).is_file())
        if not found:
            raise UsageError(f"no packs (folders with {MANIFEST}) in {root}")
        return found
    missing = [n for n in names if not (root / n / MANIFEST).is_file()]
    if missing:
        raise UsageError(
            f"not trained yet (no {root}/NAME/{MANIFEST}): {', '.join(missing)}",
            hint="bundle the finished ones by name, or wait for training/train_bundled.sh",
        )
    return [root / n for n in names]


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"


def report(bundled: Sequence[Bundled], plugins: Path) -> str:
    """One line per pack (file sizes), the total, and the total of all bundled packs."""
    lines = []
    for item in bundled:
        parts = ", ".join(f"{name} {_size(size)}" for name, size in sorted(item.sizes.items()))
        rel = portable_path(str(item.pack.path))
        lines.append(f"{item.pack.name:16} {_size(item.total):>10}  {rel}  ({parts})")
    total = sum(item.total for item in bundled)
    lines.append(f"{'total':16} {_size(total):>10}  {len(bundled)} pack(s)")
    size, count = bundled_total(plugins)
    lines.append(
        f"{'all bundled':16} {_size(size):>10}  {count} pack(s) in {portable_path(str(plugins))}"
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="training/bundle_models.py",
        description="Validate trained packs and copy them into the built-in plugins' "
        "models/ folders (float16 weights, small pictures, provenance in the manifest).",
        epilog="example: python training/bundle_models.py mosaic sr4 sr8",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="packs to bundle (default all)")
    parser.add_argument(
        "--from", dest="source", type=Path, default=DEFAULT_FROM, help="trained packs folder"
    )
    parser.add_argument(
        "--runs", type=Path, help="run folders (config.json, losses.csv); default: FROM/../runs"
    )
    parser.add_argument(
        "--plugins", type=Path, default=DEFAULT_PLUGINS, help="plugins folder to bundle into"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Bundle the packs; prints sizes on stdout, errors on stderr (exit status 1 or 2)."""
    args = parse_args(argv)
    runs = args.runs if args.runs is not None else args.source.parent / "runs"
    try:
        catalog = Catalog.build(load_plugins(entry_points=False))
        sources = select_packs(args.source, args.names)
        # every pack is checked before any is written: a bad one leaves the plugins as they were
        prepared = [prepare_pack(p, args.plugins, catalog, runs) for p in sources]
        done = [write_bundled(p, catalog) for p in prepared]
    except StylepipeError as exc:
        sys.stderr.write(f"error: {exc.message}\n" + (f"hint: {exc.hint}\n" if exc.hint else ""))
        return int(exc.exit_code)
    sys.stdout.write(report(done, args.plugins) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
