"""The one path from a photo to its shots: photo -> people -> subject -> shots -> outputs.

The CLI, the benchmark, every training stage, the ComfyUI nodes and the tools run photos through
`Pipeline.run`, so a rule decided here holds everywhere:

- Every photo is validated the same way (`imageio.load_image` for files, `imageio.from_memory`
  for images already in memory) and read only when its turn comes: photos stream, a few at a
  time, never all decoded at once.
- People come from one `PeopleSource`: a keypoint file, a pose model, or both. The policy for a
  photo the keypoint file does not name is `PeopleSource.uncovered` (see `people_source`).
- Landmarks from a pose model (ours, or a controlnet_aux POSE_KEYPOINT) are a few pixels off:
  their shots keep the extra edge clearance (`FramingOptions.ESTIMATED`); human keypoints do not.
- Shots come from the framing engine, or from a VLM engine whose answers the grammar repairs.
- Anything wrong with one photo becomes that photo's `PhotoResult.error`; the run goes on.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Sequence

from .captions import Caption, Captions, parse_caption
from .errors import ShotCropError
from .framing import FramingOptions
from .keypoints import Person
from .perception import DEFAULT_BACKEND, PERCEPTIONS_OR_NONE  # --perception choices, "none"
from .shots import ShotSet

if TYPE_CHECKING:
    from .imageio import LoadedImage
    from .vlm.backend import GenerationOptions
    from .perception import PoseEstimator
    from .perception.given import KeypointSource

log = logging.getLogger("shotcrop")

#: What a source does with a photo its keypoint file does not name.
Uncovered = Literal["error", "estimate", "nobody"]
#: Photos decoded at once per VLM batch (times its batch size): bounded memory.
CHUNK_BATCHES = 4
#: Photos per pose-model pass on a GPU (the framing engine).
PERCEPTION_BATCH = 8
#: With nothing to crop, a JPEG over twice this long side is decoded reduced (draft mode) to
#: at least this: the pose models see at most 416 px of the photo, a person crop a few hundred.
DRAFT_SIDE = 2048


# -- people --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    """The people of one photo and where they came from."""

    people: list[Person]
    #: From a pose model: a few pixels off, so edges keep extra clearance.
    estimated: bool
    #: A note for the shot set's warnings (e.g. landmarks estimated for a photo not in the file).
    note: str | None = None


class PeopleSource:
    """Given keypoints and a pose model behind one interface.

    `keypoints` (a `perception.given.KeypointSource`) or `frames` (per-image people, as ComfyUI
    hands POSE_KEYPOINT over) answer for the photos they cover. Every other photo is handled by
    `uncovered`: "estimate" asks `estimator` (a pose model, or a zero-argument callable that
    loads one on first use), "nobody" finds no one (the flagged no-person framing), "error"
    makes it an error for that photo. Without a file, `estimator` answers for every photo.
    `keypoints_estimated` says the file holds a pose model's output (POSE_KEYPOINT from
    DWPose/OpenPose), not human labels.
    """

    def __init__(self, keypoints: KeypointSource | None = None, estimator: Any = None, *,
                 uncovered: Uncovered = "error", keypoints_estimated: bool | None = None,
                 frames: Sequence[list[Person]] | None = None) -> None:
        if uncovered not in ("error", "estimate", "nobody"):
            raise ShotCropError(f"uncovered must be 'error', 'estimate' or 'nobody', got "
                                f"{uncovered!r}")
        self.keypoints, self.frames = keypoints, frames
        self._estimator = estimator
        self.uncovered = uncovered
        kind = getattr(keypoints, "kind", None)
        self.keypoints_estimated = (kind == "pose_keypoint" or frames is not None
                                    if keypoints_estimated is None else keypoints_estimated)

    @property
    def has_file(self) -> bool:
        return self.keypoints is not None or self.frames is not None

    @property
    def empty(self) -> bool:
        """Finds nobody anywhere (perception "none" without a file)."""
        return not self.has_file and (self._estimator is None or self.uncovered == "nobody")

    @property
    def estimator(self) -> PoseEstimator | None:
        """The pose model, loaded on first use."""
        if self._estimator is not None and not hasattr(self._estimator, "estimate"):
            self._estimator = self._estimator()  # a loader: a model used only when needed
        return self._estimator

    @property
    def name(self) -> str:
        parts = []
        if self.keypoints is not None:
            parts.append(f"keypoints from {self.keypoints.path}")
        if self.frames is not None:
            parts.append("POSE_KEYPOINT frames")
        if self._estimator is not None and self.uncovered != "nobody":
            model = getattr(self._estimator, "name", "the pose model")
            parts.append(f"{model} for the other photos" if parts else f"{model} perception")
        return ", ".join(parts) or "no landmarks"

    def covers(self, name: str | None, index: int) -> bool:
        """Whether the keypoint file (or the frames) answer for this photo."""
        if self.frames is not None:
            return 0 <= index < len(self.frames)
        return self.keypoints is not None and self.keypoints.covers(name, index)

    def needs_model(self, name: str | None, index: int) -> bool:
        """Whether this photo's people come from the pose model (`find` would run it)."""
        if self.covers(name, index) or self.uncovered == "nobody" or self._estimator is None:
            return False
        return not self.has_file or self.uncovered == "estimate"

    def find_batch(self, items: list[tuple[Any, int, str | None, tuple[int, int]]],
                   subject: tuple[int | None, str | None] = (None, None)
                   ) -> list[Found | ShotCropError]:
        """`find` for several photos ((image, index, name, size) each), the pose model running
        once over all that need it (a model with `estimate_batch` batches them: on a GPU, one
        pass). A photo's failure comes back as its ShotCropError, in its place."""
        out: list[Found | ShotCropError | None] = [None] * len(items)
        todo = []
        for k, (image, index, name, size) in enumerate(items):
            if self.needs_model(name, index) and hasattr(self.estimator, "estimate_batch"):
                todo.append(k)
                continue
            try:
                out[k] = self.find(image, index, name, size, subject=subject)
            except ShotCropError as e:
                out[k] = e
        if todo:
            try:
                est = self.estimator
                images = [items[k][0] for k in todo]
                batch = (est.estimate_batch(images, *subject)
                         if getattr(est, "takes_subject", False) else est.estimate_batch(images))
            except ShotCropError as e:  # the model would not load or run: each photo says so
                batch = [e] * len(todo)
            for k, people in zip(todo, batch):
                image, _, _, size = items[k]
                out[k] = people if isinstance(people, ShotCropError) else \
                    self._estimated(_to_size(list(people), image, size), est)
        return out

    def _estimated(self, people: list[Person], estimator: Any) -> Found:
        if not self.has_file:
            return Found(people, True)
        return Found(people, True, f"landmarks estimated by {estimator.name}: the keypoint "
                                   "file does not name this photo")

    def find(self, image: Any, index: int, name: str | None = None,
             size: tuple[int, int] | None = None,
             subject: tuple[int | None, str | None] = (None, None)) -> Found:
        """People in `image` (upright RGB PIL), the `index`-th photo of the run, named `name`.

        `image` may be a zero-argument callable that decodes the photo; it is then called only
        when a pose model needs the pixels, and `size` (width, height) must be given.
        `subject` (index, hint): the framing's subject choice, for a pose model that reads the
        subject more precisely than the others."""
        size = size or image.size
        if self.covers(name, index):
            if self.frames is not None:  # already in the photo's pixels
                return Found(list(self.frames[index]), True)
            people = self.keypoints.people_for(name or "", index, image_size=size)
            return Found(list(people), self.keypoints_estimated)
        if self.uncovered == "nobody" or not self.has_file and self._estimator is None:
            return Found([], False)
        if self.has_file and (self.uncovered == "error" or self._estimator is None):
            if self.keypoints is not None:  # raises, naming the file and how photos match
                self.keypoints.people_for(name or "", index, image_size=size)
            raise ShotCropError(f"POSE_KEYPOINT has {len(self.frames or [])} frame(s) but this "
                                f"is image {index}: connect the pose node that ran on these "
                                "same images")
        pixels = image() if callable(image) else image
        if not self.has_file:
            return self._estimated(_to_size(_estimate(self.estimator, pixels, subject),
                                            pixels, size), None)
        try:
            estimator = self.estimator
        except ShotCropError as e:
            raise ShotCropError(f"{name}: the keypoint file does not name this photo, and its "
                                f"landmarks cannot be estimated instead: {e}") from None
        return self._estimated(_to_size(_estimate(estimator, pixels, subject), pixels, size),
                               estimator)


