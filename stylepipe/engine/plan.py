"""Batch planning: which files to read and where each output goes.

Inputs are files, folders (their top level, or the whole tree with ``recursive``) and
glob patterns (``photos/**/*.jpg``; quoted so that stylepipe, not the shell, expands
them). Folder walks and globs leave out hidden files and folders (names starting with
``.``) and files without an image suffix; both are counted for the summary. A file named
explicitly is read whatever its name, unless its suffix is not an image's. Symlinked
folders are followed once: a folder already visited (by real path) is not walked again,
so symlink loops end. The output folder is never walked when it lies inside an input.
Without ``recursive``, the images below a folder's subfolders are counted (not read), so
that the summary can say what was left and hint at ``--recursive``.

Outputs mirror each input's tree under the output root: ``photos/2024/a.jpg`` given as
folder ``photos`` becomes ``OUT/2024/a.jpg``; a file or glob match keeps its path below
the pattern's fixed part. Names come from the template; two inputs that would share an
output name (``a.png`` and ``a.jpg`` to ``a.webp``) keep their input suffix in the stem
(``a.png.webp``, ``a.jpg.webp``) when the suffixes tell them apart; otherwise (the same
name in two input folders) the first keeps its name and the others get ``-2``, ``-3``...
in input order. Either way a warning names them. An output that names a file
(``-o out.jpg``) takes the one input there, in the format its suffix names.
"""

from __future__ import annotations

import glob
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stylepipe.engine.job import BatchJob, ItemResult
from stylepipe.errors import UsageError
from stylepipe.imaging.formats import (
    CANONICAL_EXTENSIONS,
    RAW_DEFAULT_FORMAT,
    format_for_suffix,
    is_image_name,
    is_raw_name,
    missing_codec,
    normalize_format,
)

_MAGIC = frozenset("*?[")


@dataclass(frozen=True)
class Found:
    """An input file and its path relative to the root it was found under."""

    source: Path
    relative: Path


@dataclass
class InputScan:
    """What collecting the inputs found: image files in order, plus what was left out
    (``in_subfolders``: images below a folder walked without ``recursive``)."""

    files: list[Found] = field(default_factory=list)
    hidden: int = 0
    non_images: int = 0
    in_subfolders: int = 0
    warnings: list[str] = field(default_factory=list)
    unreadable: dict[str, int] = field(default_factory=dict)
    """Images skipped because their codec is not installed: reason -> count."""

    def accept(self, path: Path) -> bool:
        """Whether an image-named file can be read here; counts it as skipped (with
        the reason, for :meth:`codec_warnings`) when its codec is missing."""
        reason = missing_codec(path.suffix)
        if reason is None:
            return True
        self.non_images += 1
        self.unreadable[reason] = self.unreadable.get(reason, 0) + 1
        return False

    def codec_warnings(self) -> list[str]:
        """One warning per missing codec: how many files it skipped and the fix."""
        return [
            f"{count} file{'s' if count > 1 else ''} skipped: {reason}"
            for reason, count in self.unreadable.items()
        ]


def collect_inputs(
    inputs: Sequence[str | Path], *, recursive: bool = False, exclude: Path | None = None
) -> InputScan:
    """Expand files, folders and globs into image files (deduplicated by real path).

    ``exclude`` (the output folder) is never walked. Raises :class:`UsageError` for an
    input that does not exist or a pattern that matches nothing.
    """
    scan = InputScan()
    excluded = os.path.realpath(exclude) if exclude is not None else None
    seen_files: set[str] = set()
    for raw in inputs:
        text = str(raw)
        path = Path(text)
        if not path.exists() and not path.is_symlink() and _MAGIC & set(text):
            found = _glob(text, recursive, scan, excluded)
        elif path.is_dir():
            found = _walk(path, recursive, scan, excluded)
        elif path.exists():
            found = _single(path, scan)
        else:
            raise UsageError(f"input not found: {text}", hint="check the path or quote globs")
        for item in found:
            real = os.path.realpath(item.source)
            if real not in seen_files:
                seen_files.add(real)
                scan.files.append(item)
    return scan


