"""Composing many photos: which files a run means, and running them on every core, in order.

* `expand_inputs`: folders (their image files, sorted), globs and list files (one path a line,
  `-` for stdin) to a lazy stream of paths, so a catalogue of millions never sits in memory.
* `ComposeRun`: the settings of a `shotcrop compose` run, small and picklable, so each worker
  process builds its own pipeline (models loaded once per worker, never once per photo).
* `compose_many`: the run's results in input order. One worker: the pipeline in this process.
  Several: a process pool with at most `window` photos in flight, so memory stays flat; each
  worker decodes, perceives, frames and writes its photo's files, and sends back only the
  small result (no pixels).
* `--resume` support: `previous_outputs` tells what an earlier run left of a photo (all its
  files, a photo cut halfway, or nothing of ours).
"""

from __future__ import annotations

import glob
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import ShotCropError
from .framing import FramingOptions
from .uris import is_uri

#: Files a folder contributes (what PIL reads and we write back in kind).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
#: Preview formats: JPEG is the cheap default (a 1 MP PNG costs about 100 ms to encode).
PREVIEWS = ("jpg", "png", "none")


def expand_inputs(items: Iterable[str], list_file: str | None = None) -> Iterator[str]:
    """Paths, folders (their image files, sorted by name, not recursive), globs, and the lines
    of `list_file` (`-`: stdin; blank lines and `#` comments skipped), lazily, in order."""
    for item in items:
        p = Path(item)
        if p.is_dir():
            try:
                names = sorted(e.name for e in os.scandir(p) if e.is_file() and _is_image(e.name))
            except OSError as e:
                raise ShotCropError(f"cannot list the folder {p}: {e.strerror or e}") from None
            yield from (str(p / n) for n in names)
        elif is_uri(item):  # s3://, http(s)://: read where it lives ('?' and '[' are no glob)
            yield item
        elif not p.exists() and glob.has_magic(item):
            matches = sorted(m for m in glob.iglob(item, recursive=True)
                             if _is_image(m) and os.path.isfile(m))
            if not matches:
                raise ShotCropError(f"{item}: no image file matches this pattern")
            yield from matches
        else:
            yield item  # a file, or a missing path: its own error, the batch goes on
    if list_file is not None:
        yield from _list_lines(list_file)


