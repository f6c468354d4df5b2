"""Turn a style pack into a pip-installable plugin: ``stylepipe-style-<name>``.

The wheel holds one module, ``stylepipe_style_<name>``, with the pack's files (manifest,
safetensors weights, pictures) as package data beside an ``__init__.py`` that registers
the model through ``register_models``; the ``stylepipe`` entry-point group makes
stylepipe load it. Beside the wheel go an sdist and its unpacked source tree (a
setuptools ``pyproject.toml`` project) for people who want to change and rebuild it.

The wheel is written with the standard library (``zipfile``, per the binary
distribution format, PEP 427/491, and core metadata 2.1) rather than by running
``python -m build``: that needs ``build`` and ``setuptools``, which stylepipe users do
not necessarily have, and by default an isolated environment fetched from PyPI, which
fails offline; a pure-Python wheel of data files is a small, fully specified format.
Builds are reproducible: sorted members and fixed timestamps.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stylepipe import __version__
from stylepipe.atomic import write_bytes
from stylepipe.errors import UsageError
from stylepipe.packs.format import MANIFEST, Pack
from stylepipe.packs.shared import SharedPack, share
from stylepipe.plugins import ENTRY_POINT_GROUP

DIST_PREFIX = "stylepipe-style-"
MODULE_PREFIX = "stylepipe_style_"
DEFAULT_VERSION = "1.0.0"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SDIST_MTIME = 315532800  # 1980-01-01, as in the wheel
# PEP 440 versions in canonical form (what pip prints back), with an optional local part.
_VERSION_RE = re.compile(
    r"^(\d+!)?\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[a-z0-9]+(\.[a-z0-9]+)*)?$"
)


@dataclass(frozen=True)
class PackageInfo:
    """Names and metadata of the plugin package built for one pack."""

    model: str
    kind: str
    version: str
    summary: str
    author: str | None = None
    license: str | None = None

    @property
    def dist_name(self) -> str:
        """The distribution name pip knows, normalized as PEP 503 does."""
        return re.sub(r"[-_.]+", "-", DIST_PREFIX + self.model).lower()

    @property
    def module(self) -> str:
        """The import package, which is also the plugin (entry point) name."""
        return MODULE_PREFIX + re.sub(r"[-.]+", "_", self.model)

    @property
    def escaped(self) -> str:
        """The distribution name as wheel and sdist file names spell it."""
        return self.dist_name.replace("-", "_")

    @property
    def wheel_name(self) -> str:
        return f"{self.escaped}-{self.version}-py3-none-any.whl"

    @property
    def sdist_base(self) -> str:
        return f"{self.escaped}-{self.version}"


@dataclass(frozen=True)
class BuildResult:
    """The files :func:`build_package` wrote."""

    info: PackageInfo
    wheel: Path
    sdist: Path
    source_tree: Path


def package_info(
    pack: Pack,
    *,
    version: str | None = None,
    author: str | None = None,
    license: str | None = None,
    description: str | None = None,
) -> PackageInfo:
    """Metadata from the options, else from the manifest (``version``, ``author``,
    ``license``, ``description``), else defaults. Raises :class:`UsageError` for a
    version that is not PEP 440."""
    manifest = pack.manifest
    chosen = str(version or manifest.get("version") or DEFAULT_VERSION).strip()
    if not _VERSION_RE.match(chosen):
        raise UsageError(
            f"invalid package version {chosen!r}",
            hint="use a PEP 440 version such as 1.0.0, 1.1rc1 or 2.0.post1",
        )
    summary = description or manifest.get("description") or ""
    if not summary:
        summary = f"stylepipe {manifest['kind']} model {pack.name!r}"
    return PackageInfo(
        model=pack.name,
        kind=str(manifest["kind"]),
        version=chosen,
        summary=_one_line(str(summary)),
        author=_one_line(str(author or manifest.get("author") or "")) or None,
        license=_one_line(str(license or manifest.get("license") or "")) or None,
    )


def _one_line(text: str) -> str:
    """Metadata headers are single lines: a newline would start a forged header."""
    return " ".join(text.split())


def build_package(
    pack: Pack,
    info: PackageInfo,
    dist_dir: Path,
    *,
    overwrite: bool = False,
    preview: bytes | None = None,
) -> BuildResult:
    """Write the wheel, the sdist and the source tree of ``pack`` into ``dist_dir``: the
    pack in its shared form (:func:`stylepipe.packs.shared.share`: no private paths,
    ``preview`` instead of its own previews)."""
    shared = share(pack, preview)
    dist_dir = Path(dist_dir)
    wheel, sdist = dist_dir / info.wheel_name, dist_dir / f"{info.sdist_base}.tar.gz"
    for target in (wheel, sdist):
        if target.exists() and not overwrite:
            raise UsageError(
                f"{target} already exists", hint="choose another --version, or add --force"
            )
    payload = _module_files(shared, info)
    try:
        dist_dir.mkdir(parents=True, exist_ok=True)
        write_bytes(wheel, _wheel_bytes(info, payload, _readme(shared.manifest, info)))
        tree = write_source_tree(pack, info, payload, dist_dir)
        write_bytes(sdist, _sdist_bytes(tree, info))
    except OSError as exc:
        raise UsageError(f"cannot write the package into {dist_dir}: {exc}") from exc
    return BuildResult(info, wheel, sdist, tree)


def _module_files(shared: SharedPack, info: PackageInfo) -> dict[str, bytes]:
    """The import package's files by name: the generated ``__init__.py`` and the pack."""
    payload = {"__init__.py": plugin_source(info).encode("utf-8")}
    for name in [MANIFEST, *sorted(shared.members)]:
        payload[name] = shared.read(name)
    return payload