def _to_size(people: list[Person], pixels: Any, size: tuple[int, int]) -> list[Person]:
    """People found on a reduced decode, in the photo's own pixels."""
    if tuple(pixels.size) == tuple(size):
        return people
    sx, sy = size[0] / pixels.size[0], size[1] / pixels.size[1]
    return [p.scaled(sx, sy) for p in people]


def _estimate(estimator: Any, pixels: Any, subject: tuple[int | None, str | None]) -> list:
    if getattr(estimator, "takes_subject", False):
        return list(estimator.estimate(pixels, *subject))
    return list(estimator.estimate(pixels))


def people_source(perception: str = "auto", keypoints: Any = None, device: Any = "auto", *,
                  by_name: bool = False) -> PeopleSource:
    """The landmark source of a run, the same for every command. A keypoint file (a path or a
    loaded `perception.given.KeypointSource`) answers for the photos it names; `perception`
    says what answers for the others (for every photo without a file):

    - ``auto``: the built-in default, ``perception.DEFAULT_BACKEND`` (its landmarks are flagged
      in the shots' warnings when a file was given but does not name the photo);
    - ``movenet`` / ``blazepose`` / ``vitpose``: that pose model;
    - ``keypoints``: nothing: a photo the file does not name is an error for that photo;
    - ``none``: nobody (the flagged no-person framing, or a VLM's answer conformed to its
      aspects).

    With a file, a model loads on the first photo that needs it; without, up front (a missing
    model is one error for the run). `by_name`: refuse files matched by position (POSE_KEYPOINT
    lists), for runs whose photo order is not the user's (training sets).
    """
    from .perception import load_estimator
    from .perception.given import KeypointSource, load_keypoints

    if perception not in PERCEPTIONS_OR_NONE:
        raise ShotCropError(f"unknown perception {perception!r}: use one of "
                            f"{', '.join(PERCEPTIONS_OR_NONE)}")
    if keypoints is not None and not isinstance(keypoints, KeypointSource):
        keypoints = load_keypoints(keypoints)
    if by_name and keypoints is not None and not keypoints.by_name:
        raise ShotCropError(f"{keypoints.path}: its frames are matched to photos by position, "
                            "but training photos are matched by file name: give a COCO or "
                            "ShotCrop keypoint file that names each photo")
    if perception == "keypoints":
        if keypoints is None:
            raise ShotCropError("perception 'keypoints' needs a keypoint file (--keypoints FILE)")
        return PeopleSource(keypoints)
    if perception == "none":
        return PeopleSource(keypoints, uncovered="nobody")
    model = DEFAULT_BACKEND if perception == "auto" else perception
    if keypoints is None:
        return PeopleSource(estimator=load_estimator(model, device))
    return PeopleSource(keypoints, lambda: load_estimator(model, device), uncovered="estimate")


