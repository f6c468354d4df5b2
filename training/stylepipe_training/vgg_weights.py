"""ImageNet VGG weight files for the loss network: finding them, telling VGG16 from
VGG19, how deep they go, and which input convention they expect.

A file is looked up in this order: an explicit file (``--vgg-weights``),
``$STYLEPIPE_VGG_WEIGHTS``, then torch hub's cache (torchvision's
``vgg16-397923af.pth`` and ``vgg19-dcbb9e9d.pth``), and, for ``--loss-net vgg16`` or
``vgg19`` when downloads are allowed, a download of torchvision's file into that cache.

Any file that holds at least conv1_1..conv3_x works (``features.N`` or ``N`` keys, full
torchvision checkpoints too); deeper complete blocks are used up to block 4.

The input convention (:data:`stylepipe_training.vgg.CONVENTIONS`) comes from the
file's safetensors metadata (``input_convention``), from torchvision's own file names
(``torchvision``), or from ``--vgg-input`` / ``$STYLEPIPE_VGG_INPUT``. A file that
states none is refused: guessing wrong silently weakens every loss. Files are read as
data only (safetensors or ``weights_only=True``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from stylepipe import load_state_dict, sha256_file
from stylepipe.errors import ModelError

from .vgg import CONVENTIONS, LAYOUTS, MAX_BLOCKS, MIN_BLOCKS, LossNetwork, VGGLayout, pretrained

WEIGHTS_ENV = "STYLEPIPE_VGG_WEIGHTS"
INPUT_ENV = "STYLEPIPE_VGG_INPUT"
METADATA_KEY = "input_convention"
#: torchvision's published files (hash-named): their convention is torchvision's.
HUB_FILES: dict[str, str] = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
Downloader = Callable[[str, Path], None]


@dataclass(frozen=True)
class WeightsFile:
    """A VGG weights file as read: its architecture, complete blocks (capped at 4),
    input convention and ``features``-keyed tensors."""

    path: Path
    layout: VGGLayout
    blocks: int
    convention: str
    state: Mapping[str, torch.Tensor]

    @property
    def complete(self) -> bool:
        """Holds every block the losses can use (relu4_3 / relu4_4)."""
        return self.blocks >= MAX_BLOCKS

    def build(self, layer_scaling: str) -> LossNetwork:
        info = {"weights": self.path.name, "file_sha256": sha256_file(self.path)}
        return pretrained(
            self.layout,
            self.state,
            blocks=self.blocks,
            convention=self.convention,
            layer_scaling=layer_scaling,
            info=info,
        )


def features_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``features`` part of a state dict keyed like ``features``' own (``0.weight``);
    accepts ``features.``- and ``module.``-prefixed layouts and ignores the classifier."""
    found: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        short = key.removeprefix("module.").removeprefix("features.")
        if short.split(".")[0].isdigit():
            found[short] = value
    return found


def complete_blocks(layout: VGGLayout, state: Mapping[str, torch.Tensor]) -> int:
    """How many leading blocks of ``layout`` the state holds entirely (0 when it holds a
    convolution that ``layout`` does not have)."""
    convs = {int(k.split(".")[0]) for k, v in state.items() if k.endswith("weight") and v.ndim == 4}
    if not convs <= set(layout.conv_indices()):
        return 0
    blocks = 0
    for block in range(1, MAX_BLOCKS + 1):
        if not set(layout.conv_indices(block)) <= convs:
            break
        blocks = block
    return blocks


def detect_layout(state: Mapping[str, torch.Tensor], where: str) -> tuple[VGGLayout, int]:
    """The architecture whose leading blocks the state holds most of (VGG16 on a tie:
    blocks 1-2 are the same in both)."""
    best = max(LAYOUTS.values(), key=lambda layout: complete_blocks(layout, state))
    blocks = complete_blocks(best, state)
    if blocks < MIN_BLOCKS:
        raise ModelError(
            f"{where} is not a VGG16/VGG19 state dict with conv1_1..conv3_x "
            f"({blocks} complete blocks found)",
            hint="use torchvision's vgg16/vgg19 file, or a state dict of vgg19().features "
            "with at least features.0..features.16",
        )
    return best, blocks


def stated_convention(path: Path) -> str | None:
    """The convention a file states: safetensors metadata, or torchvision's file name."""
    if path.name in HUB_FILES.values():
        return "torchvision"
    if path.suffix != ".safetensors":
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return (handle.metadata() or {}).get(METADATA_KEY)


