"""Engines: what runs a planned batch. Plugins register them through the
``register_engines`` hook; the built-in ``local`` engine runs it in this process (I/O
threads around the steps), the ``ray`` engine of ``stylepipe[ray]`` on a Ray cluster.

``--engine NAME[:key=value,...]`` (or ``[runtime] engine``) picks one and sets its
parameters, typed and checked like a filter's (``ray:actors=4,num_gpus=1``). Planning
(inputs, output names, clash renames, skip-existing, the refusal to overwrite inputs)
always stays with the caller; an engine only processes :attr:`BatchRun.pending` through
the shared unit of work and hands the results to :meth:`BatchRun.record`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stylepipe.errors import ParamError, UsageError
from stylepipe.filters import FilterParams, Parametrised
from stylepipe.wording import did_you_mean

if TYPE_CHECKING:
    from stylepipe.engine.driver import BatchRun
    from stylepipe.plugins import Catalog

DEFAULT_ENGINE = "local"
_RAY_HINT = "it goes with --engine ray (pip install 'stylepipe[ray]')"


class Engine(Parametrised):
    """A way to run a batch. Subclasses set ``name``, ``summary`` and ``Params`` (typed
    parameters, as a filter's) and implement :meth:`run`.

    Life cycle, driven by :meth:`BatchRun.run`: :meth:`check` when the engine is chosen
    (before planning: is it installed?), :meth:`open` before the first event (connect,
    set up), :meth:`run` to process ``batch.pending``, and :meth:`close`, always, once
    ``open`` succeeded."""

    def check(self) -> None:
        """Raise :class:`UsageError` if the engine cannot run here (a missing extra:
        say what to install). Default: nothing."""

    def open(self, batch: BatchRun) -> None:
        """Get ready for ``batch`` (set up filters, connect to a cluster); errors raised
        here end the run before ``batch_started``. Default: nothing."""

    def run(self, batch: BatchRun) -> None:
        """Process ``batch.pending`` and :meth:`BatchRun.record` every result; stop
        starting work once ``batch.stopping``. Ctrl-C may propagate."""
        raise NotImplementedError(f"engine {self.name!r} does not implement run()")

    def close(self) -> None:
        """Release what :meth:`open` took (threads, a cluster connection). Default:
        nothing."""


class LocalEngine(Engine):
    """This process: the steps run in order in the calling thread (neural filters hold
    the device), while ``BatchOptions.workers`` I/O threads decode up to ``prefetch``
    images ahead and write finished ones."""

    name = "local"
    summary = "this process: the steps in order, reading and writing on I/O threads"

    def __init__(self, params: FilterParams | None = None) -> None:
        super().__init__(params)
        self._threads: int | None = None
        self._executor: Any = None

    def open(self, batch: BatchRun) -> None:
        from stylepipe.engine.executor import Executor

        self._executor = Executor(batch)
        if batch.pending:
            self._threads = self._executor.setup()

    def run(self, batch: BatchRun) -> None:
        self._executor.run()

    def close(self) -> None:
        from stylepipe.engine.work import restore_threads

        restore_threads(self._threads)
        self._threads = None


def parse_engine_spec(
    text: str,
    catalog: Catalog,
    *,
    where: str = "--engine",
    extra: Mapping[str, str] | None = None,
) -> Engine:
    """The engine ``NAME[:key=value,...]`` names, with its parameters checked; ``extra``:
    parameters from their own options (``--address``), which win. Raises
    :class:`UsageError` for an unknown engine ("did you mean", the known ones), a bad
    parameter, or an engine that cannot run here (its :meth:`Engine.check`)."""
    from stylepipe.filter_specs import spec_params

    name, _, rest = text.partition(":")
    name = name.strip()
    if not name:
        raise UsageError(f"{where}: no engine name in {text!r}", hint="e.g. --engine ray:actors=4")
    engine_cls = _engine_class(name, catalog, where)
    known = {spec.name for spec in engine_cls.param_specs()}
    if not known and rest.strip():
        raise UsageError(f"{where}: the {name} engine takes no parameters")
    for key in extra or {}:
        if key not in known:
            raise UsageError(f"--{key} is not an option of the {name} engine", hint=_RAY_HINT)
    try:
        raw = {**spec_params(rest, engine_cls), **(extra or {})}
        engine = engine_cls.from_raw(raw, from_text=True)
    except ParamError as exc:
        errors = getattr(exc, "errors", [exc])
        message = "; ".join(f"{name}: {one.message}" for one in errors)
        hint = errors[0].hint or _params_hint(engine_cls)
        raise UsageError(f"{where}: {message}", hint=hint) from None
    engine.check()
    return engine


def _engine_class(name: str, catalog: Catalog, where: str) -> type[Engine]:
    if name in catalog.engines:
        return catalog.engines.get(name)
    known = catalog.engines.names()
    close = did_you_mean(name, known)
    hint = (f"{close} " if close else "") + "engines: " + (", ".join(known) or "none")
    if name == "ray":  # the built-in stylepipe_ray plugin registers it; it failed to load
        hint = "install it with: pip install 'stylepipe[ray]'"
    raise UsageError(f"{where}: unknown engine {name!r}", hint=hint)


def _params_hint(engine_cls: type[Engine]) -> str:
    specs = engine_cls.param_specs()
    return "parameters: " + (", ".join(s.name for s in specs) if specs else "none")
