"""Meta-test: one hook, one spec with a docstring, one docs section, one test.

Every hookspec in ``stylepipe/hookspecs.py`` must have a docstring, a ``### `name```
section in ``docs/plugins.md`` saying when it fires, its arguments, its return value and
whether the first result wins, and an implementation or a call in some other test file.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from stylepipe import hookspecs

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "plugins.md"
SPEC_MARK = "stylepipe_spec"  # the attribute pluggy's HookspecMarker("stylepipe") sets


def hookspec_functions() -> dict[str, object]:
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, SPEC_MARK)
    }


def docs_sections() -> dict[str, str]:
    """Hook name -> text of its ``### `name``` section in the hook reference."""
    text = DOCS.read_text()
    reference = text.split("## Hook reference", 1)[1].split("\n## ", 1)[0]
    parts = re.split(r"^### `(\w+)`\s*$", reference, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


HOOKS = sorted(hookspec_functions())


def test_the_hook_list_is_not_empty() -> None:
    assert {"register_filters", "register_commands", "select_device"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hookspec_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(hookspec_functions()[name]) or ""
    assert len(doc.split()) >= 8, f"hookspec {name} needs a docstring"
    firstresult = getattr(hookspec_functions()[name], SPEC_MARK).get("firstresult", False)
    assert ("first result" in doc.lower()) == firstresult


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_docs_section(name: str) -> None:
    sections = docs_sections()
    assert name in sections, f"docs/plugins.md has no '### `{name}`' section"
    section = sections[name]
    for label in ("**When:**", "**Arguments:**", "**Returns:**", "**Calling:**"):
        assert label in section, f"the {name} section lacks {label}"
    firstresult = getattr(hookspec_functions()[name], SPEC_MARK).get("firstresult", False)
    calling = section.split("**Calling:**", 1)[1].lower()
    assert ("first result wins" in calling) == firstresult
    for parameter in inspect.signature(hookspec_functions()[name]).parameters:
        assert f"`{parameter}" in section, f"the {name} section does not explain {parameter}"


def test_docs_document_no_hook_that_does_not_exist() -> None:
    assert set(docs_sections()) == set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_exercised_by_a_test(name: str) -> None:
    pattern = re.compile(rf"def\s+{name}\s*\(|\.{name}\s*\(")
    users = [
        path.name
        for path in (REPO / "tests").glob("test_*.py")
        if path.name != Path(__file__).name and pattern.search(path.read_text())
    ]
    assert users, f"no test implements or calls the {name} hook"
