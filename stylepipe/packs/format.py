"""Data-only style packs: a folder with ``manifest.json``, safetensors weights and
optional pictures. Packs are data: nothing in them is ever imported or unpickled.

Folder layout (the user plugin dir holds one folder per pack)::

    <name>/manifest.json        schema below
    <name>/weights.safetensors  the network's state dict
    <name>/preview.jpg          optional: a sample photo through the network
    <name>/style.jpg            optional: thumbnail of the style image
    <name>/LICENSE.txt          optional: the licence text (README.md also allowed)

A pack that is shared (exported to a ``.stylepack``, packaged, installed) may hold only
the files in :data:`ALLOWED_FILES` (previews may also be PNG).

The manifest records name, kind (``style`` or ``sr``), architecture id and its build
parameters, the input range the weights expect, sha256 of every file, and free-form
``training``/``metrics``/``license``/``author``/``description`` fields.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylepipe.errors import ModelError, StylepackError, UsageError
from stylepipe.models.spec import Architecture, ModelSpec
from stylepipe.models.weights import load_state_dict, sha256_file, sha256_problem
from stylepipe.registry import Registry
from stylepipe.wording import a_model

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = "stylepipe-pack"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
KINDS = ("style", "sr")
#: The built-in plugin that registers the packs found in the user plugin dir; models it
#: registers are addressed as ``stylepipe_local/<name>``.
LOCAL_PLUGIN = "stylepipe_local"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise StylepackError(
            f"invalid model name {name!r}",
            hint="1-64 lowercase letters, digits, '-', '_' or '.', starting with a letter or digit",
        )
    return name


def validate_manifest(data: Any, *, where: str = MANIFEST) -> dict[str, Any]:
    """Check the manifest schema; returns it as a dict or raises :class:`StylepackError`."""
    if not isinstance(data, dict):
        raise StylepackError(f"{where}: the manifest must be a JSON object")
    if data.get("format") != FORMAT:
        raise StylepackError(
            f"{where}: not a stylepipe pack manifest (format={data.get('format')!r})"
        )
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise StylepackError(
            f"{where}: unsupported format_version {version!r}",
            hint=f"this stylepipe reads versions up to {FORMAT_VERSION}; upgrade stylepipe",
        )
    required: dict[str, type | tuple[type, ...]] = {
        "name": str,
        "kind": str,
        "architecture": str,
        "arch_params": dict,
        "input_range": (int, float),
        "scale": int,
        "files": dict,
    }
    for key, kind in required.items():
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise StylepackError(f"{where}: field {key!r} is missing or has the wrong type")
    check_name(data["name"])
    if data["kind"] not in KINDS:
        raise StylepackError(f"{where}: kind must be one of {KINDS}, got {data['kind']!r}")
    files = data["files"]
    if "weights_link" in data:
        _check_link(data["weights_link"], where)
    elif WEIGHTS not in files:
        raise StylepackError(f"{where}: files must list {WEIGHTS}")
    for fname, digest in files.items():
        if not isinstance(fname, str) or "/" in fname or "\\" in fname or fname.startswith("."):
            raise StylepackError(f"{where}: bad file name {fname!r} in files")
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise StylepackError(f"{where}: sha256 of {fname!r} is not a hex digest")
    return data


def _check_link(link: Any, where: str) -> None:
    """``weights_link`` (an imported model linking to its weights file instead of holding
    a copy): ``{"path": absolute path, "sha256": hex digest}``."""
    if (
        not isinstance(link, dict)
        or not isinstance(link.get("path"), str)
        or not Path(link["path"]).is_absolute()
        or not isinstance(link.get("sha256"), str)
        or not re.fullmatch(r"[0-9a-f]{64}", link["sha256"])
    ):
        raise StylepackError(
            f"{where}: weights_link must be {{'path': absolute path, 'sha256': hex digest}}"
        )


@dataclass(frozen=True)
class Pack:
    """A style pack on disk."""

    path: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def weights(self) -> Path:
        """The weights file: the pack's own, or the file it links to (``weights_link``)."""
        link = self.manifest.get("weights_link")
        return Path(link["path"]) if isinstance(link, dict) else self.path / WEIGHTS

    def verify(self) -> None:
        """Every listed file exists and matches its sha256."""
        for fname, digest in self.manifest["files"].items():
            problem = sha256_problem(self.path / fname, str(digest))
            if problem == "missing":
                raise StylepackError(f"{self.path}: {fname} is missing")
            if problem == "mismatch":
                raise StylepackError(
                    f"{self.path}: checksum of {fname} does not match the manifest",
                    hint="the pack is corrupt or was modified; reinstall it",
                )

    def model_spec(self) -> ModelSpec:
        m = self.manifest
        return ModelSpec(
            name=self.name,
            kind=m["kind"],
            architecture=m["architecture"],
            arch_params=dict(m["arch_params"]),
            weights=self.weights,
            manifest=m,
            scale=int(m["scale"]),
            summary=str(m.get("description", "")),
            folder=self.path,
        )