# -- results -------------------------------------------------------------------------------------
@dataclass
class PhotoResult:
    """One photo's outcome: its shots, or the error that stopped it."""

    index: int                   # position in the input
    name: str                    # the path as given, or "image N" for an in-memory photo
    shots: ShotSet | None = None
    error: str | None = None
    people: list[Person] = field(default_factory=list)
    #: The decoded photo, for writing outputs; dropped by `Pipeline.run` unless it keeps images.
    image: LoadedImage | None = None
    #: With `each_person`: the person these shots are about.
    person: int | None = None
    #: The options the shots were framed with (subject, aspects, clearance).
    framing: FramingOptions | None = None
    #: Seconds spent proposing this photo's shots (a share of its batch for a VLM).
    seconds: float = 0.0
    #: VLM only: the model's own parsed answer before repair (None when unusable).
    raw: ShotSet | None = None
    #: Where the landmarks came from was a pose model.
    estimated: bool = False
    #: `Found.note` (landmarks estimated for a photo the keypoint file does not name), for an
    #: engine outside the pipeline to add to the shots' warnings (`find_people`).
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Ready:
    index: int
    name: str
    image: LoadedImage
    found: Found | None  # None: deferred to the batch's pose-model pass
    person: int | None = None


def _as_loaded(photo: Any, index: int, draft: int | None = None):
    """A LoadedImage for a path, a PIL image or a LoadedImage: one validation for all
    (`draft`: a large JPEG file may be decoded reduced, see imageio.load_image)."""
    from PIL import Image

    from .imageio import LoadedImage, from_memory, load_image

    if isinstance(photo, LoadedImage):
        return photo
    if isinstance(photo, Image.Image):
        return from_memory(photo, f"image {index}")
    if isinstance(photo, (str, Path)):
        return load_image(photo, draft)
    raise ShotCropError(f"image {index}: expected a file path or an image, got "
                        f"{type(photo).__name__}")


