"""Command-line steps: ``--filter NAME[:piece,piece,...]`` split into the filter name and
its parameters as text (converted and checked later, like a pipeline file's values).

A piece is ``key=value`` (split at the first ``=``, so a value may hold ``=`` and ``:``),
or a bare word:

* the name of a true/false parameter turns it on: ``style:model=mosaic,preserve_color``
  is ``preserve_color=true``;
* right after a ``key=value`` piece, it continues that value after a comma:
  ``tag:text=a,b`` gives ``text="a,b"``;
* otherwise it is the value of the filter's main parameter (its ``main_param``, else its
  first parameter), unless that is given already: ``style:mosaic`` is
  ``style:model=mosaic``, ``resize:0.5`` is ``resize:scale=0.5``.

Empty pieces are ignored. Errors are :class:`~stylepipe.errors.ParamError` (key ``""``
when no key is known) whose hint explains the form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from stylepipe.errors import ParamError

if TYPE_CHECKING:
    from stylepipe.filters import ParamSpec


class Parameterized(Protocol):
    """What a spec's pieces are read against: a filter or engine class."""

    main_param: str | None

    def param_specs(self) -> list[ParamSpec]: ...


FORM_HINT = (
    "write NAME:key=value,key=value; a bare value sets the main parameter "
    "(style:mosaic), a bare true/false parameter name turns it on (preserve_color)"
)


def split_filter_spec(spec: str) -> tuple[str, str]:
    """``NAME`` and the text after the first ``:`` (empty without one)."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise ParamError("", f"no filter name in {spec!r}", hint="write NAME or NAME:key=value")
    return name, rest


def parse_filter_spec(
    spec: str, filter_cls: Parameterized | None = None
) -> tuple[str, dict[str, str]]:
    """The filter name and its parameters as text (see the module docs). Without
    ``filter_cls`` no bare word can be a flag or the main parameter."""
    name, rest = split_filter_spec(spec)
    return name, spec_params(rest, filter_cls)


def spec_params(rest: str, filter_cls: Parameterized | None) -> dict[str, str]:
    """The ``key=value`` and bare pieces of ``rest`` as parameters of ``filter_cls`` (a
    filter class, or an engine class for ``--engine``)."""
    flags, main = _flags_and_main(filter_cls)
    params: dict[str, str] = {}
    last: str | None = None
    for piece in (p.strip() for p in rest.split(",")):
        if not piece:
            continue
        key, eq, value = piece.partition("=")
        if eq:
            key, value = key.strip(), value.strip()
            if not key:
                raise ParamError("", f"missing parameter name before '=' in {piece!r}")
        elif piece in flags:
            key, value = piece, "true"
        elif last is not None:
            params[last] += "," + piece
            continue
        elif main is not None and main not in params:
            key, value = main, piece
        else:
            raise ParamError("", f"expected key=value, got {piece!r}", hint=FORM_HINT)
        if key in params:
            raise ParamError(key, f"parameter {key!r} is given twice")
        params[key] = value
        last = key if eq or key == main else None
    return params


def _flags_and_main(filter_cls: Parameterized | None) -> tuple[set[str], str | None]:
    """The names of the true/false parameters and the main parameter of a filter."""
    if filter_cls is None:
        return set(), None
    specs = filter_cls.param_specs()
    flags = {s.name for s in specs if s.type is bool}
    main = filter_cls.main_param or (specs[0].name if specs else None)
    return flags, main
