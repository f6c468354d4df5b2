"""Every command's ``--help`` ends with examples (issue 18): at least two lines that run
that very command, and every example parses with the real command line (no stale
option, no missing argument)."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator

import pytest

from stylepipe.app import App
from stylepipe.cli import build_parser
from stylepipe.plugins import load_plugins
from stylepipe.ui import UI

#: Commands the built-in plugins and the training plugin add; the walk must find them all.
EXPECTED = {
    "run", "check", "filters", "plugins", "models", "models show", "export", "install",
    "uninstall", "package", "import-model", "train", "train style", "train sr", "eval",
    "eval sr",
}  # fmt: skip


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (command path, parser) below ``parser``, the top level included as ``""``."""
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


def examples(help_text: str) -> list[str]:
    """The command lines of the ``examples:`` section: continuation lines joined, the
    description after two spaces dropped."""
    lines = help_text.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    commands: list[str] = []
    pending = ""
    for line in lines:
        text = line.strip()
        if pending:
            text, pending = pending + " " + text, ""
        if text.endswith("\\"):
            pending = text[:-1].rstrip()
            continue
        if re.match(r"(\w+=\S*\s+)*stylepipe\s", text):
            commands.append(re.split(r"\s{2,}", text)[0])
    return commands


def argv_of(command: str) -> list[str]:
    """The arguments stylepipe gets: no VAR=value prefix, nothing from a redirection."""
    words = shlex.split(command)
    while "=" in words[0]:
        words.pop(0)
    assert words[0] == "stylepipe"
    for i, word in enumerate(words):
        if word in (">", "|", ">>"):
            return words[1:i]
    return words[1:]


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser(App(load_plugins(), UI()))


def test_every_command_has_examples_of_itself(parser: argparse.ArgumentParser) -> None:
    found = dict(walk(parser))
    assert set(found) >= EXPECTED
    missing = []
    for path, sub in found.items():
        help_text = sub.format_help()
        prefix = f"stylepipe {path}".rstrip() + " "
        own = [c for c in examples(help_text) if argv_of(c)[: len(path.split())] == path.split()]
        if "\nexamples:\n" not in help_text or len(own) < 2:
            missing.append(f"{prefix.strip()!r}: {len(own)} example(s) of itself")
    assert missing == []


def test_every_example_parses(parser: argparse.ArgumentParser) -> None:
    bad = []
    for path, sub in walk(parser):
        for command in examples(sub.format_help()):
            argv = argv_of(command)
            if "--help" in argv or "COMMAND" in argv:
                continue
            try:
                args = parser.parse_args(argv)
            except SystemExit:
                bad.append(f"{path or 'stylepipe'}: {command}")
                continue
            if getattr(args, "handler", None) is None:
                bad.append(f"{path or 'stylepipe'}: {command} (no command runs)")
    assert bad == []


def test_the_example_reader() -> None:
    text = (
        "usage: x\n\nexamples:\n  stylepipe a --b \\\n      --c 1      what it does\n"
        "  V=1 stylepipe d > out.json\n  not a command\n\nmore text\n  stylepipe ignored\n"
    )
    assert examples(text) == ["stylepipe a --b --c 1", "V=1 stylepipe d > out.json"]
    assert argv_of("V=1 stylepipe d --json > out.json") == ["d", "--json"]
