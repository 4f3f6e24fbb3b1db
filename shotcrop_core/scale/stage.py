"""The Ray Data stage: photos in, shot sets out, on a pool of actors that each load the models once.

`compose_dataset` is the Python entry: a Ray Dataset of photos (paths or URIs in `image`, or
decoded images in `image` with their names in `path`, as `ray.data.read_images(...,
include_paths=True)` gives) -> a Dataset of shot sets, one row per photo:

    image (str)   the photo's path or name
    index (int)   its place in the input (keypoint files matched by position need it)
    shots (str)   the shot set as one JSON line, the line `compose --json` prints; null on error
    error (str)   why the photo has no shots; null when it has
    skipped (bool) --resume: its files were there already (`shots` read back from them)

Every actor runs `batch.compose_indexed`, the same code as `shotcrop compose` in one process,
so its boxes are the same; a photo's failure is its row's `error`, never a failed job.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..batch import ComposeRun, Outcome, build_pipeline, compose_indexed
from ..errors import ShotCropError
from ..pipeline import EngineSpec, photo_name
from .ray_module import require_ray

COLUMNS = ("image", "index", "shots", "error", "skipped")
#: How a photo's error starts when its actor could not build the pipeline (a model that will
#: not load): `shotcrop compose --ray` stops there, as compose does.
WORKER_FAILED = "a Ray worker could not start: "
#: Photos per actor call on the CPU: enough to hide Ray's per-call cost (~ms), few enough
#: that a lost actor costs little work.
CPU_BATCH = 16


class ComposeActor:
    """One actor of the pool: builds the run's pipeline (models loaded once), then composes
    batches of photos (`__call__`, a Ray Data UDF)."""

    def __init__(self, run: ComposeRun, engine: EngineSpec | None = None,
                 cwd: str | None = None) -> None:
        self.away = enter(cwd)
        self.run, self.error = run, None
        if run.write and not os.path.isdir(os.path.dirname(os.path.abspath(run.out))):
            self.error = (f"the output folder {run.out} is not on this node: --out must be a "
                          "folder every node of the cluster mounts")
            return
        try:
            self.pipe = build_pipeline(run, engine.load() if engine is not None else None)
        except Exception as e:  # noqa: BLE001  raised with the first batch, naming the cause
            self.error = str(e) if isinstance(e, ShotCropError) else f"{type(e).__name__}: {e}"

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        photos = list(photos_of(batch, self.away))  # a row that is no photo: its error
        if self.error is not None:  # each photo says so (the driver stops at the first)
            return rows_of(self.run, [p if isinstance(p, Outcome) else Outcome(
                p[0], photo_name(p[1], p[0]), error=WORKER_FAILED + self.error)
                for p in photos])
        done = iter(compose_indexed(self.run, self.pipe,
                                    [p for p in photos if not isinstance(p, Outcome)]))
        return rows_of(self.run, [p if isinstance(p, Outcome) else next(done)
                                   for p in photos])


def enter(cwd: str | None) -> str | None:
    """Work in the driver's folder `cwd`, so that relative paths (photos, --out, --keypoints)
    mean there what they mean to the user; None, or `cwd` when this node has no such folder."""
    if not cwd:
        return None
    if os.path.isdir(cwd):
        os.chdir(cwd)
        return None
    return cwd


def photos_of(batch: dict[str, Any], away: str | None = None):
    """(index, photo) pairs: paths or URIs as strings, arrays as named in-memory images; an
    Outcome with its error for a row that holds no photo, or a relative path on a node that
    lacks the driver's folder `away`."""
    from PIL import Image

    from ..imageio import from_memory
    from ..uris import is_uri

    if "image" not in batch:
        raise ShotCropError(f"the dataset has no 'image' column (it has {', '.join(batch)}): "
                            "give each photo's path, URI or pixels in 'image'")
    images = batch["image"]
    n = len(images)
    indexes = batch.get("index")
    names = batch.get("path")
    for k in range(n):
        index = int(indexes[k]) if indexes is not None else -1
        photo = images[k]
        if isinstance(photo, (str, np.str_)):
            photo = str(photo)
            if away and not is_uri(photo) and not os.path.isabs(photo):
                yield Outcome(index, photo, error=f"{photo}: a relative path, but this Ray node "
                              f"has no folder {away} (the driver's): give absolute paths on "
                              "a file system every node mounts, or URIs")
            else:
                yield index, photo
            continue
        name = str(names[k]) if names is not None else f"image {index}"
        try:
            pixels = np.asarray(photo)
            if pixels.dtype != np.uint8:
                raise ShotCropError(f"{name}: expected 8-bit pixels, got {pixels.dtype}")
            yield index, from_memory(Image.fromarray(pixels), name)
        except (ShotCropError, TypeError, ValueError) as e:
            yield Outcome(index, name, error=str(e) if name in str(e) else f"{name}: {e}")


