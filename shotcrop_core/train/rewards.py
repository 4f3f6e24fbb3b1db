"""GRPO reward functions (stage 3, GRPO-S), each a plain function TRL's GRPOTrainer can call.

TRL 1.16 (`GRPOTrainer._calculate_rewards`) calls every reward function as
`fn(prompts=..., completions=..., completion_ids=..., **columns, trainer_state=...,
log_extra=..., log_metric=...)`: every dataset column except prompt/completion arrives as a list
with one entry per completion, and conversational completions are
`[{"role": "assistant", "content": str}]`. The functions here take the columns they need by name
and swallow the rest in `**kwargs`. The columns (see `reward_columns`):

- `width`, `height`: the photo's upright size; `family`: "qwen3_vl" | "qwen2_5_vl";
- `input_size`: [w, h] the processor resized the photo to (qwen2_5_vl boxes), or None;
- `reference`: JSON {"establishing": [x0, y0, x1, y1], "medium": ..., "close_up": ...} in source
  pixels (or a JSON list of such, one per annotator: each shot is scored against its best match);
- `keypoints`: JSON list of persons, each 51 numbers (COCO-17 x, y, score/visibility), or "";
- `aspects`: JSON aspect spec ({"close_up": "1:1", ...} or "4:5"), or "" when none was asked.

Every reward lies in [0, 1]. An answer the backend's parser cannot read scores 0 on every
reward, and no input makes a reward raise (a crashed reward ends a long GRPO run): anything
unexpected scores 0 and is logged once. Weights: `DEFAULT_WEIGHTS`, reasons in docs/training.md.
Pure Python + numpy; no torch.
"""

from __future__ import annotations

import json
import logging
import math
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

from .. import grammar as G
from ..anatomy import measure
from ..aspect import aspect_ratio, parse_aspect_spec
from ..errors import ShotCropError
from ..keypoints import NoLandmarksError, Person
from ..shots import SHOT_NAMES, Box
from ..subject import subject_of_close_up
from ..vlm.parse import REPAIRED, ParsedShots, parse_answer, split_thinking
from ..vlm.prompt import normalize_family
from .chat import completion_text

log = logging.getLogger("shotcrop")

RewardFn = Callable[..., list[float]]

#: name -> weight passed to GRPOConfig.reward_weights (see docs/training.md, "Rewards").
DEFAULT_WEIGHTS: dict[str, float] = {
    "iou": 1.0,
    "format": 0.25,
    "nesting": 0.25,
    "aspect": 0.25,
    "joint_safety": 0.5,
    "aesthetic": 0.25,
}

# -- format penalties: what a recovered-but-sloppy answer loses ---------------------------------
#: The floor for an answer that was read after repairs: always above an unreadable one (0).
FORMAT_FLOOR = 0.1
FORMAT_PENALTIES = (
    # (substring of a parser problem, penalty)
    (REPAIRED, 0.3),                                   # not strict JSON (quotes, commas...)
    ("think block", 0.3),                              # the JSON sat inside <think>
    ("not named", 0.3),                                # labels instead of shot names
    ("given twice", 0.2),
    ("coordinates read as", 0.3),                      # wrong convention for the family
    ("swapped", 0.2),
    ("clamped", 0.2),
    ("no description", 0.15),                          # per shot
    ("not 4 numbers", 0.1),
    ("longer than", 0.3),
)
#: Text around the JSON (code fences, "Here is...", a trailing remark).
CHATTER_PENALTY = 0.2
#: Two shots with the same box are not three shots.
DUPLICATE_PENALTY = 0.3
#: Aspect fit: within 2 % counts as exact (pixel rounding); 50 % off scores 0.
ASPECT_EXACT, ASPECT_ZERO = math.log(1.02), math.log(1.5)
#: Eye line: the score falls linearly to 0 this far (share of the crop height) outside the band.
EYE_FALLOFF = 0.2

_warned: set[str] = set()


