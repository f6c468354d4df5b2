"""Checks of a batch run on the reliability corpus (``reliability_corpus.py``).

Shared by ``tests/test_reliability.py`` and ``benchmarks/reliability.py``: what a batch's
``--report`` and output folder must show for every file of the corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from reliability_corpus import Corpus, Entry, Size

from stylepipe.imaging.formats import register_heif


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file (link target for links) under ``root``."""
    state: dict[str, str] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                state[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def reopens(path: Path) -> tuple[bool, Size | None, str]:
    """Whether ``path`` decodes fully (every frame), its size and a reason if not."""
    register_heif()  # HEIC outputs of HEIC inputs
    try:
        with Image.open(path) as image:
            image.load()
            return True, image.size, ""
    except Exception as exc:
        return False, None, f"{type(exc).__name__}: {exc}"


def temp_files(root: Path) -> list[Path]:
    """Temporary files of an atomic write (``.<name>.tmp-*``) under ``root``."""
    found = []
    for folder, _, files in os.walk(root):
        found += [Path(folder) / f for f in files if f.startswith(".") and ".tmp-" in f]
    return found


@dataclass
class Outcome:
    """What a batch on a corpus did, checked against the corpus' expectations."""

    tried: int = 0
    valid_outputs: int = 0
    failures_with_reason: int = 0
    not_processed: int = 0
    aborted: int = 0
    partial_files: int = 0
    inputs_modified: int = 0
    unexpected: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "unexpected"}


def check_batch(
    corpus: Corpus,
    report: dict[str, Any],
    output: Path,
    before: dict[str, str],
    returncode: int,
) -> Outcome:
    """Compare a batch's ``--report`` and output folder with what the corpus demands."""
    outcome = Outcome(tried=report["total"], aborted=int(returncode not in (0, 1)))
    # By real path: a link to a corpus file may stand for it in the report.
    expected = {os.path.realpath(corpus.root / e.path): e for e in corpus.entries}
    seen: set[str] = set()
    outputs: set[str] = set()
    for item in report["files"]:
        real = os.path.realpath(item["input"])
        entry = expected.get(real)
        seen.add(real)
        problem = _check_item(item, entry, outcome)
        if problem:
            outcome.unexpected.append(f"{item['input']!r}: {problem}")
        if item["output"]:
            outputs.add(item["output"])
    missing = set(expected) - seen
    outcome.unexpected += [f"{path!r}: not in the report" for path in sorted(missing)]
    stray = [p for p in _files(output) if str(p) not in outputs]
    outcome.partial_files = len(temp_files(output)) + len(stray)
    outcome.unexpected += [f"stray file in the output: {p}" for p in stray]
    after = snapshot(corpus.root)
    outcome.inputs_modified = sum(before.get(k) != after.get(k) for k in before | after)
    return outcome


def _check_item(item: dict[str, Any], entry: Entry | None, outcome: Outcome) -> str | None:
    status = item["status"]
    if status == "not processed":
        outcome.not_processed += 1
        return "not processed"
    if status == "failed":
        reason = item["reason"] or ""
        if reason.strip() and "\n" not in reason:
            outcome.failures_with_reason += 1
        else:
            return f"failed without a one-line reason: {reason!r}"
        return f"failed but expected ok: {reason}" if entry and entry.expect == "ok" else None
    ok, size, why = reopens(Path(item["output"]))
    if not ok:
        return f"output does not reopen: {why}"
    outcome.valid_outputs += 1
    if entry is None:
        return None
    if entry.expect == "fail":
        return "expected a failure, got an output"
    if entry.expect == "ok" and size != entry.size:
        return f"output size {size}, expected {entry.size}"
    return None


def _files(root: Path) -> Iterator[Path]:
    for folder, _, files in os.walk(root):
        for name in files:
            if not (name.startswith(".") and ".tmp-" in name):
                yield Path(folder) / name


def read_report(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
