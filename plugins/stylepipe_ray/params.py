"""The ``ray`` engine's parameters (``--engine ray:actors=4,num_gpus=1``)."""

from __future__ import annotations

from dataclasses import dataclass

from stylepipe import FilterParams, param


@dataclass(frozen=True)
class RayParams(FilterParams):
    """Parameters of :class:`RayEngine` (``--engine ray:actors=4,num_gpus=1``)."""

    actors: int | None = param(
        None,
        help="actors in the pool (default: the cluster's CPUs / num_cpus, or its GPUs / "
        "num_gpus when that is fewer)",
        min=1,
    )
    num_cpus: float = param(
        1.0, help="CPUs each actor reserves; torch threads default to it", min=0.0
    )
    num_gpus: float = param(0.0, help="GPUs each actor reserves (0.5: two share one)", min=0.0)
    address: str | None = param(
        None,
        help="the cluster: auto or HOST:PORT (default: $RAY_ADDRESS, else a local instance)",
    )
    batch: int = param(
        4, help="images per Ray task (a task whose worker dies runs again)", min=1, max=4096
    )
    retries: int = param(
        2, help="times an image is tried again after its worker process died", min=0, max=100
    )
    manifest_over: int = param(
        100_000,
        help="above this many images, the rows go to the workers through a Parquet "
        "manifest in the output folder instead of the driver's object store",
        min=0,
    )