def row_of(run: ComposeRun, o: Outcome) -> dict:
    """One photo's row (see the module doc), as plain Python values."""
    shots = (o.shots.to_json(image=o.name) if o.ok and o.shots else
             _written_line(run, o) if o.skipped else None)
    return {"image": o.name, "index": o.index, "shots": shots, "error": o.error,
            "skipped": o.skipped}


def rows_of(run: ComposeRun, outcomes: list[Outcome]) -> dict[str, np.ndarray]:
    """The photos' rows as a Ray Data batch (a column each)."""
    rows = [row_of(run, o) for o in outcomes]
    types = {"index": np.int64, "skipped": bool}
    return {c: np.array([r[c] for r in rows], dtype=types.get(c, object)) for c in COLUMNS}


def _written_line(run: ComposeRun, o: Outcome) -> str | None:
    """A skipped photo's shot set, read back from its JSON file (for the run's record)."""
    from ..export import json_path

    try:
        text = json_path(o.name, Path(run.out)).read_text(encoding="utf-8")
        return json.dumps(json.loads(text), ensure_ascii=False)
    except (OSError, ValueError):
        return None


def absolute(run: ComposeRun) -> ComposeRun:
    """The run with its folder and keypoint file as absolute paths: the same for every actor,
    wherever it runs."""
    out = os.path.abspath(run.out) if run.write else run.out
    kp = os.path.abspath(run.keypoints) if isinstance(run.keypoints, str) else run.keypoints
    return replace(run, out=out, keypoints=kp)


