"""The file system as the page may see it: only the folders the user chose.

``stylepipe ui`` starts with a root folder (``--root``, default: the current folder).
Every path the page sends (input folder, output folder, pipeline file) is taken relative
to it, resolved (``..``, ``~`` and symbolic links included) and refused with
:class:`PathRefused` when it leads outside the root. A batch then reads only the files
inside its input folder (a symbolic link that leads out of it is left out) and writes
only inside its output folder (a linked subfolder that leads out of it stops the batch
before it starts). Photos dropped on the page and full-resolution renders live in a
private temporary folder of the server, which the page never names.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from stylepipe.engine.job import BatchJob
from stylepipe.errors import UsageError
from stylepipe.ui import plural

PIPELINE_SUFFIX = ".toml"


class PathRefused(UsageError):
    """A path the page sent leads outside the folders it may use."""


def real(path: Path | str) -> Path:
    """The absolute path with every symbolic link and ``..`` resolved (the parts that do
    not exist yet are taken as written)."""
    return Path(os.path.realpath(path))


def within(path: Path, folder: Path) -> bool:
    """Whether the resolved ``path`` is ``folder`` or lies below it (both resolved)."""
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class Folders:
    """Resolves the page's paths against ``root`` (made real on creation)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", real(self.root))

    def resolve(self, text: str, what: str) -> Path:
        """``text`` (relative to the root, or absolute) resolved; :class:`UsageError`
        when empty, :class:`PathRefused` when outside the root."""
        text = text.strip() if isinstance(text, str) else ""
        if not text:
            raise UsageError(f"choose the {what}", hint=f"a folder inside {self.root}")
        given = Path(os.path.expanduser(text))
        path = real(given if given.is_absolute() else self.root / given)
        if not within(path, self.root):
            raise PathRefused(
                f"the {what} {text} is outside {self.root}",
                hint="stylepipe ui reads and writes only inside the folder it was started "
                "in; start it in (or with --root) a folder that holds both",
            )
        return path

    def input_folder(self, text: str) -> Path:
        path = self.resolve(text, "input folder")
        if not path.is_dir():
            what = "does not exist" if not path.exists() else "is not a folder"
            raise UsageError(f"the input folder {text} {what}", hint=f"looked for {path}")
        return path

    def output_folder(self, text: str) -> Path:
        path = self.resolve(text, "output folder")
        if path.exists() and not path.is_dir():
            raise UsageError(f"the output folder {text} is a file", hint="choose a folder")
        return path

    def pipeline_file(self, text: str, *, must_exist: bool) -> Path:
        path = self.resolve(text, "pipeline file")
        if path.suffix.lower() != PIPELINE_SUFFIX:
            raise UsageError(
                f"a pipeline file name ends in {PIPELINE_SUFFIX}: {text}",
                hint=f"e.g. {Path(text).stem or 'pipeline'}{PIPELINE_SUFFIX}",
            )
        if must_exist and not path.is_file():
            raise UsageError(f"no pipeline file {text}", hint=f"looked for {path}")
        return path

    def shown(self, path: Path) -> str:
        """``path`` as the page shows it: relative to the root when inside it."""
        return str(path.relative_to(self.root)) if within(path, self.root) else str(path)


def confine(job: BatchJob, inputs: Path, outputs: Path) -> BatchJob:
    """``job`` without the inputs that lead outside ``inputs`` (symbolic links; counted
    in a warning); raises :class:`PathRefused` if an output would land outside
    ``outputs`` (a linked subfolder of the output folder)."""
    for item in job.items:
        if not within(real(item.output), outputs):
            raise PathRefused(
                f"{item.output} would be written outside the output folder "
                "(a symbolic link leads out of it)",
                hint="choose an output folder without links to other places",
            )
    kept = tuple(item for item in job.items if within(real(item.source), inputs))
    left = len(job.items) - len(kept)
    if not left:
        return job
    if not kept:
        raise PathRefused(
            "every image in the input folder is a symbolic link to a file outside it",
            hint="stylepipe ui reads only inside the folders you choose",
        )
    warning = f"{plural(left, 'file')} left out: symbolic links to files outside the input folder"
    return dataclasses.replace(job, items=kept, warnings=(*job.warnings, warning))