def plugin_source(info: PackageInfo) -> str:
    """The ``__init__.py`` of the plugin: it registers the pack beside it, nothing else."""
    return f'''"""stylepipe plugin: the {info.kind} model {info.model!r}.

Generated by `stylepipe package`. The manifest, safetensors weights and pictures beside
this file form a data-only style pack; this module only registers it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stylepipe import ModelSpec, hookimpl, read_pack

PACK_DIR = Path(__file__).resolve().parent


@hookimpl
def register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register the model whose manifest lies beside this file."""
    register(read_pack(PACK_DIR).model_spec())
'''


def _readme(m: Mapping[str, Any], info: PackageInfo) -> str:
    lines = [
        f"# {info.dist_name}",
        "",
        info.summary,
        "",
        f"A stylepipe plugin holding the {info.kind} "
        f"model `{info.model}` (architecture `{m['architecture']}`, scale x{m['scale']}).",
        "",
        "```",
        f"stylepipe install {info.dist_name}",
        f"stylepipe run photos -o out --filter {'style' if info.kind == 'style' else 'upscale'}"
        f":model={info.model}",
        "```",
    ]
    if isinstance(m.get("training"), Mapping) and m["training"]:
        lines += ["", "## Training", "", "```json", json.dumps(m["training"], indent=2), "```"]
    if info.license:
        lines += ["", f"Licence: {info.license}"]
    return "\n".join(lines) + "\n"


def metadata_text(info: PackageInfo, readme: str) -> str:
    """Core metadata 2.1 (``METADATA`` in the wheel, ``PKG-INFO`` in the sdist)."""
    headers = [
        ("Metadata-Version", "2.1"),
        ("Name", info.dist_name),
        ("Version", info.version),
        ("Summary", info.summary),
        ("Author", info.author),
        ("License", info.license),
        ("Keywords", f"stylepipe,stylepipe-plugin,{info.kind}"),
        ("Requires-Python", ">=3.11"),
        ("Requires-Dist", _stylepipe_requirement()),
        ("Description-Content-Type", "text/markdown"),
    ]
    head = "".join(f"{key}: {value}\n" for key, value in headers if value)
    return f"{head}\n{readme}"


def _stylepipe_requirement() -> str:
    """At least the stylepipe that built it (same minor), whose pack format it uses."""
    release = re.match(r"^(\d+)\.(\d+)", __version__)
    if release is None or __version__.startswith("0.0.0"):
        return "stylepipe"
    return f"stylepipe>={release[1]}.{release[2]}"


def _entry_points(info: PackageInfo) -> str:
    return f"[{ENTRY_POINT_GROUP}]\n{info.module} = {info.module}\n"


