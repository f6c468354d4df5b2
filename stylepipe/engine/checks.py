"""Whole-run problems: refused with one error before a batch starts, rather than
reported once per file.

* ``-o`` is one of the input folders: outputs would land among (or replace) the inputs,
  and the next run would read them as inputs;
* every planned output would replace its own input (``run photos/a.jpg -o photos``);
* every planned output exists already and neither ``skip_existing`` nor ``overwrite``
  says what to do with them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from stylepipe.errors import UsageError

_EXISTING_HINT = "add --skip-existing to leave them as they are, or --overwrite to replace them"


def refuse_output_in_inputs(inputs: Iterable[str | Path], output: Path) -> None:
    """Raise :class:`UsageError` if the output folder is one of the input folders."""
    for raw in inputs:
        folder = Path(raw)
        if folder.is_dir() and _same(folder, output):
            raise UsageError(
                f"-o {output} is the input folder {folder}",
                hint=f"write to another folder, e.g. -o {folder.resolve().name}-out",
            )


def refuse_outputs_replacing_inputs(pairs: Sequence[tuple[Path, Path]]) -> None:
    """Raise :class:`UsageError` if every (input, output) pair names one file: the run
    could only refuse each of them."""
    if not pairs or not all(_same(source, output) for source, output in pairs):
        return
    what = f"the output {pairs[0][1]} is" if len(pairs) == 1 else f"all {len(pairs)} outputs are"
    raise UsageError(
        f"{what} the input itself; an input file is never overwritten",
        hint="choose another -o, or a --name such as '{stem}_new{ext}'",
    )


def refuse_all_existing(
    outputs: Sequence[Path], root: Path, *, skip_existing: bool, overwrite: bool
) -> None:
    """Raise :class:`UsageError` if every output (under ``root``) exists and no option
    says what to do with them."""
    if skip_existing or overwrite or not outputs:
        return
    if not all(os.path.lexists(path) for path in outputs):
        return
    if len(outputs) == 1:
        raise UsageError(f"the output {outputs[0]} already exists", hint=_EXISTING_HINT)
    raise UsageError(f"all {len(outputs)} outputs already exist in {root}", hint=_EXISTING_HINT)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # b does not exist yet
        return False
