"""The driver's Ray side of one batch: connect, build the Ray Data pipeline, hand its
result rows to the batch, and leave nothing running.

Rows carry paths, never pixels: ``ray.data.from_items`` for ordinary batches, a Parquet
manifest (:mod:`stylepipe_ray.manifest`) above ``manifest_over`` inputs. Blocks hold
``batch`` rows (more when that would make over :data:`MAX_BLOCKS` blocks), and
``map_batches`` runs them ``batch`` rows a call on a fixed ``ActorPoolStrategy`` pool of
:class:`~stylepipe_ray.actor.ImageWorker` actors (``compute=``; ``concurrency=`` is
deprecated in Ray 2.60). ``ray.data.read_images`` is never used: it drops EXIF
orientation, ICC, DPI and 16-bit, and a corrupt file fails or drops whole blocks; each
worker reads its files with stylepipe's own reader, as the local engine does.

A local Ray instance started here is shut down in :meth:`RaySession.close`, after
``--fail-fast``, a full disk and Ctrl-C too; a cluster connected to is only
disconnected from (the batch's actors die with the driver's job).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import ray
import ray.data

from stylepipe import BatchRun, StylepipeError, UsageError, WorkerSpec

from .actor import AttemptLedger, ImageWorker
from .manifest import write_manifest
from .params import RayParams

CONNECT_HINT = (
    "check --address or RAY_ADDRESS (auto or HOST:PORT) and, when the cluster uses token "
    "authentication, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH"
)
#: Blocks of one batch at most: each is an object the driver puts in the object store
#: (from_items of 100,000 rows: 4 s as 1,000 blocks, 67 s as 25,000 on a 2-core machine).
#: A block is also what runs again after its worker died, so blocks stay as small as
#: this allows (``batch`` rows at least).
MAX_BLOCKS = 1000
#: Seconds the driver waits, after stopping the pool, for writes that were under way to
#: end (finished, or their worker killed) before it removes what they left (no write
#: starts after the stop: see :class:`~stylepipe_ray.actor.AttemptLedger`).
STOP_WAIT = 15.0
_ERROR_LINE = re.compile(r"(?m)^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception)): (.+)$")


class RaySession:
    """A connection to Ray and the batch's ledger, worker spec and actor pool size."""

    def __init__(self, params: RayParams, batch: BatchRun, owns: bool) -> None:
        self.params, self.batch, self.owns = params, batch, owns
        self.manifest_mode = len(batch.pending) > params.manifest_over
        most = default_actors(params, spare_cpu=self.manifest_mode)
        self.actors = params.actors or most
        if self.manifest_mode and self.actors > most and params.num_cpus > 0:
            batch.warn(
                f"actors={self.actors} would hold every CPU of the cluster, and Ray Data needs "
                f"one to read the manifest: using {most}"
            )
            self.actors = most
        neural = bool(batch.summary.models)
        threads = max(1, math.floor(params.num_cpus)) if neural else None
        self.spec = WorkerSpec.for_batch(batch, threads=threads)
        self.ledger: Any = AttemptLedger.remote()  # type: ignore[attr-defined]
        self.manifest: Path | None = None

    @classmethod
    def start(cls, params: RayParams, batch: BatchRun) -> RaySession:
        """Connect (or reuse this process's connection) and get ready for ``batch``."""
        owns = connect(params.address)
        try:
            return cls(params, batch, owns)
        except BaseException:
            if owns:
                ray.shutdown()
            raise

    def run(self, batch: BatchRun) -> None:
        """Stream the result rows into ``batch`` until done or ``batch.stopping``."""
        rows = iter(self.dataset(batch).iter_rows())
        try:
            while not batch.stopping:
                try:
                    row = next(rows)
                except StopIteration:
                    break
                except Exception as exc:  # RayError, Ray Data's own: the Ray side failed
                    raise ray_failure(exc) from None
                batch.record_row(row)
        finally:
            self.stop_writes()
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # stops the streaming execution and its actor pool

    def stop_writes(self) -> None:
        """No image begins, and none is written, from now on (the actors ask the
        ledger); then only writes already under way can leave temporary files."""
        with contextlib.suppress(Exception):  # the ledger went with a lost cluster
            ray.get(self.ledger.stop.remote(), timeout=30)

    def dataset(self, batch: BatchRun) -> ray.data.Dataset:
        """Rows of paths -> blocks -> the actor pool, ``batch`` rows a call -> result rows.

        ``from_items`` blocks need no Ray task, so the pool may take every CPU; reading
        and cutting a manifest does need tasks, hence the CPU the pool leaves then
        (:func:`default_actors`)."""
        quiet_ray_data()
        count = len(batch.pending)
        per_block = block_rows(count, self.params.batch, self.actors)
        self.actors = min(self.actors, math.ceil(count / per_block))  # no idle actors
        if self.manifest_mode:
            self.manifest = write_manifest(batch.rows(), batch.job.output_root)
            rows = ray.data.read_parquet(str(self.manifest))
            rows = rows.repartition(target_num_rows_per_block=per_block)
        else:
            blocks = math.ceil(count / per_block)
            rows = ray.data.from_items(list(batch.rows()), override_num_blocks=blocks)
        return rows.map_batches(
            ImageWorker,
            fn_constructor_kwargs={
                "spec": self.spec,
                "ledger": self.ledger,
                "retries": self.params.retries,
            },
            batch_size=min(self.params.batch, per_block),  # larger would merge blocks
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=self.actors),
            num_cpus=self.params.num_cpus,
            num_gpus=self.params.num_gpus or None,
            udf_modifying_row_count=False,
        )

    def close(self) -> None:
        """Stop the ledger, delete the manifest, shut down a Ray instance started here,
        then remove the temporary files of workers that died mid-write."""
        with contextlib.suppress(Exception):  # already gone with its cluster
            ray.kill(self.ledger)
        if self.manifest is not None:
            self.manifest.unlink(missing_ok=True)
        if self.owns:
            ray.shutdown()
        removed = self.batch.remove_stale_temps(wait=STOP_WAIT)
        if removed:
            files = "file" if removed == 1 else "files"
            self.batch.warn(f"removed {removed} temporary {files} of Ray workers that died")


