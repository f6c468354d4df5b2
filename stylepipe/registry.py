"""A small name -> item registry that remembers which plugin added each item.

Names may be qualified as ``<source>/<name>``; a short name works while it is
unambiguous, otherwise the error lists the candidates.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from stylepipe.errors import DuplicateError, NotFoundError, UsageError
from stylepipe.wording import did_you_mean

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered item with its name and the plugin (source) that added it."""

    name: str
    source: str
    item: T

    @property
    def qualified_name(self) -> str:
        return f"{self.source}/{self.name}"


class Registry(Generic[T]):
    """Items by name. ``unique_names`` forbids one name from two sources (filters,
    architectures); without it the same short name may come from several sources
    (models) and is then addressed by its qualified name."""

    def __init__(self, kind: str, *, unique_names: bool = True) -> None:
        self.kind = kind
        self.unique_names = unique_names
        self._entries: dict[tuple[str, str], Entry[T]] = {}

    def add(self, name: str, item: T, *, source: str) -> None:
        if not name or "/" in name:
            raise UsageError(f"invalid {self.kind} name {name!r} from plugin {source!r}")
        key = (source, name)
        clash = self._entries.get(key)
        if clash is None and self.unique_names:
            clash = next((e for e in self._entries.values() if e.name == name), None)
        if clash is not None:
            raise DuplicateError(
                f"{self.kind} {name!r} is registered twice: by {clash.source!r} and {source!r}",
                hint="uninstall or disable one of the two plugins",
            )
        self._entries[key] = Entry(name, source, item)

    def resolve(self, name: str) -> Entry[T]:
        """The entry for a short or qualified name, or a helpful error."""
        if "/" in name:
            source, _, short = name.rpartition("/")
            entry = self._entries.get((source, short))
            if entry is not None:
                return entry
            raise self._not_found(name)
        matches = [e for e in self._entries.values() if e.name == name]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise self._not_found(name)
        options = ", ".join(sorted(e.qualified_name for e in matches))
        raise UsageError(f"{self.kind} name {name!r} is ambiguous", hint=f"use one of: {options}")

    def get(self, name: str) -> T:
        return self.resolve(name).item

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.resolve(name)
        except UsageError:
            return False
        return True

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: (e.name, e.source)))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted({e.name for e in self._entries.values()})

    def _not_found(self, name: str) -> NotFoundError:
        known = self.names() + [e.qualified_name for e in self._entries.values()]
        hint = did_you_mean(name, known, n=3) or (
            "known: " + ", ".join(self.names()) if known else f"no {self.kind} is registered"
        )
        return NotFoundError(f"unknown {self.kind} {name!r}", hint=hint)
