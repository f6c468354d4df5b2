"""Small helpers that keep user messages grammatical: counts with the right plural, and
model kinds in words ("a super-resolution model", never "a sr model")."""

from __future__ import annotations

KIND_WORDS = {"style": "style", "sr": "super-resolution"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``"1 file"``, ``"2 files"``; ``many`` for irregular plurals."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def model_noun(kind: str, *, count: int = 1) -> str:
    """``"style model"``, ``"super-resolution models"``: a model kind in words."""
    return f"{KIND_WORDS.get(kind, kind)} model{'' if count == 1 else 's'}"


def a_model(kind: str) -> str:
    """The kind with its article: ``"a style model"``, ``"a super-resolution model"``."""
    return f"a {model_noun(kind)}"