def connect(address: str | None) -> bool:
    """Connect to ``address``, else ``$RAY_ADDRESS``, else start a local Ray instance;
    returns whether this call started the connection (False: this process already had
    one, which is used as it is)."""
    if ray.is_initialized():
        return False
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    options: dict[str, Any] = {"include_dashboard": False} if target == "local" else {}
    try:
        ray.init(
            address=target,
            logging_level=logging.WARNING,
            log_to_driver=False,
            **options,
        )
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, AuthenticationError
        raise UsageError(
            f"cannot connect to the Ray cluster at {target}: {_one_line(str(exc))}",
            hint=CONNECT_HINT,
        ) from None
    return True


def block_rows(count: int, batch: int, actors: int) -> int:
    """Rows per block: ``batch``, fewer when there are too few inputs to give every actor
    one block, more when ``batch`` would make over :data:`MAX_BLOCKS` blocks."""
    return max(math.ceil(count / MAX_BLOCKS), min(batch, math.ceil(count / actors)), 1)


def default_actors(params: RayParams, *, spare_cpu: bool) -> int:
    """As many actors as the cluster's CPUs (and GPUs, when asked for) hold, less one
    CPU when Ray Data must run tasks of its own beside the pool (reading a manifest):
    a pool holding every CPU would wait for them forever."""
    resources = ray.cluster_resources()
    cpus = resources.get("CPU", 1.0) - (1.0 if spare_cpu else 0.0)
    counts = []
    if params.num_cpus > 0:
        counts.append(cpus / params.num_cpus)
    if params.num_gpus > 0:
        counts.append(resources.get("GPU", 0.0) / params.num_gpus)
    return max(1, int(min(counts))) if counts else 1


def quiet_ray_data() -> None:
    """No Ray Data progress bars or banners: the batch has its own progress display."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    # ... nor the notice that they are off
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


def ray_failure(exc: BaseException) -> StylepipeError:
    """A one-line error for a failure of the Ray side (a worker that could not start,
    a lost cluster): the last ``SomethingError: message`` line of Ray's report."""
    found = _ERROR_LINE.findall(str(exc))
    if found and found[-1][0] == "UsageError":  # a worker that does not match the driver
        return StylepipeError(found[-1][1])
    detail = f"{found[-1][0]}: {found[-1][1]}" if found else _one_line(str(exc))
    return StylepipeError(f"the Ray workers failed: {detail}")


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "no details"