def _is_image(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def count_inputs(items: Iterable[str], list_file: str | None = None) -> int | None:
    """How many photos `expand_inputs` will give (a first pass over folders, globs and a list
    file, nothing kept): for the progress bar's time left, the number of workers, and to stop a
    bad pattern, folder or list before any photo is composed. None when the list is a stream
    (stdin, a pipe) that cannot be read twice; no photo at all is an error."""
    streamed = list_file is not None and (list_file == "-" or (
        os.path.exists(list_file) and not os.path.isfile(list_file)))
    n = sum(1 for _ in expand_inputs(items, None if streamed else list_file))
    if streamed:
        return None
    if n == 0:
        raise ShotCropError("no photos to compose: the folders hold no image files "
                            f"({', '.join(sorted(IMAGE_SUFFIXES))}) and the list is empty")
    return n


#: Photos a worker process must have to be worth starting (a fresh interpreter, its imports
#: and its models cost about what 15-30 photos do).
PHOTOS_PER_WORKER = 32
#: Windows' process pools stop at 61 workers; more would not help a photo stream anyway.
MAX_WORKERS = 61


def default_workers(total: int | None) -> int:
    """One worker per core, but no more than the photos can use (None: a stream from stdin)."""
    cores = min(os.cpu_count() or 1, MAX_WORKERS)
    if total is None:
        return cores
    return max(1, min(cores, total // PHOTOS_PER_WORKER))


def _list_lines(list_file: str) -> Iterator[str]:
    if list_file == "-":
        f = sys.stdin
    else:
        try:
            f = open(list_file, encoding="utf-8")
        except OSError as e:
            raise ShotCropError(f"cannot read the list of photos {list_file}: {e}") from None
    try:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                yield line
    except UnicodeDecodeError:
        raise ShotCropError(f"the list of photos {list_file} is not UTF-8 text: one path a "
                            "line") from None
    finally:
        if f is not sys.stdin:
            f.close()


@dataclass(frozen=True)
class ComposeRun:
    """A compose run's settings: everything a worker needs to build the same pipeline."""

    out: str = "shotcrop_out"
    perception: str = "auto"
    keypoints: str | None = None
    device: str = "auto"
    framing: FramingOptions = field(default_factory=FramingOptions)
    force: bool = False
    write: bool = True
    preview: str = "jpg"
    resume: bool = False
    #: How a shot past the photo is padded ("edge" or a colour) and its mask feathered (px).
    outpaint: str = "edge"
    feather: int = 0
    #: Captioners' text for the descriptions (`captions.Captions`).
    captions: Any = None

    def __post_init__(self) -> None:
        from .outpaint import check_feather, parse_fill

        if self.preview not in PREVIEWS:
            raise ShotCropError(f"preview {self.preview!r}: use one of {', '.join(PREVIEWS)}")
        parse_fill(self.outpaint)  # a bad colour fails before any photo
        check_feather(self.feather)


@dataclass
class Outcome:
    """One photo's result as the caller sees it (no pixels): shots or an error, or skipped."""

    index: int
    name: str
    shots: Any = None                # ShotSet
    error: str | None = None
    skipped: bool = False            # --resume: its outputs were all there

    @property
    def ok(self) -> bool:
        return self.error is None


def outputs_present(path: str, run: ComposeRun) -> bool:
    """Whether every file this photo would get is already in the output folder (--resume)."""
    return previous_outputs(path, run) == "complete"


def previous_outputs(path: str, run: ComposeRun) -> str:
    """What an earlier run left of this photo in the output folder (--resume):

    - "complete": its JSON holds its shot set (written last) and its other files are there;
    - "partial": its JSON is the marker naming it (written first: a run killed while writing
      this photo), or holds its shot set with a file missing: --resume writes them again;
    - "none": no JSON, or the JSON of another photo of the same stem (a/x.jpg, b/x.jpg), or a
      file not ours: writing then refuses where a file is, as without --resume.

    The JSON is read first: a photo without one costs a stat, not a header read (for a photo
    by URI, a download)."""
    from .export import WRITING, json_path, output_paths
    from .imageio import probe

    marker = json_path(path, Path(run.out))
    try:
        d = json.loads(marker.read_text(encoding="utf-8"))
        named = d.get("image")
    except (OSError, ValueError, AttributeError):
        return "none"
    if named != str(path):
        return "none"
    if d.get(WRITING):
        return "partial"
    try:
        paths = output_paths(probe(path), Path(run.out), preview=run.preview)
    except ShotCropError:
        return "none"
    return "complete" if all(p.exists() for p in paths.values()) else "partial"


# -- the work -----------------------------------------------------------------------------------
_PIPE = None  # the pipeline of this process (a worker's, or the caller's with one worker)


def build_pipeline(run: ComposeRun, engine: Any = None):
    """The run's pipeline: its people source (a pose model loads here) and `engine` (None: the
    framing engine; else a loaded VLM engine)."""
    from .pipeline import Pipeline, people_source

    people = people_source(run.perception, run.keypoints, run.device)  # loads a pose model
    return Pipeline(people, run.framing, engine, keep_images=run.write, captions=run.captions)


def write_outcome(run: ComposeRun, r, rewrite: bool = False) -> Outcome:
    """A pipeline result's files written (unless the run writes none), as an Outcome;
    `rewrite`: over the partial files of a run cut short (--resume)."""
    from .pipeline import write_result

    if run.write:
        write_result(r, run.out, force=run.force or rewrite, preview=run.preview,
                     outpaint=run.outpaint, feather=run.feather)
    return Outcome(r.index, r.name, r.shots if r.ok else None, r.error)


def resume_state(run: ComposeRun, path: Any) -> str:
    """`previous_outputs` under --resume for a photo given by path ("none" otherwise)."""
    if not run.resume or not isinstance(path, (str, Path)):
        return "none"
    return previous_outputs(str(path), run)


_INIT_ERROR: str | None = None  # why this worker could not build its pipeline


class WorkerError(ShotCropError):
    """A worker process could not start (its model would not load): the run stops."""


def _init_worker(run: ComposeRun, workers: int) -> None:
    global _PIPE, _INIT_ERROR
    # Each worker gets its share of the cores, also when a model loads later (read by torch
    # at import): N workers x all threads would oversubscribe.
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    try:
        _PIPE = build_pipeline(run)
    except Exception as e:  # noqa: BLE001  reported with the first photo; the run stops
        _INIT_ERROR = str(e) if isinstance(e, ShotCropError) else f"{type(e).__name__}: {e}"


def _one(run: ComposeRun, index: int, path: str) -> Outcome:
    """Compose one photo in this process's pipeline and write its files."""
    if _INIT_ERROR is not None:
        raise WorkerError(_INIT_ERROR)
    before = resume_state(run, path)
    if before == "complete":
        return Outcome(index, path, skipped=True)
    try:
        (r,) = _PIPE.run_one(index, path)
        return write_outcome(run, r, rewrite=before == "partial")
    except Exception as e:  # noqa: BLE001  one photo's unexpected failure must not end the run
        return Outcome(index, path, error=f"{path}: unexpected error: {type(e).__name__}: {e}")


def compose_many(run: ComposeRun, photos: Iterable[str], workers: int = 1,
                 window: int | None = None, engine: Any = None) -> Iterator[Outcome]:
    """Every photo's outcome, in input order, `workers` processes at a time. A VLM `engine`
    runs in this process (one model, batched photos), whatever `workers` says."""
    global _PIPE
    workers = max(1, min(int(workers), MAX_WORKERS))
    if engine is not None or workers == 1:
        _PIPE = build_pipeline(run, engine)  # a missing model fails here, once
        if _PIPE.chunk_size > 1:  # a VLM, or pose models on a GPU: photos go in batches
            yield from compose_indexed(run, _PIPE, enumerate(photos))
        else:
            for index, path in enumerate(photos):
                yield _one(run, index, path)
        return
    _check(run)  # fail fast in the caller, without loading a model it would not use
    yield from _ordered_pool(run, photos, workers, window or 4 * workers)


def _check(run: ComposeRun) -> None:
    """What can be checked without a model: the perception name, the keypoint file, and that
    a pose model could run at all (PyTorch present). Model files are the workers' to load; a
    worker that cannot is reported by `_ordered_pool`."""
    import importlib.util

    from .perception import BACKENDS
    from .pipeline import people_source

    model = run.perception in (*BACKENDS, "auto")
    people_source("none" if model else run.perception, run.keypoints, run.device)
    if model and importlib.util.find_spec("torch") is None:
        people_source(run.perception, run.keypoints, run.device)  # the usual "install torch"


def compose_indexed(run: ComposeRun, pipe, items: Iterable[tuple[int, Any]]
                    ) -> Iterator[Outcome]:
    """Outcomes of (index, photo) pairs in order, through `pipe` in its batches (chunk_size
    photos at a time), files written as the run says. A photo is a path, a URI or an image
    (`Pipeline.run`). Photos already done (--resume) keep their place in the order without
    waiting for a batch; an unexpected failure fails its batch's photos, never the run."""
    from .pipeline import photo_name

    pending: list = []  # in input order: (index, photo) to compose, or a skipped Outcome
    rewrite: list[bool] = []  # per photo to compose: a cut run left its files (--resume)
    todo = 0

    def flush() -> Iterator[Outcome]:
        work = [x for x in pending if isinstance(x, tuple)]
        try:
            results = list(pipe.run(work, indexed=True))  # one result per photo, in order
            done = [write_outcome(run, r, rewrite=again) for r, again in zip(results, rewrite)]
        except Exception as e:  # noqa: BLE001  one batch's unexpected failure must not end the run
            done = [Outcome(i, photo_name(p, i), error=f"{photo_name(p, i)}: unexpected "
                                                       f"error: {type(e).__name__}: {e}")
                    for i, p in work]
        done_iter = iter(done)
        for x in pending:
            yield x if isinstance(x, Outcome) else next(done_iter)

    for index, photo in items:
        before = resume_state(run, photo)
        if before == "complete":
            skipped = Outcome(index, photo_name(photo, index), skipped=True)
            if not todo:  # nothing before it is waiting: report it now
                yield skipped
            else:
                pending.append(skipped)
            continue
        rewrite.append(before == "partial")
        pending.append((index, photo))
        todo += 1
        if todo >= pipe.chunk_size:
            yield from flush()
            pending, rewrite, todo = [], [], 0
    yield from flush()


def _ordered_pool(run: ComposeRun, photos: Iterable[str], workers: int,
                  window: int) -> Iterator[Outcome]:
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fresh interpreter per worker (fork would copy a loaded model and its threads).
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(run, workers)) as pool:
            pending: deque = deque()
            for index, path in enumerate(photos):
                pending.append(pool.submit(_one, run, index, path))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    except BrokenProcessPool:
        raise WorkerError("a worker process died (killed, or out of memory): the photos before "
                          "it are written; run again with --resume to carry on, or with fewer "
                          "--workers") from None


__all__ = ["ComposeRun", "IMAGE_SUFFIXES", "Outcome", "WorkerError", "PHOTOS_PER_WORKER",
           "PREVIEWS", "build_pipeline", "compose_indexed", "compose_many", "count_inputs",
           "default_workers", "expand_inputs", "outputs_present", "previous_outputs",
           "resume_state", "write_outcome"]