def _warn_once(name: str, e: Exception) -> None:
    if name not in _warned:
        _warned.add(name)
        log.warning("reward %s: unexpected input scored 0 (%s: %s)", name, type(e).__name__, e)


# -- shared reading ----------------------------------------------------------------------------
def _int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError("a bool is not a size")
    return int(v)


def _size(v: Any) -> tuple[int, int] | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        v = json.loads(v)
    w, h = (int(x) for x in v)
    return (w, h) if w > 0 and h > 0 else None


#: Completions longer than this are parsed without caching (keeps the cache's memory small).
CACHE_CHARS = 16_000


def _parse(text: str, width: int, height: int, family: str,
           resized: tuple[int, int] | None) -> ParsedShots | None:
    try:
        return parse_answer(text, width, height, family, resized)
    except ShotCropError:
        return None


# Every reward reads the same completion: parse it once per (text, image).
_parse_cached = lru_cache(maxsize=4096)(_parse)


def _parsed(completion: Any, width: Any, height: Any, family: Any,
            input_size: Any) -> ParsedShots | None:
    fam = normalize_family(str(family))  # a missing or wrong column is an error, not a 0 answer
    text = completion_text(completion)
    if not text.strip():
        return None
    parse = _parse_cached if len(text) <= CACHE_CHARS else _parse
    return parse(text, _int(width), _int(height), fam, _size(input_size))


def _column(kwargs: Mapping[str, Any], name: str, n: int, default: Any = None) -> list:
    v = kwargs.get(name)
    if v is None:
        return [default] * n
    v = list(v)
    if len(v) != n:
        raise ShotCropError(f"reward column {name!r} has {len(v)} entries for {n} completions")
    return v


def _rows(completions: Sequence[Any], kwargs: Mapping[str, Any], *names: str):
    n = len(completions)
    cols = [_column(kwargs, k, n, "" if k in ("keypoints", "aspects", "reference") else None)
            for k in names]
    return zip(completions, *cols)


def _each(name: str, completions: Sequence[Any], kwargs: Mapping[str, Any],
          score: Callable[[ParsedShots, Any], float], *extra: str) -> list[float]:
    """Apply `score(parsed, extras...)` per completion; unreadable answers and errors score 0."""
    out = []
    try:
        rows = list(_rows(completions, kwargs, "width", "height", "family", "input_size", *extra))
    except Exception as e:  # noqa: BLE001 - a malformed column must not end a run
        _warn_once(name, e)
        return [0.0] * len(completions)
    for c, w, h, fam, size, *rest in rows:
        try:
            parsed = _parsed(c, w, h, fam, size)
            v = 0.0 if parsed is None else float(score(parsed, int(w), int(h), *rest))
            out.append(min(1.0, max(0.0, v)) if math.isfinite(v) else 0.0)
        except Exception as e:  # noqa: BLE001 - see module doc: a reward never raises
            _warn_once(name, e)
            out.append(0.0)
    return out


# -- format ------------------------------------------------------------------------------------
def _format_score(p: ParsedShots, w: int, h: int, text: str) -> float:
    loss = 0.0
    for problem in p.problems:
        loss += next((pen for key, pen in FORMAT_PENALTIES if key in problem), 0.1)
    _, answer = split_thinking(text)
    body = answer.strip()
    if not (body.startswith("{") and body.endswith("}")):
        loss += CHATTER_PENALTY
    boxes = [p.boxes[n] for n in SHOT_NAMES]
    if len(set(boxes)) < 3:
        loss += DUPLICATE_PENALTY
    if loss == 0.0:
        return 1.0
    return max(FORMAT_FLOOR, 1.0 - loss)


def format_reward(prompts=None, completions=(), **kwargs) -> list[float]:
    """1 for the exact answer contract (strict JSON, three distinct named shots with valid boxes
    in the family's convention and descriptions, nothing around it but an optional think block);
    less for answers the parser had to repair (see FORMAT_PENALTIES; never below FORMAT_FLOOR);
    0 when no triple can be read."""
    texts = [completion_text(c) for c in completions]
    return _each("format", completions, {**kwargs, "_text": texts}, _format_score, "_text")


# -- IoU to the expert boxes --------------------------------------------------------------------
def _references(raw: Any) -> list[dict[str, Box]]:
    v = json.loads(raw) if isinstance(raw, str) else raw
    refs = v if isinstance(v, list) else [v]
    out = []
    for r in refs:
        out.append({n: Box.from_list(r[n], f"reference {n}") for n in SHOT_NAMES})
    if not out:
        raise ValueError("no reference boxes")
    return out


def _iou_score(p: ParsedShots, w: int, h: int, reference: Any) -> float:
    refs = _references(reference)
    return sum(max(p.boxes[n].iou(r[n]) for r in refs) for n in SHOT_NAMES) / len(SHOT_NAMES)


def iou_reward(prompts=None, completions=(), **kwargs) -> list[float]:
    """Mean over the three shots of the IoU between the predicted and the expert box (TSC-Bench's
    metric, `boxmath.iou`); with several annotators, each shot's best match."""
    return _each("iou", completions, kwargs, _iou_score, "reference")


# -- ordering and nesting -----------------------------------------------------------------------
def nesting_score(boxes: Mapping[str, Box]) -> float:
    """Mean of four parts, each in [0, 1]: the close-up inside the medium and the medium inside
    the establishing shot (share of area inside, full marks from the grammar's 90 %), the
    close-up smaller than the medium, and the establishing shot at least 1.5x the medium."""
    cu, med, est = (boxes[n] for n in ("close_up", "medium", "establishing"))
    parts = (min(1.0, cu.fraction_inside(med) / G.NEST),
             min(1.0, med.fraction_inside(est) / G.NEST),
             1.0 if cu.area < med.area else 0.0,
             min(1.0, est.area / (G.EST_AREA * med.area)))
    return sum(parts) / len(parts)


def nesting_reward(prompts=None, completions=(), **kwargs) -> list[float]:
    """Ordering and nesting: establishing ⊇ medium ⊇ close_up with growing areas (partial
    credit, see `nesting_score`)."""
    return _each("nesting", completions, kwargs, lambda p, w, h: nesting_score(p.boxes))


# -- aspect ratio fit --------------------------------------------------------------------------
def aspect_fit(box: Box, ratio: float | None) -> float:
    """1 within 2 % of the ratio (or when any shape goes), falling to 0 at 1.5x off (log scale)."""
    if ratio is None:
        return 1.0
    off = abs(math.log((box.w / box.h) / ratio))
    return min(1.0, max(0.0, 1.0 - (off - ASPECT_EXACT) / (ASPECT_ZERO - ASPECT_EXACT)))


def _aspect_score(p: ParsedShots, w: int, h: int, aspects: Any) -> float:
    if aspects is None or aspects == "" or aspects == {}:
        return 1.0
    spec = json.loads(aspects) if isinstance(aspects, str) and aspects.strip()[:1] in "{\"" \
        else aspects
    wanted = parse_aspect_spec(spec)
    return sum(aspect_fit(p.boxes[n], aspect_ratio(wanted[n], w, h))
               for n in SHOT_NAMES) / len(SHOT_NAMES)


def aspect_reward(prompts=None, completions=(), **kwargs) -> list[float]:
    """Mean per-shot fit to the requested aspect ratios; 1 when no aspect was asked."""
    return _each("aspect", completions, kwargs, _aspect_score, "aspects")


# -- joint safety (the shot grammar) -------------------------------------------------------------
def people_from_json(raw: Any) -> list[Person]:
    """Persons from the `keypoints` column: a JSON list of 51-number COCO-17 lists (x, y and a
    score or COCO visibility; present from MIN_SCORE up), or of `Person.to_dict` objects."""
    if raw is None or raw == "":
        return []
    v = json.loads(raw) if isinstance(raw, str) else raw
    people = []
    for i, k in enumerate(v):
        try:
            people.append(Person.from_dict(k if isinstance(k, dict) else {"keypoints": k},
                                           f"keypoints[{i}]"))
        except NoLandmarksError:
            continue  # nothing labelled: not a person the grammar can judge
    return people


def _eye_score(box: tuple[float, float, float, float], a) -> float:
    f = G.eye_fraction(box, a)
    lo, hi = G.EYE_LINE
    dist = lo - f if f < lo else f - hi if f > hi else 0.0
    return max(0.0, 1.0 - dist / EYE_FALLOFF)


def joint_safety_score(boxes: Mapping[str, Box], people: list[Person], width: int, height: int,
                       reference: Mapping[str, Box] | None = None) -> float:
    """Mean of five parts: no edge of each of the three shots crosses a knee, elbow, wrist or
    ankle of the subject (grammar.joint_cuts), and the eye line of the medium and the close-up
    lies 20-45 % from the top (linear fall-off over EYE_FALLOFF outside that band). 1 without
    landmarks."""
    people = [p for p in people if p.n_visible]
    if not people:
        return 1.0
    a = measure(people[subject_of_close_up(people, (reference or boxes)["close_up"])])
    rects = {n: boxes[n].rect for n in SHOT_NAMES}
    parts = [0.0 if G.joint_cuts(rects[n], a.joints) else 1.0 for n in SHOT_NAMES]
    # Without visible eyes the eye line is a guess from the box: not a fair thing to reward.
    measured = "eye line" not in a.estimated
    for n in ("medium", "close_up"):
        parts.append(_eye_score(rects[n], a) if measured else 1.0)
    return sum(parts) / len(parts)


def _joint_score(p: ParsedShots, w: int, h: int, keypoints: Any, reference: Any) -> float:
    people = people_from_json(keypoints)
    ref = None
    if reference not in (None, ""):
        try:
            ref = _references(reference)[0]
        except (ValueError, KeyError, TypeError, ShotCropError):
            ref = None
    return joint_safety_score(p.boxes, people, w, h, ref)


def joint_safety_reward(prompts=None, completions=(), **kwargs) -> list[float]:
    """The shot grammar's joint and eye-line rules on the subject's landmarks (see
    `joint_safety_score`); 1 when the sample has no landmarks."""
    return _each("joint_safety", completions, kwargs, _joint_score, "keypoints", "reference")


# -- aesthetics --------------------------------------------------------------------------------
def make_aesthetic_reward(scorer: Any, image_column: str = "image_path") -> RewardFn:
    """A reward from an aesthetic predictor (`train.scorers.AestheticScorer`: `.score(list of
    PIL images) -> list of floats in [0, 1]`): the mean score of the three crops. The photo comes
    from `image_column` (a path, or a PIL image). All crops of a batch are scored in one call."""
    from ..imageio import crop, load_image

    def aesthetic_reward(prompts=None, completions=(), **kwargs) -> list[float]:
        n = len(completions)
        crops: list[Any] = []
        owners: list[int] = []
        cache: dict[str, Any] = {}
        try:
            rows = list(_rows(completions, kwargs, "width", "height", "family", "input_size",
                              image_column))
        except Exception as e:  # noqa: BLE001
            _warn_once("aesthetic", e)
            return [0.0] * n
        for i, (c, w, h, fam, size, img) in enumerate(rows):
            try:
                parsed = _parsed(c, w, h, fam, size)
                if parsed is None or img is None:
                    continue
                if isinstance(img, str):
                    if img not in cache:
                        cache[img] = load_image(img).image
                    img = cache[img]
                if img.size != (int(w), int(h)):  # boxes are pixels of the upright photo
                    raise ValueError(f"image is {img.size}, the sample says {w}x{h}")
                for name in SHOT_NAMES:
                    crops.append(crop(img, parsed.boxes[name]))
                    owners.append(i)
            except Exception as e:  # noqa: BLE001
                _warn_once("aesthetic", e)
        out = [0.0] * n
        if not crops:
            return out
        try:
            scores = [float(s) for s in scorer.score(crops)]
        except Exception as e:  # noqa: BLE001 - a scorer failure costs this term, not the run
            _warn_once("aesthetic", e)
            return out
        sums = [0.0] * n
        for i, s in zip(owners, scores):
            sums[i] += min(1.0, max(0.0, s)) if math.isfinite(s) else 0.0
        return [s / len(SHOT_NAMES) for s in sums]

    return aesthetic_reward


# -- assembly ----------------------------------------------------------------------------------
REWARDS: dict[str, RewardFn] = {
    "iou": iou_reward,
    "format": format_reward,
    "nesting": nesting_reward,
    "aspect": aspect_reward,
    "joint_safety": joint_safety_reward,
}


def reward_functions(names: Sequence[str] | None = None, weights: Mapping[str, float] | None = None,
                     aesthetic: Any = None) -> tuple[list[RewardFn], list[float]]:
    """(reward functions, weights) for `GRPOTrainer(reward_funcs=...)` and
    `GRPOConfig(reward_weights=...)`, in the same order.

    `names` defaults to every reward in DEFAULT_WEIGHTS, "aesthetic" only when a scorer is given;
    `weights` overrides single defaults; `aesthetic` is a scorer (see `make_aesthetic_reward`).
    """
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(DEFAULT_WEIGHTS))
    if unknown:
        raise ShotCropError(f"unknown reward {unknown[0]!r} in the weights: use "
                            f"{', '.join(DEFAULT_WEIGHTS)}")
    if names is None:
        names = [n for n in DEFAULT_WEIGHTS if n != "aesthetic" or aesthetic is not None]
    funcs, out = [], []
    for name in names:
        if name not in DEFAULT_WEIGHTS:
            raise ShotCropError(f"unknown reward {name!r}: use {', '.join(DEFAULT_WEIGHTS)}")
        if name == "aesthetic":
            if aesthetic is None:
                raise ShotCropError("the aesthetic reward needs an aesthetic scorer "
                                    "(train.scorers.AestheticScorer); pass aesthetic=...")
            funcs.append(make_aesthetic_reward(aesthetic))
        else:
            funcs.append(REWARDS[name])
        w = float(weights.get(name, DEFAULT_WEIGHTS[name]))
        if not math.isfinite(w) or w < 0:
            raise ShotCropError(f"reward weight {name}={w} must be a finite number >= 0")
        out.append(w)
    if not funcs:
        raise ShotCropError("no reward functions chosen")
    return funcs, out


def reward_columns(example: Any, family: str, input_size: tuple[int, int] | None = None,
                   people: Sequence[Person] | None = None, aspects: Any = None) -> dict:
    """The dataset columns the rewards read, for one training example (`data.TrainExample`, or
    anything with `.sample` and `.image_path`); JSON strings keep Arrow's schema simple."""
    sample = example.sample
    refs = [{n: a.shots[n].box.to_list() for n in SHOT_NAMES} for a in sample.annotations]
    kps = [[round(float(v), 2) for v in p.keypoints.reshape(-1)] for p in people or []]
    if aspects in (None, "", {}):
        aspect_json = ""
    else:
        aspect_json = json.dumps(parse_aspect_spec(aspects))
    fam = normalize_family(family)
    return {"width": sample.width, "height": sample.height, "family": fam,
            "input_size": [int(v) for v in input_size] if input_size else None,
            "reference": json.dumps(refs[0] if len(refs) == 1 else refs),
            "keypoints": json.dumps(kps) if kps else "",
            "aspects": aspect_json,
            "image_path": str(example.image_path)}


__all__ = ["DEFAULT_WEIGHTS", "REWARDS", "RewardFn", "aspect_reward", "format_reward",
           "iou_reward", "joint_safety_reward", "joint_safety_score", "make_aesthetic_reward",
           "nesting_reward", "nesting_score", "people_from_json", "reward_columns",
           "reward_functions"]
