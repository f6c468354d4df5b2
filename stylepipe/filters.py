"""Filter base class and the typed parameter system shared by every filter.

A filter declares its parameters as a dataclass whose fields use :func:`param`::

    @dataclass(frozen=True)
    class BlurParams(FilterParams):
        radius: float = param(2.0, help="Gaussian radius in pixels", min=0.0, max=250.0)

    class Blur(Filter):
        name = "blur"
        summary = "Gaussian blur"
        Params = BlurParams

        def apply(self, frame: Frame) -> Frame: ...

Supported field types: ``int``, ``float``, ``str``, ``bool`` and each of them ``| None``.
Values from a pipeline file must already have the right type (an int is accepted for a
float); values from the command line are text and are converted.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from stylepipe.errors import ParamError, ParamErrors
from stylepipe.imaging.frame import Frame
from stylepipe.wording import did_you_mean

if TYPE_CHECKING:
    from stylepipe.plugins import Catalog

_SCALARS = (int, float, str, bool)
_EXPECTED = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def param(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A filter parameter: its default, help text and allowed range or choices."""
    meta = {"help": help, "min": min, "max": max, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class FilterParams:
    """Base of every filter's parameter dataclass."""

    def validate(self) -> None:
        """Checks that involve several fields; raise :class:`ParamError` naming the key."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter as shown by ``stylepipe filters`` and checked by the parser."""

    name: str
    type: type
    optional: bool
    default: Any
    required: bool
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def type_name(self) -> str:
        base = self.type.__name__
        return f"{base} | None" if self.optional else base

    @property
    def type_name_with_article(self) -> str:
        """``an int``, ``a float | None``: the Python type, for developers."""
        return ("an " if self.type_name[0] in "aeiou" else "a ") + self.type_name

    @property
    def expected(self) -> str:
        """What a value must be, in words for messages: ``a whole number``, ``a number``,
        ``true or false``, ``text``."""
        return _EXPECTED.get(self.type, self.type.__name__)

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            return f"{self.min} to {self.max}"
        if self.min is not None:
            return f">= {self.min}"
        if self.max is not None:
            return f"<= {self.max}"
        return ""


def param_specs(params_cls: type[FilterParams]) -> list[ParamSpec]:
    """The parameters of a params dataclass, in declaration order."""
    hints = typing.get_type_hints(params_cls)
    specs = []
    for f in dataclasses.fields(params_cls):
        base, optional = _unwrap_optional(hints[f.name])
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        specs.append(
            ParamSpec(
                name=f.name,
                type=base,
                optional=optional,
                default=None if required else f.default,
                required=required,
                help=f.metadata.get("help", ""),
                min=f.metadata.get("min"),
                max=f.metadata.get("max"),
                choices=f.metadata.get("choices"),
            )
        )
    return specs


def _unwrap_optional(hint: Any) -> tuple[type, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and args[0] in _SCALARS:
            return args[0], True
    if hint in _SCALARS:
        return hint, False
    raise TypeError(f"unsupported parameter type {hint!r}")


def parse_params(
    params_cls: type[FilterParams], raw: Mapping[str, Any], *, from_text: bool = False
) -> FilterParams:
    """Check and convert raw values into a params instance. Errors name the key; when
    several keys are wrong, a :class:`ParamErrors` lists every one."""
    specs = {s.name: s for s in param_specs(params_cls)}
    errors = [_unknown(key, specs) for key in raw if key not in specs]
    values = {}
    for name, spec in specs.items():
        try:
            if name in raw:
                values[name] = _convert(spec, raw[name], from_text)
            elif spec.required:
                raise ParamError(name, f"parameter {name!r} is required", hint=spec.help)
        except ParamError as exc:
            errors.append(exc)
    if errors:
        raise errors[0] if len(errors) == 1 else ParamErrors(errors)
    instance = params_cls(**values)
    instance.validate()
    return instance


def _unknown(key: str, specs: Mapping[str, ParamSpec]) -> ParamError:
    hint = did_you_mean(key, specs) or "known: " + ", ".join(specs)
    return ParamError(key, f"unknown parameter {key!r}", hint=hint)


def _convert(spec: ParamSpec, value: Any, from_text: bool) -> Any:
    if from_text and isinstance(value, str):
        value = _from_text(spec, value)
    if value is None:
        if spec.optional:
            return None
        raise ParamError(spec.name, f"{spec.name} must be {spec.expected}, got nothing")
    value = _check_type(spec, value)
    if spec.choices is not None and value not in spec.choices:
        raise ParamError(spec.name, f"{spec.name} must be {spec.describe_range()}, got {value!r}")
    if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
        raise ParamError(
            spec.name, f"{spec.name}={value!r} is out of range ({spec.describe_range()})"
        )
    return value


def _from_text(spec: ParamSpec, text: str) -> Any:
    stripped = text.strip()
    if spec.optional and stripped.lower() in ("", "none", "null"):
        return None
    try:
        if spec.type is bool:
            if stripped.lower() in _TRUE:
                return True
            if stripped.lower() in _FALSE:
                return False
            raise ValueError(text)
        if spec.type is int:
            return int(stripped)
        if spec.type is float:
            return float(stripped)
    except ValueError:
        raise ParamError(spec.name, f"{spec.name} must be {spec.expected}, got {text!r}") from None
    return text


def _check_type(spec: ParamSpec, value: Any) -> Any:
    kind = spec.type
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        hint = None
        if _quoted(spec, value):  # "yes" quoted: TOML's bare word is true, not yes
            hint = (
                "write true or false, without quotes" if kind is bool else "write it without quotes"
            )
        raise ParamError(
            spec.name, f"{spec.name} must be {spec.expected}, got {_describe(value)}", hint=hint
        )
    return value


def _quoted(spec: ParamSpec, value: Any) -> bool:
    """Whether ``value`` is the right number or true/false, written as text in quotes."""
    if not isinstance(value, str) or spec.type is str:
        return False
    try:
        _from_text(spec, value)
    except ParamError:
        return False
    return True


def _describe(value: Any) -> str:
    """A value as a pipeline file spells it: ``true``, ``the text '2'``, ``a list [1]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return f"a list {value!r}"
    if isinstance(value, dict):
        return "a table"
    return repr(value)


@dataclass
class RuntimeOptions:
    """How neural filters run: device, precision, tile size and torch's thread count
    (``threads``, None: torch's default; the count changes the bytes of float results),
    the engine that runs the batch (``local``, or ``ray:actors=4``...) and ``compile``:
    whole-frame passes through ``torch.compile`` (off: measured 3 % faster on a 2-core
    CPU after 29 s of compiling; meant for CUDA)."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto | fp32 | bf16 | fp16
    tile: int | None = None  # pixels of input per tile; None: from free memory; 0: whole image
    threads: int | None = None  # torch intra-op threads per process; None: torch's default
    engine: str = "local"  # NAME[:key=value,...], see stylepipe.engine.engines
    compile: bool = False  # torch.compile whole-frame (one-tile) passes


@dataclass
class FilterContext:
    """What a filter gets in :meth:`Filter.setup`: runtime options, the plugin catalog
    (models, architectures) and a way to warn the user without printing.
    ``select_device`` turns ``runtime.device`` into a ``torch.device``: the engine passes
    the ``select_device`` hook caller (``hook(requested=...)``); ``None`` uses the
    built-in rule (:func:`stylepipe.models.devices.resolve_device`)."""

    runtime: RuntimeOptions
    catalog: Catalog
    warn: Callable[[str], None] = lambda message: None
    select_device: Callable[..., Any] | None = None


class Parametrised:
    """Something chosen by name with typed parameters (a filter, an engine): ``name``,
    ``summary``, its ``Params`` dataclass and the parameter a bare value sets."""

    name: ClassVar[str]
    summary: ClassVar[str]
    Params: ClassVar[type[FilterParams]] = FilterParams
    main_param: ClassVar[str | None] = None
    """The parameter a bare value sets on the command line (``style:mosaic`` is
    ``style:model=mosaic``, ``--engine ray:4`` is ``actors=4``); ``None``: the first
    declared parameter."""

    def __init__(self, params: FilterParams | None = None) -> None:
        self.params = params if params is not None else parse_params(self.Params, {})

    @classmethod
    def param_specs(cls) -> list[ParamSpec]:
        return param_specs(cls.Params)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any], *, from_text: bool = False) -> Self:
        return cls(parse_params(cls.Params, raw, from_text=from_text))


class Filter(Parametrised):
    """A pipeline step. Subclasses set ``name``, ``summary`` and ``Params`` and
    implement :meth:`apply`; heavy set-up (loading a model) belongs in :meth:`setup`,
    which runs once per batch before the first image."""

    def check(self, catalog: Catalog) -> None:
        """Cheap checks against the catalog (for example that a model name exists), run
        when the pipeline is parsed, before any image is read. Raise :class:`ParamError`
        naming the key. Default: nothing."""

    def name_fields(self, catalog: Catalog) -> dict[str, str]:
        """Output-name fields this step supplies, such as ``{"model": "mosaic"}`` or
        ``{"scale": "4"}`` for the ``{model}`` and ``{scale}`` fields of ``--name``; run
        when the pipeline is parsed, after :meth:`check`. Default: none."""
        return {}

    def setup(self, ctx: FilterContext) -> None:
        """Prepare for a batch (load weights, pick a device). Default: nothing."""

    def apply(self, frame: Frame) -> Frame:
        raise NotImplementedError(f"filter {self.name!r} does not implement apply()")