def _single(path: Path, scan: InputScan) -> list[Found]:
    if not is_image_name(path):
        scan.non_images += 1
        return []
    if not scan.accept(path):
        return []
    return [Found(path, Path(path.name))]


def _glob(pattern: str, recursive: bool, scan: InputScan, excluded: str | None) -> list[Found]:
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if _MAGIC & set(part)), len(parts))
    base = Path(*parts[:fixed]) if fixed else Path(".")
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches:
        raise UsageError(f"no files match {pattern!r}", hint="check the pattern")
    found: list[Found] = []
    for match in matches:
        path = Path(match)
        if path.is_dir():
            found += [
                Found(f.source, path.relative_to(base) / f.relative)
                for f in _walk(path, recursive, scan, excluded)
            ]
        elif path.is_file():
            if not is_image_name(path):
                scan.non_images += 1
            elif scan.accept(path):
                found.append(Found(path, path.relative_to(base)))
    return found


def _walk(root: Path, recursive: bool, scan: InputScan, excluded: str | None) -> list[Found]:
    """Files under ``root`` in sorted order; follows symlinked folders once each."""
    found: list[Found] = []
    visited: set[str] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in visited:
            scan.warnings.append(f"{folder}: folder already visited (symlink loop?); skipped")
            continue
        visited.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            if folder == root:
                raise UsageError(f"cannot read folder {folder}: {exc.strerror}") from None
            scan.warnings.append(f"{folder}: cannot read folder ({exc.strerror}); skipped")
            continue
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                scan.hidden += 1
            elif entry.is_dir():
                if os.path.realpath(path) == excluded:
                    continue
                if recursive:
                    subfolders.append(path)
                else:
                    scan.in_subfolders += count_images(path, excluded)
            elif not entry.is_file():
                if entry.is_symlink() and is_image_name(path) and not path.exists():
                    scan.warnings.append(f"{path}: broken symbolic link; skipped")
                continue  # sockets, fifos, dangling links
            elif not is_image_name(path):
                scan.non_images += 1
            elif scan.accept(path):
                found.append(Found(path, path.relative_to(root)))
        stack.extend(reversed(subfolders))
    return sorted(found, key=lambda f: f.relative.parts)


def count_images(folder: Path, excluded: str | None = None) -> int:
    """Images (not hidden, with an image suffix) anywhere below ``folder``, for the
    summary of a run that did not walk it; symlinked folders are not followed."""
    count = 0
    for parent, folders, names in os.walk(folder, onerror=lambda error: None):
        folders[:] = [
            f
            for f in folders
            if not f.startswith(".") and os.path.realpath(os.path.join(parent, f)) != excluded
        ]
        count += sum(1 for n in names if not n.startswith(".") and is_image_name(Path(n)))
    return count


@dataclass(frozen=True)
class PlannedOutput:
    """Where one input goes and in which format."""

    found: Found
    output: Path
    format: str


def names_a_file(output: Path) -> bool:
    """Whether ``-o`` names an output file rather than a folder: it has an image suffix
    (``out.jpg``) and is not an existing folder."""
    return is_image_name(output) and not output.is_dir()