def read_pack(folder: Path) -> Pack:
    """Read and validate a pack folder's manifest (checksums: :meth:`Pack.verify`)."""
    manifest_path = Path(folder) / MANIFEST
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StylepackError(f"{folder}: no {MANIFEST}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StylepackError(f"{manifest_path}: unreadable manifest: {exc}") from exc
    return Pack(Path(folder), validate_manifest(data, where=str(manifest_path)))


def iter_packs(root: Path) -> Iterator[Pack | StylepackError]:
    """Each pack folder under ``root`` (sorted), or the error that makes it unusable."""
    if not root.is_dir():
        return
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            yield read_pack(folder)
        except StylepackError as exc:
            yield exc


def write_pack(
    dest: Path,
    manifest: Mapping[str, Any],
    state_dict: Mapping[str, Any] | None,
    extra_files: Mapping[str, bytes | Path] | None = None,
    *,
    overwrite: bool = False,
) -> Pack:
    """Write a complete pack folder atomically (built in a temporary sibling, then renamed).

    ``manifest`` holds everything but ``format``, ``format_version`` and ``files``,
    which are filled in here. Tensors are saved contiguous, on the CPU; ``state_dict``
    ``None`` writes no weights (the manifest's ``weights_link`` names them).
    """
    from safetensors.torch import save_file

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and not overwrite:
        raise StylepackError(f"{dest} already exists", hint="use --force to replace it")
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        if state_dict is not None:
            tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
            save_file(tensors, str(staging / WEIGHTS), metadata=weights_metadata(manifest))
        for fname, content in (extra_files or {}).items():
            target = staging / fname
            if isinstance(content, Path):
                shutil.copyfile(content, target)
            else:
                target.write_bytes(content)
        files = {p.name: sha256_file(p) for p in sorted(staging.iterdir())}
        full = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest, "files": files}
        validate_manifest(full)
        (staging / MANIFEST).write_text(json.dumps(full, indent=2, default=str) + "\n")
        replace_dir(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return read_pack(dest)


def weights_metadata(manifest: Mapping[str, Any]) -> dict[str, str]:
    """What the safetensors header of a pack's weights says about them, so that the file
    alone is recognisable as stylepipe's (``import-model`` reads the input range)."""
    metadata = {"format": FORMAT}
    value = manifest.get("input_range")
    if isinstance(value, int | float) and not isinstance(value, bool):
        metadata["input_range"] = f"{float(value):g}"
    return metadata


def replace_dir(staging: Path, dest: Path) -> None:
    """Move the finished folder ``staging`` to ``dest`` (a sibling), replacing any
    folder already there; the old one is moved aside first so that ``dest`` is never
    half-written."""
    if dest.exists():
        trash = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(dest, trash)
        os.replace(staging, dest)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, dest)


# --- Checks shared by `install` (archives) and anyone validating a pack folder -------------

PICTURES = ("preview.jpg", "preview.png", "style.jpg", "style.png")
TEXT_FILES = ("LICENSE.txt", "README.md")
#: The only file names a shareable pack may hold (flat: no folders). A short list keeps
#: a ``.stylepack`` from carrying anything that could be mistaken for code.
ALLOWED_FILES = frozenset({MANIFEST, WEIGHTS, *PICTURES, *TEXT_FILES})


