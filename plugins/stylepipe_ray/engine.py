"""The ``ray`` engine. Nothing here imports Ray: :meth:`RayEngine.check` looks for it
when the engine is chosen, and :meth:`RayEngine.open` imports the Ray side
(:mod:`stylepipe_ray.session`) when a batch has work to do."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from stylepipe import BatchRun, Engine, FilterParams, UsageError

from .params import RayParams

if TYPE_CHECKING:
    from .session import RaySession

INSTALL_HINT = "install it with: pip install 'stylepipe[ray]'"
MIN_RAY = (2, 60)


class RayEngine(Engine):
    """A Ray cluster, through Ray Data: a fixed pool of ``actors`` actors, each holding
    the pipeline set up once (``num_cpus``/``num_gpus`` each), processes rows of paths;
    the driver plans, records and reports. ``address``: a running cluster (``auto``,
    ``HOST:PORT``), else ``$RAY_ADDRESS``, else a local Ray instance for this run."""

    name = "ray"
    summary = "a Ray cluster through Ray Data (stylepipe[ray]): an actor pool, same outputs"
    Params = RayParams
    main_param = "actors"

    def __init__(self, params: FilterParams | None = None) -> None:
        super().__init__(params)
        self._session: RaySession | None = None

    @property
    def ray_params(self) -> RayParams:
        assert isinstance(self.params, RayParams)
        return self.params

    def check(self) -> None:
        """Ray (with Ray Data) is installed, at 2.60 or later."""
        check_ray_installed()

    def open(self, batch: BatchRun) -> None:
        if batch.pending:
            from .session import RaySession

            self._session = RaySession.start(self.ray_params, batch)

    def run(self, batch: BatchRun) -> None:
        assert self._session is not None, "run() before open()"
        self._session.run(batch)

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()


def check_ray_installed() -> None:
    """Raise :class:`UsageError` saying what to install unless Ray >= 2.60 and Ray Data
    (pyarrow, pandas) can be imported."""
    if importlib.util.find_spec("ray") is None:
        raise UsageError("the ray engine needs Ray, which is not installed", hint=INSTALL_HINT)
    try:
        import ray
        import ray.data  # noqa: F401  # needs the data extra's pyarrow and pandas
    except ImportError as exc:
        raise UsageError(
            f"the ray engine needs Ray Data, which cannot be imported: {exc}", hint=INSTALL_HINT
        ) from None
    found = tuple(int(part) for part in ray.__version__.split(".")[:2] if part.isdigit())
    if found < MIN_RAY:
        raise UsageError(
            f"the ray engine needs Ray 2.60 or later, found {ray.__version__}",
            hint="upgrade it with: pip install -U 'stylepipe[ray]'",
        )