def photo_name(photo: Any, index: int) -> str:
    """A path as given; an in-memory photo by its place in the run (a LoadedImage by its file)."""
    if isinstance(photo, (str, Path)):
        return str(photo)
    path = getattr(photo, "path", None)
    return str(path) if isinstance(path, Path) else f"image {index}"


# -- the pipeline --------------------------------------------------------------------------------
@dataclass
class Pipeline:
    """Photos in, one `PhotoResult` per photo (per person with `each_person`) out, in order.

    `engine` proposes the shots: None for the framing engine, or a VLM engine
    (`vlm.backend.VLMEngine` or `vlm.vllm_engine.VLLMEngine`) whose answers the grammar repairs
    on the photo's landmarks. `framing` holds the aspects and the subject choice; the clearance
    for estimated landmarks is set per photo from where its people came from.
    """

    people: PeopleSource = field(default_factory=PeopleSource)
    framing: FramingOptions = field(default_factory=FramingOptions)
    engine: Any = None
    #: One shot set per person of each photo (the framing engine only).
    each_person: bool = False
    #: Keep each result's decoded photo (`PhotoResult.image`), e.g. to write outputs.
    keep_images: bool = False
    #: Photos decoded at once with a VLM, in batches of its batch size (bounded memory; an
    #: interactive caller that checks for a stop between results wants 1).
    chunk_batches: int = CHUNK_BATCHES
    #: Photos whose people the pose model finds in one pass (framing engine, one shot set per
    #: photo): None = PERCEPTION_BATCH on a GPU, 1 on the CPU (no gain there, only memory).
    perception_batch: int | None = None
    #: Captioners' text about the photos, for the framing engine's descriptions
    #: (`captions.Captions`: one for all, per file name or path, per index).
    captions: Captions | None = None

    def __post_init__(self) -> None:
        if self.each_person and self.engine is not None:
            raise ShotCropError("one shot set per person works with the framing engine; with a "
                                "VLM, pick one subject index or let it choose")

    def options_for(self, found: Found, person: int | None = None) -> FramingOptions:
        """This photo's framing options: clearance for estimated landmarks, the chosen person."""
        o = self.framing
        clearance = FramingOptions.ESTIMATED if found.estimated else 0.0
        if o.joint_uncertainty != clearance:
            o = dataclasses.replace(o, joint_uncertainty=clearance)
        if person is not None:
            o = dataclasses.replace(o, subject_index=person if found.people else None)
        return o

    def run(self, photos: Iterable[Any], indexed: bool = False) -> Iterator[PhotoResult]:
        """One result per photo (paths, PIL images or LoadedImages), in input order; with
        `indexed`, `photos` are (index, photo) pairs (a run that skips some photos)."""
        chunk = self.chunk_size
        batch: list[_Ready | PhotoResult] = []
        for index, photo in (photos if indexed else enumerate(photos)):
            batch.extend(self._prepare(index, photo, defer=self.engine is None and chunk > 1))
            ready = sum(isinstance(b, _Ready) for b in batch)
            if ready >= chunk or not ready:  # errors alone wait for nothing
                yield from self._flush(batch)
                batch = []
        if batch:
            yield from self._flush(batch)

    def run_all(self, photos: Iterable[Any]) -> list[PhotoResult]:
        return list(self.run(photos))

    def run_one(self, index: int, photo: Any) -> list[PhotoResult]:
        """The results of one photo, the `index`-th of a run (a worker's share of a batch; the
        index matters to keypoint files matched by position)."""
        return list(self._flush(self._prepare(index, photo)))

    def find_people(self, items: Iterable[tuple[int, Any]]) -> Iterator[PhotoResult]:
        """(index, photo) pairs decoded and their people found, in order, but not framed (for
        an engine outside the pipeline: `scale.llm`): each result has `people`, `image`,
        `estimated` and `framing` (its options), or its `error`."""
        items = list(items)
        chunk = self._perception_chunk()
        for start in range(0, len(items), chunk):
            batch = [x for index, photo in items[start:start + chunk]
                     for x in self._prepare(index, photo, defer=chunk > 1)]
            for b in self._find_deferred(batch):
                yield b if isinstance(b, PhotoResult) else PhotoResult(
                    b.index, b.name, people=b.found.people, image=b.image,
                    framing=self.options_for(b.found), estimated=b.found.estimated,
                    note=b.found.note)

    @property
    def chunk_size(self) -> int:
        """Photos decoded and sent through the models together."""
        if self.engine is not None:
            return max(1, int(getattr(self.engine.options, "batch_size", 1))) * max(
                1, self.chunk_batches)
        return self._perception_chunk()

    def _perception_chunk(self) -> int:
        if self.each_person:
            return 1
        if self.perception_batch is not None:
            return max(1, int(self.perception_batch))
        est = self.people._estimator  # a loaded model's device (built-in: _dev, hub: _device)
        dev = getattr(est, "_dev", None) or getattr(est, "_device", None)
        return PERCEPTION_BATCH if getattr(dev, "type", "cpu") == "cuda" else 1

    @property
    def _subject(self) -> tuple[int | None, str | None]:
        return self.framing.subject_index, self.framing.subject_hint

    # -- steps ------------------------------------------------------------------------------
    def _prepare(self, index: int, photo: Any, defer: bool = False) -> list[_Ready | PhotoResult]:
        """Decode the photo and find its people (`defer`: leave that to `_find_deferred`)."""
        name = photo_name(photo, index)
        # No crops to cut (framing engine, images not kept): a huge JPEG is decoded reduced.
        draft = DRAFT_SIDE if self.engine is None and not self.keep_images else None
        try:
            loaded = _as_loaded(photo, index, draft)
            if defer and self.people.needs_model(name, index):
                return [_Ready(index, name, loaded, None)]
            found = self.people.find(loaded.image, index, name, loaded.frame_size,
                                     subject=self._subject)
        except ShotCropError as e:
            return [PhotoResult(index, name, error=str(e))]
        if not self.each_person:
            return [_Ready(index, name, loaded, found)]
        return [_Ready(index, name, loaded, found, k) for k in range(max(len(found.people), 1))]

    def _find_deferred(self, batch: list) -> list:
        """People for the photos `_prepare` deferred, the pose model running once over them."""
        todo = [k for k, b in enumerate(batch) if isinstance(b, _Ready) and b.found is None]
        if not todo:
            return batch
        batch = list(batch)
        found = self.people.find_batch([(batch[k].image.image, batch[k].index, batch[k].name,
                                         batch[k].image.frame_size) for k in todo],
                                       self._subject)
        for k, f in zip(todo, found):
            r = batch[k]
            batch[k] = (PhotoResult(r.index, r.name, error=str(f)) if isinstance(f, ShotCropError)
                        else dataclasses.replace(r, found=f))
        return batch

    def _flush(self, batch: list) -> Iterator[PhotoResult]:
        batch = self._find_deferred(batch)
        ready = [b for b in batch if isinstance(b, _Ready)]
        done = dict(zip(map(id, ready), self._propose(ready))) if ready else {}
        for b in batch:
            result = done[id(b)] if isinstance(b, _Ready) else b
            if not self.keep_images:
                result.image = None  # streaming: no result holds on to its pixels
            yield result

    def _propose(self, ready: list[_Ready]) -> list[PhotoResult]:
        if self.engine is None:
            return [self._frame_one(r) for r in ready]
        try:
            return self._vlm_batch(ready)
        except ShotCropError as e:  # the batch itself failed (not one photo's repair)
            if len(ready) == 1:
                return [self._failed(ready[0], str(e))]
            # One photo's problem must not sink its batch: ask again photo by photo.
            return [x for r in ready for x in self._propose([r])]

    def _failed(self, r: _Ready, error: str) -> PhotoResult:
        return PhotoResult(r.index, r.name, error=error, people=r.found.people, image=r.image,
                           person=r.person, estimated=r.found.estimated)

    def _result(self, r: _Ready, shots: ShotSet, options: FramingOptions, seconds: float,
                raw: ShotSet | None = None) -> PhotoResult:
        if r.found.note:
            shots = dataclasses.replace(shots, warnings=shots.warnings + (r.found.note,))
        return PhotoResult(r.index, r.name, shots, people=r.found.people, image=r.image,
                           person=r.person, framing=options, seconds=seconds, raw=raw,
                           estimated=r.found.estimated)

    def _frame_one(self, r: _Ready) -> PhotoResult:
        from .framing import compose

        options = self.options_for(r.found, r.person)
        t0 = time.perf_counter()
        try:
            caption = self.captions.get(r.name, r.index) if self.captions else None
            if caption and self.each_person:  # whom the caption names is not known: its place
                c = parse_caption(caption)
                caption = Caption(setting=c.setting, at=c.at)
            shots = compose(r.found.people, *r.image.frame_size, options, image=r.image.image,
                            caption=caption)
        except ShotCropError as e:
            return self._failed(r, str(e))
        return self._result(r, shots, options, time.perf_counter() - t0)

    def _vlm_batch(self, ready: list[_Ready]) -> list[PhotoResult]:
        options = [self.options_for(r.found) for r in ready]
        t0 = time.perf_counter()
        # A photo whose answer cannot be repaired (say a subject index it does not have) comes
        # back as its error, so the rest of the batch keeps its answers.
        pairs = self.engine.propose_with_answers([r.image.image for r in ready],
                                                 [r.found.people for r in ready], options,
                                                 keep_errors=True)
        seconds = (time.perf_counter() - t0) / len(ready)
        return [self._failed(r, str(shots)) if isinstance(shots, ShotCropError)
                else self._result(r, shots, o, seconds, raw)
                for r, o, (shots, raw) in zip(ready, options, pairs)]