def shareable_files(pack: Pack) -> list[str]:
    """The pack's files (sorted, manifest excluded) after checking their checksums and
    that each is allowed in a shared pack; raises :class:`StylepackError` otherwise."""
    if "weights_link" in pack.manifest:
        raise StylepackError(
            f"{pack.path}: the pack links to its weights ({pack.weights}) and holds no copy",
            hint="re-import the model with --copy to share it",
        )
    pack.verify()
    files = sorted(pack.manifest["files"])
    unshareable = [f for f in files if f not in ALLOWED_FILES]
    if unshareable:
        raise StylepackError(
            f"{pack.path}: {', '.join(unshareable)} cannot be shared",
            hint="a shared pack may hold only " + ", ".join(sorted(ALLOWED_FILES)),
        )
    return files


def build_network(
    manifest: Mapping[str, Any], architectures: Registry[Architecture]
) -> nn.Module | None:
    """The network a manifest describes, built on the ``meta`` device (shapes without
    memory, so hostile parameters cannot make us allocate gigabytes). Checks that the
    architecture is registered, its kind matches and its scale is the manifest's.
    ``None`` for a family built from its weights (``Architecture.load``): check those
    with :func:`check_loads`."""
    import torch

    arch_id = str(manifest["architecture"])
    try:
        arch = architectures.get(arch_id)
    except UsageError as exc:
        raise StylepackError(
            f"unknown architecture {arch_id!r}",
            hint=f"{exc.hint}; install the plugin that provides it (stylepipe plugins lists them)",
        ) from None
    if arch.kind != manifest["kind"]:
        raise StylepackError(
            f"architecture {arch_id!r} makes {a_model(arch.kind)}, not "
            f"{a_model(str(manifest['kind']))}"
        )
    params = {**arch.default_params, **manifest["arch_params"]}  # as models.load_model does
    if arch.load is not None:
        _check_scale(manifest, arch.tiling(**params).scale)
        return None
    try:
        with torch.device("meta"):
            net = arch.build(**params)
        policy = arch.tiling(**params)
    except Exception as exc:  # whatever a plugin's build raises means: these params do not build it
        raise StylepackError(
            f"arch_params {json.dumps(params)} do not build {arch_id!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    _check_scale(manifest, policy.scale)
    return net


def _check_scale(manifest: Mapping[str, Any], scale: int) -> None:
    if scale != manifest["scale"]:
        raise StylepackError(f"scale {manifest['scale']} does not match the network (x{scale})")


def check_loads(
    manifest: Mapping[str, Any],
    architectures: Registry[Architecture],
    weights: Mapping[str, torch.Tensor],
) -> None:
    """The weights of a family built from its weights (community models) load as the
    family, scale and parameters the manifest records (``Architecture.load`` checks)."""
    arch = architectures.get(str(manifest["architecture"]))
    assert arch.load is not None
    params = {**arch.default_params, **manifest["arch_params"]}
    try:
        arch.load(weights, params)
    except Exception as exc:  # whatever the family's loader raises: these weights do not fit
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        raise StylepackError(f"the weights do not load as {arch.id!r}: {message}") from None


def load_pack_weights(path: Path) -> dict[str, torch.Tensor]:
    """A pack's safetensors weights (:func:`~stylepipe.models.weights.load_state_dict`
    with ``safetensors_only``: pickles are refused unopened), errors as pack errors."""
    try:
        return load_state_dict(path, safetensors_only=True)
    except ModelError as exc:
        raise StylepackError(exc.message, hint=exc.hint) from None


def check_extra_files(folder: Path, names: list[str], *, max_pixels: int = 4096 * 4096) -> None:
    """The pack's pictures must decode as what their extension says (and be at most
    ``max_pixels``); its text files must be UTF-8."""
    from PIL import Image

    for name in names:
        path = Path(folder) / name
        if name in TEXT_FILES:
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise StylepackError(f"{name} is not UTF-8 text: {exc}") from None
        if name not in PICTURES:
            continue
        expected = "PNG" if name.endswith(".png") else "JPEG"
        try:
            with Image.open(path) as image:
                found, (width, height) = image.format, image.size
                image.verify()
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            raise StylepackError(f"{name} is not a readable picture: {exc}") from None
        if found != expected:
            raise StylepackError(f"{name} is a {found} file, expected {expected}")
        if width * height > max_pixels:
            raise StylepackError(f"{name} is {width}x{height} pixels, too large for a preview")