@dataclass(frozen=True)
class Pool:
    """The actor pool of a run: how many actors (or a (min, max) range Ray Data scales in), and
    the GPUs each takes."""

    workers: int | tuple[int, int]
    gpus_per_worker: float
    #: CPUs each actor takes: Ray gives an actor as many threads as CPUs (OMP_NUM_THREADS),
    #: so a fixed pool on the CPU shares the cluster's CPUs out (a node's at most).
    cpus_per_worker: float = 1.0

    @classmethod
    def plan(cls, run: ComposeRun, engine: EngineSpec | None = None,
             workers: int | tuple[int, int] | None = None,
             gpus_per_worker: float | None = None, scale: bool = True) -> "Pool":
        """Defaults from the cluster: one actor per GPU when it has GPUs and a model runs (not
        pinned to the CPU), else one per CPU (`scale`: a (1, CPUs) range, which leaves CPUs for
        the reads of a caller's dataset)."""
        ray = require_ray()
        resources = ray.cluster_resources()
        gpus = float(resources.get("GPU", 0))
        models = run.perception not in ("keypoints", "none") or (
            engine is not None and engine.kind != "framing")
        on_cpu = str(engine.device if engine else run.device).startswith("cpu")
        if gpus_per_worker is None:
            gpus_per_worker = 1.0 if gpus and models and not on_cpu else 0.0
        if gpus_per_worker < 0:
            raise ShotCropError(f"GPUs per worker {gpus_per_worker}: give 0 or more")
        most = max((n["Resources"].get("GPU", 0) for n in ray.nodes() if n["Alive"]),
                   default=0)
        if gpus_per_worker > most:  # Ray would wait for such a node forever
            raise ShotCropError(f"{gpus_per_worker:g} GPU(s) per worker, but "
                                + (f"the most a node of this cluster has is {most:g}"
                                   if most else "this cluster has no GPU")
                                + ": ask for fewer, or 0 to run on the CPUs")
        if workers is None:
            cpus = max(1, int(resources.get("CPU", 1)))
            workers = (max(1, int(gpus // gpus_per_worker)) if gpus_per_worker
                       else (1, cpus) if scale else cpus)
        elif isinstance(workers, int) and workers < 1:
            raise ShotCropError(f"workers {workers}: give 1 or more")
        cpus_each = 1
        if isinstance(workers, int) and not gpus_per_worker:
            nodes = [int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n["Alive"]]
            # The largest share that still places every actor on some node.
            cpus_each = next((s for s in range(max(nodes, default=1), 0, -1)
                              if sum(c // s for c in nodes) >= workers), 1)
        return cls(workers, gpus_per_worker, float(cpus_each))

    @property
    def most(self) -> int:
        return self.workers[1] if isinstance(self.workers, tuple) else self.workers

    def strategy(self):
        ray = require_ray()
        if isinstance(self.workers, tuple):
            return ray.data.ActorPoolStrategy(min_size=self.workers[0], max_size=self.workers[1])
        return ray.data.ActorPoolStrategy(size=self.workers)


def batch_size_for(engine: EngineSpec | None) -> int:
    """Photos per actor call: a VLM's generate batches, twice over; else CPU_BATCH."""
    if engine is not None and engine.kind != "framing" and engine.options is not None:
        return max(CPU_BATCH, 2 * engine.options.batch_size)
    return CPU_BATCH


def compose_dataset(ds, run: ComposeRun | None = None, engine: EngineSpec | None = None, *,
                    workers: int | tuple[int, int] | None = None,
                    gpus_per_worker: float | None = None, batch_size: int | None = None,
                    cwd: str | None = None, pool: Pool | None = None):
    """A Dataset of shot sets (see the module doc) from `ds`, a Dataset of photos.

    `run`: the compose settings (default: the built-in perception, no files written; with
    `run.write`, each photo's crops, preview and JSON go to `run.out`, which every node must
    reach). `engine`: None or an `EngineSpec` (each actor loads its own model). `workers`: the
    actor pool's size, or (min, max) to let Ray Data scale it; `gpus_per_worker`: GPUs per
    actor (0.25 packs four pose-model actors on a GPU); defaults from `Pool.plan`.
    `batch_size`: photos per actor call (default `batch_size_for`)."""
    run = absolute(run or ComposeRun(write=False))
    schema = ds.schema(fetch_if_missing=False)  # known without running anything, or None
    if schema is not None and "image" not in schema.names:
        raise ShotCropError(f"the dataset has no 'image' column (it has "
                            f"{', '.join(schema.names)}): give each photo's path, URI or "
                            "pixels in 'image' (and its name in 'path' for pixels)")
    pool = pool or Pool.plan(run, engine, workers, gpus_per_worker)
    return ds.map_batches(ComposeActor, fn_constructor_kwargs={
        "run": run, "engine": engine, "cwd": cwd or os.getcwd()},
        compute=pool.strategy(), batch_size=batch_size or batch_size_for(engine),
        batch_format="numpy", num_cpus=pool.cpus_per_worker,
        num_gpus=pool.gpus_per_worker or None)


__all__ = ["COLUMNS", "WORKER_FAILED", "ComposeActor", "Pool", "absolute", "batch_size_for",
           "compose_dataset", "enter", "photos_of", "row_of", "rows_of"]
