"""What runs on the cluster: the actor class Ray Data's ``map_batches`` instantiates once
per actor, and the small ledger that bounds retries after worker crashes.

Ray Data restarts an actor whose process died and runs its lost task again (its
defaults: ``max_restarts=-1``, ``max_task_retries=-1``). In Ray 2.60 the only way to
bound those per ``map_batches`` is ``**ray_remote_args``, deprecated there (to be removed
in 2.64), and Ray Data's own retry options (``max_map_retries``,
``actor_task_retry_on_errors``) cover exceptions, not a dead process. So the bound is
per image instead: before an image is processed its attempt is noted in the
:class:`AttemptLedger`, and after it is done the note is cleared. An image whose earlier
attempts never finished (each took its worker down: a decoder's segfault, the OOM
killer) is not tried more than ``retries`` times again; it becomes that file's failure
and the batch goes on. When the driver stops the batch (``--fail-fast``, a full disk,
Ctrl-C) it tells the ledger first: no image begins, and none is written, after that.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import ray

from stylepipe import Worker, WorkerSpec, failed_row

RESULTS = pa.schema(
    [
        ("index", pa.int64()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("seconds", pa.float64()),
        ("stop", pa.string()),
        ("warnings", pa.string()),
    ]
)


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class AttemptLedger:
    """Attempts begun and not finished, per input index (finished ones are forgotten,
    so it holds only the images in flight and those whose workers died); and whether
    the driver has stopped the batch, after which nothing begins or is written."""

    def __init__(self) -> None:
        self.unfinished: dict[int, int] = {}
        self.stopped = False

    def begin(self, index: int) -> int:
        """Note an attempt at ``index``; returns its number (1 for the first), or 0
        once the batch has stopped."""
        if self.stopped:
            return 0
        attempt = self.unfinished.get(index, 0) + 1
        self.unfinished[index] = attempt
        return attempt

    def end(self, index: int) -> None:
        self.unfinished.pop(index, None)

    def stop(self) -> None:
        self.stopped = True

    def proceed(self) -> bool:
        return not self.stopped


class ImageWorker:
    """The callable class of ``map_batches``: one :class:`stylepipe.Worker` per actor
    (plugins, pipeline and models loaded once, checked against the driver's), then the
    unit of work per row."""

    def __init__(self, spec: WorkerSpec, ledger: Any, retries: int) -> None:
        self.worker = Worker(spec)
        self.ledger, self.retries = ledger, retries

    def __call__(self, batch: pa.Table) -> pa.Table:
        results = [self._one(row) for row in batch.to_pylist()]
        return pa.Table.from_pylist(results, schema=RESULTS)

    def _one(self, row: dict[str, Any]) -> dict[str, Any]:
        index = int(row["index"])
        attempt = ray.get(self.ledger.begin.remote(index))
        if attempt == 0:  # the driver stopped: nobody reads this any more
            return failed_row(index, "not processed: the batch stopped")
        if attempt > self.retries + 1:
            died = attempt - 1
            result = failed_row(
                index,
                f"the Ray worker process died while processing this file, {died} "
                f"time{'s' if died > 1 else ''}; not tried again",
            )
        else:
            result = self.worker.process_row(row, self._proceed)
        self.ledger.end.remote(index)  # ordered after begin: calls to one actor keep order
        return result

    def _proceed(self) -> bool:
        return bool(ray.get(self.ledger.proceed.remote()))
