"""Asking before ``stylepipe install`` hands pip a name that is not a stylepipe plugin's
(see :mod:`stylepipe.packs.pip_targets`): ``--pip``, a yes at a terminal prompt, or a refusal
that says what was probably meant."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from stylepipe.app import App
from stylepipe.errors import StylepipeError, UsageError
from stylepipe.packs.pip_targets import PipTarget
from stylepipe.wording import close_matches

Confirm = Callable[[str], bool]
PACK_SUFFIX = ".stylepack"


def check_consent(
    app: App, targets: list[PipTarget], allowed: bool, confirm: Confirm | None
) -> None:
    """Refuse, before anything is installed, packages not named like plugins unless
    ``--pip`` was given or the user says yes at the prompt."""
    if not targets or allowed:
        return
    for target in targets:
        question = (
            f"{target.text!r} is not a .stylepack file or a stylepipe plugin package "
            "(stylepipe-NAME). Install it from PyPI anyway?"
        )
        if confirm is not None and confirm(question):
            continue
        raise UsageError(
            f"{target.text!r} is not a .stylepack file or a stylepipe plugin package; "
            "nothing was installed",
            hint=_consent_hint(app, target.text),
        )


def _consent_hint(app: App, text: str) -> str:
    """Did you mean a pack file here or an installed model? Else how to go on."""
    files = {p.name[: -len(PACK_SUFFIX)]: p.name for p in Path.cwd().glob(f"*{PACK_SUFFIX}")}
    close = close_matches(text, files, cutoff=0.75)
    if close:
        return f"did you mean the file {files[close[0]]}? (stylepipe install {files[close[0]]})"
    try:
        models = sorted({e.name for e in app.catalog.models})
    except StylepipeError:
        models = []
    close = close_matches(text, models, cutoff=0.75)
    if close:
        return f"did you mean the model {close[0]!r}? It is installed already"
    example = f" (e.g. stylepipe-style-{text})" if text.replace("-", "").isalnum() else ""
    return (
        f"plugin packages are named stylepipe-NAME{example}; add --pip to install another "
        "package from PyPI (it is removed again if it holds no stylepipe plugin)"
    )


def terminal_confirm(app: App) -> Confirm | None:
    """A yes/no prompt on the terminal, or None when stdin is not one."""
    if not sys.stdin.isatty():
        return None

    def ask(question: str) -> bool:
        try:
            answer = app.ui.err.input(f"{question} [y/N] ", markup=False)
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    return ask