# -- outputs -------------------------------------------------------------------------------------
def write_result(result: PhotoResult, out: str | Path, force: bool = False,
                 preview: str = "jpg", outpaint="edge", feather: int = 0) -> PhotoResult:
    """Write a result's crops, preview and JSON into `out` (never overwriting unless `force`;
    a shot past the photo padded with `outpaint`, with its mask, `export.write_outputs`); a
    failure becomes the result's error. Needs the result's decoded photo (`keep_images`)."""
    from .export import write_outputs

    if not result.ok:
        return result
    if result.image is None:
        raise ShotCropError("write_result needs the photo: run the pipeline with keep_images")
    try:
        write_outputs(result.image, result.shots, out, force=force, people=result.people,
                      preview=preview, outpaint=outpaint, feather=feather)
    except ShotCropError as e:
        result.error = str(e)
    return result


# -- engines -------------------------------------------------------------------------------------
#: Who can propose the shots (`load_engine`).
ENGINES = ("framing", "vlm", "vllm")


def check_engine(kind: str) -> str:
    if kind not in ENGINES:
        raise ShotCropError(f"unknown engine {kind!r}: use {', '.join(ENGINES)}")
    return kind


def load_engine(kind: str = "framing", model: str | None = None, *, options: Any = None,
                device: Any = "auto", dtype: Any = "auto", attention: str = "sdpa",
                quantization: str | None = None, revision: str | None = None):
    """Who proposes the shots: None for the framing engine ("framing"), else a loaded VLM engine
    ("vlm": transformers; "vllm": vLLM, which schedules its own large batches). `options` is a
    `vlm.backend.GenerationOptions`; the model is loaded once for the whole run."""
    if check_engine(kind) == "framing":
        return None
    from .models import DEFAULT_VLM
    from .vlm.backend import GenerationOptions, VLMEngine

    options = options or GenerationOptions()
    if kind == "vllm":
        from .vlm.vllm_engine import VLLMEngine, load_vllm

        loaded = load_vllm(model or DEFAULT_VLM, revision=revision, dtype=dtype,
                           seed=options.seed or 0)
        return VLLMEngine(loaded, dataclasses.replace(
            options, compile=False, batch_size=max(options.batch_size, 64)))
    from .vlm.loading import load_vlm

    loaded = load_vlm(model or DEFAULT_VLM, device=device, dtype=dtype, attention=attention,
                      quantization=quantization, revision=revision)
    return VLMEngine(loaded, options)


@dataclass(frozen=True)
class EngineSpec:
    """`load_engine`'s arguments, kept as settings: small and picklable, so each Ray actor or
    worker process loads its own copy of the model once (`load`)."""

    kind: str = "framing"
    model: str | None = None
    options: GenerationOptions | None = None
    device: str = "auto"
    dtype: str = "auto"
    attention: str = "sdpa"
    quantization: str | None = None
    revision: str | None = None

    def __post_init__(self) -> None:
        check_engine(self.kind)  # on the driver, before any actor starts

    def load(self):
        """The loaded engine (None for the framing engine)."""
        return load_engine(self.kind, self.model, options=self.options, device=self.device,
                           dtype=self.dtype, attention=self.attention,
                           quantization=self.quantization, revision=self.revision)


__all__ = ["EngineSpec", "Found", "PeopleSource", "PhotoResult", "Pipeline", "load_engine",
           "people_source", "photo_name", "write_result"]
