"""`shotcrop compose --ray`: the driver of a run on a Ray cluster.

It connects (`local`: a cluster of this machine, started and stopped here; else an address
such as `auto`, `10.0.0.5:6379` or `ray://head:10001`), reads the listing, leaves out what
`--resume` finds done, sends the rest through `stage.compose_dataset` (or `llm` for the vLLM
engine), and streams the results back: each photo's line is appended to the run's record
(`journal`) and handed to the CLI as an `Outcome`, so the CLI prints and counts as it does for
a run in one process. Progress is Ray Data's own.
"""

from __future__ import annotations

import logging
import os
from typing import Iterable, Iterator

from ..batch import ComposeRun, Outcome
from ..errors import ShotCropError
from ..pipeline import EngineSpec
from ..shots import ShotSet
from .journal import Journal
from .ray_module import require_ray

log = logging.getLogger("shotcrop")


def compose_on_ray(run: ComposeRun, sources: Iterable[str], list_file: str | None = None, *,
                   address: str = "local", engine: EngineSpec | None = None,
                   workers: int | None = None, gpus_per_worker: float | None = None,
                   column: str | None = None, records: str = "jsonl") -> Iterator[Outcome]:
    """Every photo's Outcome (as results arrive, not in input order); see the module doc."""
    ray = require_ray()  # first: pyarrow comes with it
    import pyarrow.compute as pc

    from .listing import read_listing

    if engine is not None and engine.kind == "vllm":
        from .llm import require_llm

        require_llm(here=address == "local")
    table = read_listing(sources, list_file, column)  # a bad listing stops us before Ray
    journal = Journal(run.out, records) if run.write else None
    done = journal.open(resume=run.resume, force=run.force) if journal else set()
    started = _connect(ray, address)  # the record is written from the first result on
    try:
        if done:
            finished = pc.is_in(table["image"], value_set=_strings(done))
            recorded = table.filter(finished)
            for image, index in zip(recorded["image"].to_pylist(),
                                    recorded["index"].to_pylist()):
                yield Outcome(index, image, skipped=True)
            table = table.filter(pc.invert(finished))
        if table.num_rows:
            yield from _stream(ray, table, run, engine, workers, gpus_per_worker, journal)
    finally:
        if journal:
            journal.close()
        if started:
            ray.shutdown()


def _strings(values: set[str]):
    """An Arrow array of the strings, for pyarrow.compute.is_in."""
    import pyarrow as pa

    return pa.array(sorted(values), pa.string())


def _connect(ray, address: str) -> bool:
    """Join the cluster (True: this run started it and stops it)."""
    if ray.is_initialized():
        return False
    quiet = dict(include_dashboard=False, logging_level=logging.WARNING,
                 configure_logging=True, log_to_driver=True)
    try:
        if address == "local":
            ray.init(address="local", **quiet)  # a new cluster, even beside a running one
        else:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    except Exception as e:  # noqa: BLE001  connection errors come as many types
        raise ShotCropError(f"cannot reach the Ray cluster at {address!r} ({type(e).__name__}: "
                            f"{e}): start one with `ray start --head`, give its address "
                            "(host:6379, or ray://host:10001), or use --ray local") from None
    return True


def _stream(ray, table, run: ComposeRun, engine: EngineSpec | None, workers,
            gpus_per_worker, journal: Journal | None) -> Iterator[Outcome]:
    from .stage import WORKER_FAILED, Pool, batch_size_for, compose_dataset

    pool = Pool.plan(run, engine, workers, gpus_per_worker, scale=False)  # no reads to wait for
    # Batches small enough that every actor gets some, blocks of one batch, cut here rather
    # than by a repartition task, so every CPU can go to the actors.
    batch = max(1, min(batch_size_for(engine), -(-table.num_rows // pool.most)))
    ds = ray.data.from_arrow([table.slice(k, batch) for k in range(0, table.num_rows, batch)])
    if engine is not None and engine.kind == "vllm":
        from .llm import compose_with_llm

        out = compose_with_llm(ds, run, engine, pool=pool, cwd=os.getcwd())
    else:
        out = compose_dataset(ds, run, engine, pool=pool, batch_size=batch, cwd=os.getcwd())
    try:
        for batch in out.iter_batches(batch_size=None, batch_format="pyarrow"):
            rows = batch.to_pylist()
            failed = next((r["error"] for r in rows if (r["error"] or "").startswith(
                WORKER_FAILED)), None)
            if failed:  # a model that will not load: stop, as compose does
                raise ShotCropError(failed)
            if journal:
                journal.write(_line(r) for r in rows if r["shots"] or not r["skipped"])
            for r in rows:
                yield _outcome(r)
    except ShotCropError:
        raise
    except Exception as e:  # noqa: BLE001  Ray wraps a worker's error in its own types
        raise ShotCropError(_cause(e)) from None


def _line(row: dict) -> str:
    import json

    if row["shots"]:
        return row["shots"]
    return json.dumps({"image": row["image"], "error": row["error"]}, ensure_ascii=False)


def _outcome(row: dict) -> Outcome:
    shots = ShotSet.from_json(row["shots"]) if row["shots"] and not row["skipped"] else None
    return Outcome(row["index"], row["image"], shots, row["error"], bool(row["skipped"]))


def _cause(e: BaseException) -> str:
    """The first line worth reading of a Ray failure: our own message where there is one."""
    cause = getattr(e, "cause", None)
    while cause is not None and not isinstance(cause, ShotCropError):
        cause = getattr(cause, "cause", None) or cause.__cause__
    if isinstance(cause, ShotCropError):
        return str(cause)
    text = str(e).strip().splitlines()
    last = next((t for t in reversed(text) if t.strip()), type(e).__name__)
    return (f"the Ray job failed: {last.strip()} (the photos before it are recorded; run "
            "again with --resume to carry on)")


__all__ = ["compose_on_ray"]