def choose_convention(path: Path, flag: str | None) -> str:
    """The file's stated convention, else the flag's; refuses a file that states none,
    an unknown one, or one the flag contradicts."""
    stated, flag = stated_convention(path), flag or os.environ.get(INPUT_ENV) or None
    for value in (stated, flag):
        if value is not None and value not in CONVENTIONS:
            raise ModelError(f"unknown VGG input convention {value!r} ({path.name})")
    if stated and flag and stated != flag:
        raise ModelError(f"{path.name} states input convention {stated!r}, not {flag!r}")
    convention = stated or flag
    if convention is None:
        raise ModelError(
            f"{path} does not say which input convention its weights expect",
            hint="pass --vgg-input caffe (BGR 0-255 minus the mean: Oxford/Keras/Caffe "
            f"weights) or --vgg-input torchvision (RGB, ImageNet mean/std), or set {INPUT_ENV}",
        )
    return convention


def read_weights(path: Path, convention: str | None = None) -> WeightsFile:
    """Read and classify a weights file (see the module doc)."""
    path = Path(path)
    state = features_keys(load_state_dict(path))
    layout, blocks = detect_layout(state, str(path))
    return WeightsFile(path, layout, blocks, choose_convention(path, convention), state)


def hub_path(architecture: str) -> Path:
    """Where torch hub (and torchvision) keep an ImageNet VGG file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / HUB_FILES[architecture]


def given_file(explicit: Path | None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file named by ``--vgg-weights`` or ``$STYLEPIPE_VGG_WEIGHTS``, checked."""
    env = os.environ if env is None else env
    if explicit is not None:
        if not Path(explicit).is_file():
            raise ModelError(f"VGG weights file not found: {explicit}")
        return Path(explicit)
    if env.get(WEIGHTS_ENV):
        path = Path(env[WEIGHTS_ENV]).expanduser()
        if not path.is_file():
            raise ModelError(f"{WEIGHTS_ENV} names {path}, which is not a file")
        return path
    return None


def download_torchvision(architecture: str, dest: Path) -> None:
    """Download torchvision's ImageNet file for ``architecture`` (checked by hash)."""
    import torchvision

    weights = {
        "vgg16": torchvision.models.VGG16_Weights.IMAGENET1K_V1,
        "vgg19": torchvision.models.VGG19_Weights.IMAGENET1K_V1,
    }[architecture]
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = HUB_FILES[architecture].split("-")[1][:8]
    torch.hub.download_url_to_file(weights.url, str(dest), hash_prefix=prefix)


def missing_weights_error(wanted: str, reason: str | None = None) -> ModelError:
    """The one error for "no ImageNet VGG weights": where to put them, what else works."""
    detail = f" ({reason})" if reason else ""
    files = " or ".join(
        HUB_FILES[a] for a in (["vgg16", "vgg19"] if wanted == "auto" else [wanted])
    )
    return ModelError(
        f"no ImageNet VGG weights for --loss-net {wanted} were found{detail}",
        hint=f"put {files} in {hub_path('vgg16').parent}, or pass --vgg-weights FILE / set "
        f"{WEIGHTS_ENV} (a partial VGG19 file with conv1_1..conv3_4 is enough); as a much "
        "weaker last resort, --loss-net vgg16-random trains with seeded random weights",
    )


def check_architecture(found: WeightsFile, wanted: str) -> WeightsFile:
    """``found`` if it is the architecture asked for (``auto`` takes either)."""
    if wanted not in ("auto", found.layout.name):
        raise ModelError(
            f"{found.path} holds {found.layout.name} weights, not {wanted}",
            hint=f"use --loss-net {found.layout.name} (or auto) with this file",
        )
    return found


def find_weights(
    wanted: str,
    explicit: Path | None,
    *,
    convention: str | None = None,
    download: Downloader | None = None,
) -> WeightsFile:
    """The weights for ``--loss-net wanted`` (``vgg16``, ``vgg19`` or ``auto``), from the
    first place that has them (module doc). ``auto`` never downloads: it takes the
    given file, else torchvision's full VGG16, else its full VGG19, from the cache."""
    path = given_file(explicit)
    if path is not None:
        return check_architecture(read_weights(path, convention), wanted)
    architectures = list(HUB_FILES) if wanted == "auto" else [wanted]
    for architecture in architectures:
        if hub_path(architecture).is_file():
            return read_weights(hub_path(architecture), convention)
    if wanted == "auto":
        raise missing_weights_error(wanted)
    if download is None:
        raise missing_weights_error(wanted, "downloads are disabled")
    try:
        download(wanted, hub_path(wanted))
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise missing_weights_error(wanted, f"download failed: {exc}") from exc
    return read_weights(hub_path(wanted), convention)
