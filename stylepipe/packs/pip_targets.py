"""Which ``stylepipe install`` targets may go to pip, decided before anything runs.

A mistyped style name must not install whatever PyPI package has that name (a
typosquatting risk). So a target goes to pip without asking only when it is

* on this machine: a wheel, an sdist or a project folder (``-e PATH`` included), or
* named like a stylepipe plugin: the distribution name starts with ``stylepipe-``
  (``stylepipe_style_mosaic`` counts: names compare as PEP 503 normalizes them).

Anything else (``screem``, a URL) needs ``--pip``, or a yes at an interactive prompt.
What pip then installs is checked too: see :mod:`stylepipe.packs.pip_install`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from stylepipe.errors import UsageError

PLUGIN_PREFIX = "stylepipe-"
WHEEL_SUFFIX = ".whl"
SDIST_SUFFIXES = (".tar.gz", ".zip")
# A PEP 508 requirement: a name, optional [extras], optional version specifier.
_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[A-Za-z0-9._,\s-]*\])?"
    r"\s*(?P<spec>(===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
    r"(\s*,\s*(===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+)*)?\s*$"
)


@dataclass(frozen=True)
class PipTarget:
    """One thing to hand to pip, as the user typed it.

    ``dist``: the normalized distribution name when it can be told beforehand (from a
    requirement, a wheel or sdist file name, a project's ``pyproject.toml``).
    ``local``: a file or folder on this machine. ``editable``: given with ``-e``."""

    text: str
    dist: str | None
    local: bool
    editable: bool = False

    @property
    def plugin_named(self) -> bool:
        """Whether the distribution name says "stylepipe plugin"."""
        return self.dist is not None and self.dist.startswith(PLUGIN_PREFIX)

    @property
    def needs_consent(self) -> bool:
        """True for a remote package not named like a plugin: ``--pip`` or a yes needed."""
        return not self.local and not self.plugin_named

    def pip_args(self) -> list[str]:
        """The target as pip's ``install`` takes it."""
        return ["--editable", self.text] if self.editable else [self.text]


def canonical_name(name: str) -> str:
    """A distribution name as PEP 503 normalizes it (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_target(text: str, *, editable: bool = False) -> PipTarget:
    """Classify one ``install`` argument; raises :class:`UsageError` for a missing local
    file, stylepipe itself, or text that is neither a path nor a requirement."""
    if editable or _looks_local(text):
        path = Path(text).expanduser()
        if not path.exists():
            raise UsageError(
                f"{text}: no such file or folder",
                hint="give a .stylepack file, a wheel, a plugin project folder or a "
                "package name such as stylepipe-style-NAME",
            )
        return PipTarget(text, _local_dist_name(path), local=True, editable=editable)
    if "://" in text:  # a URL: pip may fetch anything from it
        return PipTarget(text, None, local=False)
    found = _REQUIREMENT.match(text)
    if found is None:
        raise UsageError(
            f"{text!r} is not a package name, a wheel or a .stylepack file",
            hint="plugin packages are named stylepipe-NAME, e.g. stylepipe-style-mosaic",
        )
    name = canonical_name(found["name"])
    if name == "stylepipe":
        raise UsageError(
            "stylepipe install does not install or upgrade stylepipe itself",
            hint="use pip for that: python -m pip install --upgrade stylepipe",
        )
    return PipTarget(text, name, local=False)


def _looks_local(text: str) -> bool:
    lowered = text.lower()
    if "://" in text:
        return False
    return (
        Path(text).expanduser().exists()
        or lowered.endswith((WHEEL_SUFFIX, *SDIST_SUFFIXES))
        or text.startswith((".", "~", "/"))
        or "/" in text
        or "\\" in text
    )


def _local_dist_name(path: Path) -> str | None:
    """The distribution a local wheel, sdist or project folder holds, if its name says."""
    name = path.name
    if path.is_file() and name.lower().endswith(WHEEL_SUFFIX):
        return canonical_name(name.split("-", 1)[0])
    for suffix in SDIST_SUFFIXES:
        if path.is_file() and name.lower().endswith(suffix) and "-" in name:
            return canonical_name(name[: -len(suffix)].rsplit("-", 1)[0])
    pyproject = path / "pyproject.toml"
    if path.is_dir() and pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None
        if isinstance(project, dict) and isinstance(project.get("name"), str):
            return canonical_name(project["name"])
    return None
