"""Small helpers that keep user messages grammatical: counts with the right plural, and
model kinds in words ("a super-resolution model", never "a sr model")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

KIND_WORDS = {"style": "style", "sr": "super-resolution"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``"1 file"``, ``"2 files"``; ``many`` for irregular plurals."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def model_noun(kind: str, *, count: int = 1) -> str:
    """``"style model"``, ``"super-resolution models"``: a model kind in words."""
    return f"{KIND_WORDS.get(kind, kind)} model{'' if count == 1 else 's'}"


def close_matches(word: str, known: Iterable[str], *, n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The ``n`` known words closest to ``word`` (difflib's ratio of at least ``cutoff``)."""
    return difflib.get_close_matches(word, list(known), n=n, cutoff=cutoff)


def did_you_mean(word: str, known: Iterable[str], *, n: int = 1, cutoff: float = 0.6) -> str | None:
    """``"did you mean 'mosaic'?"`` (``or`` between several), or None when nothing is close:
    the one "did you mean" of every message."""
    close = close_matches(word, known, n=n, cutoff=cutoff)
    return "did you mean " + " or ".join(repr(c) for c in close) + "?" if close else None


def a_model(kind: str) -> str:
    """The kind with its article: ``"a style model"``, ``"a super-resolution model"``."""
    return f"a {model_noun(kind)}"