def plan_file_output(files: Sequence[Found], output: Path, format: str | None) -> PlannedOutput:
    """The one input written to the file ``output``, in the format its suffix names.
    Raises :class:`UsageError` for several inputs, a suffix stylepipe cannot write, or
    a ``format`` that contradicts the suffix."""
    if len(files) != 1:
        raise UsageError(
            f"-o {output} names one file, but the inputs hold {len(files)} images",
            hint=f"give a folder to write several, e.g. -o {output.with_suffix('')}",
        )
    implied = format_for_suffix(output.suffix)
    if implied is None:
        if is_raw_name(output):
            normalize_format(output.suffix)  # raises: says that RAW is not written
        raise UsageError(
            f"cannot write {output.suffix} files: -o {output}",
            hint="use a .png, .jpg, .webp, .tif, .avif or .heic name, or a folder",
        )
    if format and normalize_format(format) != implied:
        raise UsageError(
            f"-o {output} names a {implied} file, but the output format asked is {format}",
            hint="leave out --format (or [output] format), or change the suffix of -o",
        )
    return PlannedOutput(files[0], output, implied)


def plan_outputs(
    files: Sequence[Found],
    output_root: Path,
    *,
    template: str,
    format: str | None,
    filter_label: str,
    fields: Mapping[str, str] | None = None,
) -> tuple[list[PlannedOutput], list[str]]:
    """Output path and format per input (see the module docs), plus collision warnings.
    ``fields``: the template's step fields (``{model}``, ``{scale}``)."""
    fmt_fixed = normalize_format(format) if format else None
    formats, exts = [], []
    for f in files:
        implied = format_for_suffix(f.source.suffix)
        fallback = RAW_DEFAULT_FORMAT if is_raw_name(f.source) else "png"
        fmt = fmt_fixed or implied or fallback
        formats.append(fmt)
        exts.append(f.source.suffix if implied == fmt else CANONICAL_EXTENSIONS[fmt])

    def render(i: int, stem: str) -> Path:
        name = template.format(stem=stem, ext=exts[i], filter=filter_label, **(fields or {}))
        return output_root / files[i].relative.parent / name

    outputs = [render(i, f.source.stem) for i, f in enumerate(files)]
    groups: dict[str, list[int]] = defaultdict(list)
    for i, out in enumerate(outputs):
        groups[_key(out)].append(i)
    warnings = []
    for members in groups.values():
        suffixes = {files[i].source.suffix.casefold() for i in members}
        if len(members) > 1 and len(suffixes) == len(members):
            for i in members:
                outputs[i] = render(i, files[i].source.name)
    taken: set[str] = set()
    for i, out in enumerate(outputs):
        number = 2
        while _key(out) in taken:
            out = render(i, f"{files[i].source.stem}-{number}")
            number += 1
        outputs[i] = out
        taken.add(_key(out))
    for members in groups.values():
        if len(members) > 1:
            clash = ", ".join(str(files[i].source) for i in members)
            renamed = ", ".join(outputs[i].name for i in members)
            target = render(members[0], files[members[0]].source.stem)
            warnings.append(f"{clash} would all be written to {target}; writing {renamed}")
    plans = [PlannedOutput(f, outputs[i], formats[i]) for i, f in enumerate(files)]
    return plans, warnings


def _key(path: Path) -> str:
    """Output paths compare case-insensitively, so a batch behaves the same on
    case-insensitive file systems (macOS, Windows) as on Linux."""
    return str(path).casefold()


def preflight(job: BatchJob) -> dict[int, ItemResult]:
    """Results decided before any image is read: an output that is one of the inputs
    (always refused), or that exists (skipped with ``skip_existing``, a failure without
    ``overwrite``)."""
    inputs = {_identity(item.source) for item in job.items}
    decided: dict[int, ItemResult] = {}
    for index, item in enumerate(job.items):
        identity = _identity(item.output)
        if identity is None:
            continue
        if identity in inputs:
            reason = f"refusing to overwrite input file {item.output}"
            decided[index] = ItemResult("failed", reason + "; choose another -o folder")
        elif job.options.skip_existing:
            decided[index] = ItemResult("skipped", "output exists", item.output)
        elif not job.options.overwrite:
            reason = f"output exists: {item.output}"
            decided[index] = ItemResult(
                "failed", reason + " (use --overwrite to replace it or --skip-existing)"
            )
    return decided


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, so links and case variants compare equal."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino
