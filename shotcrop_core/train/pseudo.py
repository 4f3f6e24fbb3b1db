"""Stage 2: pseudo-labels for unlabelled photos (docs/training_pseudo.md).

Per photo: candidate triples (the stage-1 model sampled several times, plus the framing engine's
triple) -> three scores per candidate (CLIP crop-description similarity, aesthetic head, VLM
judge; each the mean over the candidate's three shots) -> keep a candidate only when it is the
best on all three scores and every score clears its threshold; a photo where every candidate is
below every threshold is "hard". Kept triples go to a TSC file (split "train") for the same SFT
trainer as stage 1; hard photos to a JSON list.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from ..bench.tsc import FORMAT_NAME, FORMAT_VERSION, load_tsc
from ..errors import ShotCropError
from ..files import write_new_text
from ..framing import FramingOptions, compose
from ..keypoints import Person
from ..shots import SHOT_NAMES, ShotSet
from .config import CRITERIA, PseudoConfig, Thresholds
# The drafter's image path rule (relative to the TSC file's folder, POSIX separators).
from .data import relative_image_path

log = logging.getLogger("shotcrop")

#: Photos read from the input folder (not recursive; TSC files match images by basename).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
#: Scores within this of the best count as tied for best (float noise between batches).
TIE = 1e-6


# -- scorer protocols (anything with these methods plugs in) ------------------------------------
class SimilarityScorer(Protocol):
    def similarity(self, images: Sequence, texts: Sequence[str]) -> list[float]: ...


class ImageScorer(Protocol):
    def score(self, images: Sequence) -> list[float]: ...


class ShotJudge(Protocol):
    def score(self, image, shots: ShotSet) -> list[float | None]: ...


@dataclass(frozen=True)
class Scorers:
    """The three scorers of `score_candidates`; each returns values in [0, 1]."""

    clip: SimilarityScorer
    aesthetic: ImageScorer
    judge: ShotJudge


# -- data ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scores:
    """A candidate's scores: per criterion, the mean over its three shots (None: unreadable)."""

    clip: float | None
    aesthetic: float | None
    judge: float | None
    #: criterion -> (establishing, medium, close_up)
    per_shot: Mapping[str, tuple[float | None, ...]] = field(default_factory=dict)

    def get(self, criterion: str) -> float | None:
        return getattr(self, criterion)

    def to_dict(self) -> dict:
        r = {c: None if self.get(c) is None else round(float(self.get(c)), 4) for c in CRITERIA}
        r["per_shot"] = {c: [None if v is None else round(float(v), 4) for v in vals]
                         for c, vals in self.per_shot.items()}
        return r


@dataclass(frozen=True)
class Candidate:
    """One candidate triple (with descriptions) for a photo and where it came from."""

    shots: ShotSet
    #: "framing" or "vlm:<seed>:<i>" (the i-th sample drawn with that seed)
    source: str
    scores: Scores | None = None


@dataclass(frozen=True)
class Selection:
    kept: Candidate | None
    hard: bool
    reason: str


# -- 1. candidates -------------------------------------------------------------------------------
def propose_candidates(image, people: list[Person], engine, samples: int = 4, seed: int = 0,
                       framing: FramingOptions | None = None,
                       framed: ShotSet | None = None) -> list[Candidate]:
    """The stage-1 model's triples (`samples` draws) plus the framing engine's, duplicates dropped.

    The draws are one batched `generate` of `samples` copies of the photo, sampled with
    `GenerationOptions(seed=seed)`: each row draws its own tokens, and the batch as a whole is
    reproducible for that seed. Answers the backend cannot use are dropped (the framing engine's
    triple, which the backend would substitute, is already a candidate). `engine` may be None:
    then the framing engine's triple is the only candidate. `framed` is that triple when the
    pipeline already made it (with `framing`, the options it was made with).
    """
    framing = framing or FramingOptions()
    W, H = image.size
    out: list[Candidate] = []
    if engine is not None and samples > 0:
        options = replace(engine.options, seed=int(seed), batch_size=int(samples), compile=False)
        sampler = type(engine)(engine.loaded, options)
        for i, shots in enumerate(sampler.propose([image] * samples, [people] * samples, framing)):
            if shots.source == "framing":  # the backend's fallback, not a model answer
                continue
            out.append(Candidate(shots, f"vlm:{seed}:{i}"))
    out.append(Candidate(framed or compose(people, W, H, framing, image=image), "framing"))
    seen: set = set()
    unique = []
    for c in out:
        key = tuple(tuple(s.box.to_list()) for s in c.shots)
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return unique


# -- 2. scores -----------------------------------------------------------------------------------
def _mean(values: Sequence[float | None]) -> float | None:
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    return sum(values) / len(values)


def score_candidates(image, candidates: Sequence[Candidate], scorers: Scorers) -> list[Candidate]:
    """The candidates with their `Scores`: every scorer runs per shot (crop, description).

    A shot without a description gets CLIP similarity 0 (ClipScorer's rule); the judge's
    candidate score is None unless all three shots got a readable grade.
    """
    from ..imageio import crop
    from ..model_files import as_rgb

    if not candidates:
        return []
    rgb = as_rgb(image)
    crops = [crop(rgb, s.box) for c in candidates for s in c.shots]
    texts = [s.description for c in candidates for s in c.shots]
    sims = list(scorers.clip.similarity(crops, texts))
    aes = list(scorers.aesthetic.score(crops))
    many = getattr(scorers.judge, "score_many", None)
    if many is not None:
        judged = many([rgb] * len(candidates), [c.shots for c in candidates])
    else:
        judged = [scorers.judge.score(rgb, c.shots) for c in candidates]
    n = len(SHOT_NAMES)
    if len(sims) != len(crops) or len(aes) != len(crops) or len(judged) != len(candidates):
        raise ShotCropError("a scorer returned the wrong number of scores "
                            f"({len(sims)} clip, {len(aes)} aesthetic for {len(crops)} crops; "
                            f"{len(judged)} judge for {len(candidates)} candidates)")
    out = []
    for k, c in enumerate(candidates):
        per = {"clip": tuple(sims[k * n:(k + 1) * n]), "aesthetic": tuple(aes[k * n:(k + 1) * n]),
               "judge": tuple(judged[k])}
        scores = Scores(**{name: _mean(per[name]) for name in CRITERIA}, per_shot=per)
        out.append(replace(c, scores=scores))
    return out


# -- 3. selection --------------------------------------------------------------------------------
def _fmt(v: float | None) -> str:
    return "unreadable" if v is None else f"{v:.3f}"


def select(candidates: Sequence[Candidate], thresholds: Thresholds | None = None) -> Selection:
    """Keep a candidate only when it is best on all three scores and clears every threshold.

    Ties for best count as best (the earlier candidate wins among several). A missing score
    (None) is never best and never clears its threshold. `hard`: every candidate is below
    every threshold, i.e. nothing about the photo scored well.
    """
    t = thresholds or Thresholds()
    if not candidates:
        return Selection(None, True, "no candidates")
    for c in candidates:
        if c.scores is None:
            raise ShotCropError(f"candidate {c.source!r} has no scores: run score_candidates first")

    def value(c: Candidate, k: str) -> float | None:
        v = c.scores.get(k)
        return None if v is None or not math.isfinite(v) else float(v)

    best = {}
    for k in CRITERIA:
        vals = [v for v in (value(c, k) for c in candidates) if v is not None]
        best[k] = max(vals) if vals else None

    def is_best(c: Candidate, k: str) -> bool:
        v = value(c, k)
        return v is not None and best[k] is not None and v >= best[k] - TIE

    def clears(c: Candidate, k: str) -> bool:
        v = value(c, k)
        return v is not None and v >= getattr(t, k)

    hard = all(not clears(c, k) for c in candidates for k in CRITERIA)
    if hard:
        return Selection(None, True, "every candidate is below every threshold")
    winners = [c for c in candidates if all(is_best(c, k) for k in CRITERIA)]
    if not winners:
        leaders = "; ".join(
            f"{k}: {', '.join(c.source for c in candidates if is_best(c, k)) or 'none readable'}"
            for k in CRITERIA)
        return Selection(None, False, f"no candidate is best on all three ({leaders})")
    for c in winners:
        if all(clears(c, k) for k in CRITERIA):
            return Selection(c, False, f"kept {c.source}")
    c = winners[0]
    low = ", ".join(f"{k} {_fmt(value(c, k))} < {getattr(t, k):.3f}"
                    for k in CRITERIA if not clears(c, k))
    return Selection(None, False, f"best candidate {c.source} is below threshold: {low}")


# -- 4. the run ----------------------------------------------------------------------------------
@dataclass
class PseudoResult:
    tsc: Path | None  # None when no photo was kept (a TSC file needs at least one sample)
    hard_path: Path
    photos: int = 0
    kept: list[str] = field(default_factory=list)
    hard: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # neither kept nor hard
    errors: dict[str, str] = field(default_factory=dict)  # photo -> why it was skipped


def list_photos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ShotCropError(f"image folder not found: {folder}")
    photos = sorted(p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise ShotCropError(f"{folder} has no photos ({', '.join(IMAGE_SUFFIXES)})")
    return photos


def make_scorers(config: PseudoConfig, stage1=None) -> Scorers:
    """The configured scorers; the judge shares the stage-1 model when it names the same one."""
    from ..vlm.loading import load_vlm
    from .scorers import AestheticScorer, ClipScorer, JudgeScorer

    clip = ClipScorer(config.clip, device=config.device, dtype=config.dtype)
    aesthetic = AestheticScorer(config.aesthetic_head, clip, filename=config.aesthetic_file)
    same = config.judge == "model" or (config.model is not None and config.judge == config.model)
    if same and stage1 is None:
        raise ShotCropError("judge 'model' needs a stage-1 model: set model, or name a judge VLM")
    loaded = stage1 if same else load_vlm(config.judge, device=config.device, dtype=config.dtype)
    return Scorers(clip, aesthetic, JudgeScorer(loaded, batch_size=config.judge_batch_size))


def _write_json(path: Path, data: Any, force: bool, what: str) -> None:
    write_new_text(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n", force, what)


def run_pseudo(config: PseudoConfig, *, engine=None,
               scorers: Scorers | None = None) -> PseudoResult:
    """Pseudo-label every photo in `config.images`; see the module docstring.

    `engine` / `scorers` replace what the config names (an already loaded model, custom scorers).
    Never overwrites `out` or `hard_out` unless `config.force`.
    """
    from ..pipeline import Pipeline, people_source
    from ..progress import progress
    from ..vlm.backend import GenerationOptions, VLMEngine
    from ..vlm.loading import load_vlm

    for path in (config.out, config.hard_out):
        if path.exists() and not config.force:
            raise ShotCropError(f"{path} exists; pass force to overwrite it")
    photos = list_photos(config.images)[: config.limit]
    # The framing candidate and the landmarks come from the one pipeline: a photo the keypoint
    # file does not name is handled as everywhere (pipeline.people_source), and estimated
    # landmarks keep their edge clearance.
    pipe = Pipeline(people_source(config.perception, config.keypoints, config.device),
                    keep_images=True)
    if engine is None and config.model:
        log.info("loading the stage-1 model %s", config.model)
        engine = VLMEngine(load_vlm(config.model, device=config.device, dtype=config.dtype),
                           GenerationOptions(reasoning=config.reasoning,
                                             temperature=config.temperature,
                                             max_new_tokens=config.max_new_tokens))
    if scorers is None:
        scorers = make_scorers(config, getattr(engine, "loaded", None))
    for scorer in (scorers.clip, scorers.aesthetic, scorers.judge):
        load = getattr(scorer, "load", None)  # a missing model fails here, not once per photo
        if load is not None:
            load()
    result = PseudoResult(None, config.hard_out, photos=len(photos))
    samples, hard = [], []
    root = config.out.parent
    for i, (path, r) in enumerate(zip(photos, pipe.run(progress(photos, desc="pseudo-labels",
                                                                 unit="photo")))):
        try:
            if not r.ok:
                raise ShotCropError(r.error)
            image = r.image.image
            cands = propose_candidates(image, r.people, engine, config.samples, config.seed,
                                       framing=r.framing, framed=r.shots)
            cands = score_candidates(image, cands, scorers)
        except ShotCropError as e:
            log.warning("%s: skipped (%s)", path.name, e)
            result.errors[path.name] = str(e)
            continue
        sel = select(cands, config.thresholds)
        log.info("[%d/%d] %s: %d candidate(s); %s%s", i + 1, len(photos), path.name, len(cands),
                 sel.reason, " (hard)" if sel.hard else "")
        if sel.kept is not None:
            result.kept.append(path.name)
            shots = sel.kept.shots
            samples.append({
                "image": relative_image_path(path, root), "width": shots.width, "height": shots.height,
                "split": "train",
                "shots": {s.name: {"box": s.box.to_list(), "description": s.description}
                          for s in shots},
                "pseudo": {"source": sel.kept.source, "scores": sel.kept.scores.to_dict()}})
        elif sel.hard:
            result.hard.append(path.name)
        else:
            result.rejected.append(path.name)
        if sel.hard:
            hard.append({"image": relative_image_path(path, root), "reason": sel.reason,
                         "candidates": [{"source": c.source, **c.scores.to_dict()} for c in cands]})
    _write_json(config.hard_out, hard, config.force, "hard-photo list")
    if samples:
        _write_json(config.out, {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                                 "samples": samples}, config.force, "TSC file")
        load_tsc(config.out)  # what was written must read back, as the drafter's does
        result.tsc = config.out
    else:
        log.warning("no photo was kept, so no TSC file was written (%d hard, %d rejected): "
                    "check the scorers or lower the thresholds", len(result.hard),
                    len(result.rejected))
    log.info("pseudo-labels: %d of %d photos kept, %d hard, %d rejected, %d skipped",
             len(result.kept), len(photos), len(result.hard), len(result.rejected),
             len(result.errors))
    return result


__all__ = ["Candidate", "ImageScorer", "PseudoResult", "Scorers", "Scores", "Selection",
           "ShotJudge", "SimilarityScorer", "list_photos", "make_scorers", "propose_candidates",
           "run_pseudo", "score_candidates", "select"]