def _wheel_bytes(info: PackageInfo, payload: Mapping[str, bytes], readme: str) -> bytes:
    dist_info = f"{info.escaped}-{info.version}.dist-info"
    members = {f"{info.module}/{name}": data for name, data in sorted(payload.items())}
    members[f"{dist_info}/METADATA"] = metadata_text(info, readme).encode("utf-8")
    members[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: stylepipe {__version__}\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n"
    ).encode()
    members[f"{dist_info}/entry_points.txt"] = _entry_points(info).encode()
    members[f"{dist_info}/top_level.txt"] = f"{info.module}\n".encode()
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in members.items())
    members[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, data in members.items():  # RECORD last, as the spec recommends
            member = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            member.create_system = 3
            member.external_attr = 0o100644 << 16
            member.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(member, data)
    return buffer.getvalue()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def _toml_str(text: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML; non-ASCII stays literal)."""
    return json.dumps(text, ensure_ascii=False)


def pyproject_text(info: PackageInfo, data_files: list[str], *, license_file: bool) -> str:
    """The source tree's ``pyproject.toml`` (setuptools)."""
    authors = f"authors = [{{ name = {_toml_str(info.author)} }}]\n" if info.author else ""
    licence = 'license-files = ["LICENSE.txt"]\n' if license_file else ""
    data = ", ".join(_toml_str(name) for name in data_files)
    return (
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f"[project]\nname = {_toml_str(info.dist_name)}\nversion = {_toml_str(info.version)}\n"
        f'description = {_toml_str(info.summary)}\nreadme = "README.md"\n{authors}{licence}'
        f'requires-python = ">=3.11"\ndependencies = [{_toml_str(_stylepipe_requirement())}]\n'
        f'keywords = ["stylepipe", "stylepipe-plugin", {_toml_str(info.kind)}]\n\n'
        f"[project.entry-points.{ENTRY_POINT_GROUP}]\n{info.module} = {_toml_str(info.module)}\n\n"
        f'[tool.setuptools]\npackage-dir = {{ "" = "src" }}\npackages = [{_toml_str(info.module)}]'
        f"\n\n[tool.setuptools.package-data]\n{info.module} = [{data}]\n"
    )


def write_source_tree(
    pack: Pack, info: PackageInfo, payload: Mapping[str, bytes], dist_dir: Path
) -> Path:
    """``dist_dir/<name>-<version>/``: pyproject.toml, README.md, LICENSE.txt (when a
    licence is known) and ``src/<module>/``; replaced if it exists."""
    tree = Path(dist_dir) / info.sdist_base
    staging = Path(tempfile.mkdtemp(prefix=f".{tree.name}.", dir=dist_dir))
    try:
        module_dir = staging / "src" / info.module
        module_dir.mkdir(parents=True)
        for name, data in payload.items():
            (module_dir / name).write_bytes(data)
        licence = _licence_text(pack, info)
        if licence is not None:
            (staging / "LICENSE.txt").write_text(licence, encoding="utf-8")
        data_files = sorted(name for name in payload if name != "__init__.py")
        pyproject = pyproject_text(info, data_files, license_file=licence is not None)
        (staging / "pyproject.toml").write_text(pyproject, encoding="utf-8")
        readme = _readme(json.loads(payload[MANIFEST]), info)
        (staging / "README.md").write_text(readme, encoding="utf-8")
        (staging / "PKG-INFO").write_text(metadata_text(info, readme), "utf-8")
        for folder in (staging, staging / "src", module_dir):
            os.chmod(folder, 0o755)  # mkdtemp makes it private
        if tree.exists():
            shutil.rmtree(tree)
        os.replace(staging, tree)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return tree


def _licence_text(pack: Pack, info: PackageInfo) -> str | None:
    own = pack.path / "LICENSE.txt"
    if "LICENSE.txt" in pack.manifest["files"] and own.is_file():
        return own.read_text(encoding="utf-8")
    if info.license:
        return f"{info.model} by {info.author or 'its author'} is licensed under: {info.license}\n"
    return None


def _sdist_bytes(tree: Path, info: PackageInfo) -> bytes:
    """A reproducible ``.tar.gz`` of the source tree under ``<name>-<version>/``."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            member = tarfile.TarInfo(f"{info.sdist_base}/{path.relative_to(tree).as_posix()}")
            data = path.read_bytes()
            member.size, member.mtime, member.mode = len(data), _SDIST_MTIME, 0o644
            tar.addfile(member, io.BytesIO(data))
    return buffer.getvalue()
