"""TSC-Bench: load expert shot triples (docs/tsc-format.md) and score predicted shot sets.

Metrics follow the image-cropping literature (FCDB / FLMS protocol as used by GAIC, CACNet and
Human-Centric cropping): per crop, IoU of the rectangles and the Boundary Displacement Error; with
several references the prediction is scored against the reference it overlaps best.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from ..boxmath import bde, iou
from ..errors import ShotCropError
from ..shots import SHOT_NAMES, Box, ShotSet, ShotSetError

FORMAT_NAME = "shotcrop-tsc"
FORMAT_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Relative aspect difference still treated as "the same image at another size": downscalers
#: round each side to whole pixels, so 1000x667 must match 3000x2000.
ASPECT_TOLERANCE = 0.01


class TscFormatError(ShotCropError, ValueError):
    """A TSC annotation file is malformed; the message names the file, the sample and the field."""


# -- data model ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TscShot:
    box: Box
    description: str = ""


@dataclass(frozen=True)
class TscAnnotation:
    """One annotator's triple for one image."""

    shots: Mapping[str, TscShot]
    annotator: str | None = None
    reasoning: str | None = None


@dataclass(frozen=True)
class TscSample:
    index: int
    image: str
    width: int
    height: int
    split: str
    annotations: tuple[TscAnnotation, ...]
    reasoning: str | None = None

    @property
    def name(self) -> str:
        """Basename used to match predictions (paths differ between machines, names do not)."""
        return _basename(self.image)

    def references(self, shot: str) -> list[Box]:
        return [a.shots[shot].box for a in self.annotations]


@dataclass(frozen=True)
class TscDataset:
    samples: tuple[TscSample, ...]
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.samples)

    def split(self, name: str) -> "TscDataset":
        return TscDataset(tuple(s for s in self.samples if s.split == name), self.source)


# -- loading ---------------------------------------------------------------------------------
def load_tsc(path: str | os.PathLike[str]) -> TscDataset:
    src = str(path)
    if not Path(path).is_file():
        raise TscFormatError(f"{src}: no such TSC file (docs/tsc-format.md); write one, or draft "
                             "one from COCO keypoints with `shotcrop train draft`")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TscFormatError(f"{src}: cannot read the TSC file: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TscFormatError(f"{src}: not valid JSON (line {e.lineno}, column {e.colno}): "
                             f"{e.msg}") from None
    return parse_tsc(data, src)


def parse_tsc(data: Any, source: str = "<memory>") -> TscDataset:
    if not isinstance(data, dict):
        raise TscFormatError(f"{source}: the top level must be a JSON object, "
                             f"got {type(data).__name__}")
    if data.get("format") != FORMAT_NAME:
        raise TscFormatError(f"{source}: 'format' must be {FORMAT_NAME!r}, "
                             f"got {data.get('format')!r}")
    if data.get("version") != FORMAT_VERSION:
        raise TscFormatError(f"{source}: unsupported 'version' {data.get('version')!r}; "
                             f"this reader understands version {FORMAT_VERSION}")
    raw = data.get("samples")
    if not isinstance(raw, list) or not raw:
        raise TscFormatError(f"{source}: 'samples' must be a non-empty list")
    samples: list[TscSample] = []
    seen: dict[str, int] = {}
    for i, s in enumerate(raw):
        sample = _parse_sample(s, i, source)
        if sample.name in seen:  # predictions are matched by basename, so it must be unique
            raise TscFormatError(f"{source}: sample {i} ({sample.image}): image name "
                                 f"{sample.name!r} is already used by sample {seen[sample.name]}")
        seen[sample.name] = i
        samples.append(sample)
    return TscDataset(tuple(samples), source)


def _parse_sample(s: Any, i: int, source: str) -> TscSample:
    where = f"{source}: sample {i}"

    def fail(problem: str) -> TscFormatError:
        return TscFormatError(f"{where}: {problem}")

    if not isinstance(s, dict):
        raise fail(f"must be an object, got {type(s).__name__}")
    image = s.get("image")
    if not isinstance(image, str) or not _basename(image):
        raise fail(f"'image' must be a non-empty file name, got {image!r}")
    where = f"{source}: sample {i} ({image})"
    for key in ("width", "height"):
        v = s.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise fail(f"{key!r} must be a positive integer, got {v!r}")
    width, height = s["width"], s["height"]
    split = s.get("split", "test")
    if split not in SPLITS:
        raise fail(f"'split' must be one of {', '.join(SPLITS)}, got {split!r}")
    reasoning = _opt_str(s, "reasoning", fail)
    if ("shots" in s) == ("annotations" in s):
        raise fail("give exactly one of 'shots' (one annotator) or 'annotations' (several)")
    if "shots" in s:
        entries: list[Any] = [{"shots": s["shots"]}]
    else:
        entries = s["annotations"]
        if not isinstance(entries, list) or not entries:
            raise fail("'annotations' must be a non-empty list of {\"shots\": ...} objects")
    annotations = []
    for j, a in enumerate(entries):
        tag = "" if "shots" in s else f"annotations[{j}]: "
        if not isinstance(a, dict):
            raise fail(f"{tag}must be an object, got {type(a).__name__}")
        shots = a.get("shots")
        if not isinstance(shots, dict):
            raise fail(f"{tag}'shots' must be an object keyed by {', '.join(SHOT_NAMES)}")
        unknown = sorted(set(shots) - set(SHOT_NAMES))
        if unknown:
            raise fail(f"{tag}unknown shot {unknown[0]!r}: use {', '.join(SHOT_NAMES)}")
        missing = [n for n in SHOT_NAMES if n not in shots]
        if missing:
            raise fail(f"{tag}missing shot {', '.join(repr(m) for m in missing)}")
        parsed: dict[str, TscShot] = {}
        for name in SHOT_NAMES:
            shot = shots[name]
            if not isinstance(shot, dict) or "box" not in shot:
                raise fail(f"{tag}shot {name!r} must be an object with a 'box'")
            try:
                box = Box.from_list(shot["box"], f"{name} box")
            except ShotSetError as e:
                raise fail(f"{tag}{e}") from None
            if not box.inside(width, height):
                raise fail(f"{tag}{name} box {box.to_list()} lies outside the "
                           f"{width}x{height} image")
            desc = shot.get("description", "")
            if not isinstance(desc, str):
                raise fail(f"{tag}shot {name!r}: 'description' must be a string")
            parsed[name] = TscShot(box, desc)
        annotations.append(TscAnnotation(parsed, _opt_str(a, "annotator", fail, tag),
                                         _opt_str(a, "reasoning", fail, tag)))
    return TscSample(i, image, width, height, split, tuple(annotations), reasoning)


def _opt_str(d: dict, key: str, fail: Callable[[str], TscFormatError],
             tag: str = "") -> str | None:
    v = d.get(key)
    if v is not None and not isinstance(v, str):
        raise fail(f"{tag}{key!r} must be a string, got {type(v).__name__}")
    return v


def _basename(path: str) -> str:
    # Annotation files written on Windows use backslashes; normalise before taking the name.
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


# -- metrics (per crop: boxmath.iou and boxmath.bde) -----------------------------------------
def best_reference(pred: Box, refs: list[Box], width: int, height: int
                   ) -> tuple[int, float, float]:
    """(index, IoU, BDE) against the reference with the highest IoU, ties to the lowest BDE.

    Both numbers come from the same reference, as in the evaluation code `bde` cites, rather than
    taking max IoU and min BDE independently (which could mix two references).
    """
    scored = [(iou(pred, r), bde(pred, r, width, height), k) for k, r in enumerate(refs)]
    i, d, k = max(scored, key=lambda t: (t[0], -t[1]))
    return k, i, d


# -- scoring ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TscRow:
    image: str
    split: str
    iou: dict[str, float]
    bde: dict[str, float]
    reference: dict[str, int]  # which annotator each shot was scored against
    scaled: bool = False  # the prediction was made on a resized copy and scaled back

    @property
    def mean_iou(self) -> float:
        return sum(self.iou.values()) / len(self.iou)

    @property
    def mean_bde(self) -> float:
        return sum(self.bde.values()) / len(self.bde)


@dataclass(frozen=True)
class TscResult:
    total: int  # samples in the (split of the) benchmark
    shot_iou: dict[str, float]  # mean over scored samples; nan when none was scored
    shot_bde: dict[str, float]
    rows: list[TscRow]
    missing: list[str] = field(default_factory=list)  # images with no prediction
    errors: list[tuple[str, str]] = field(default_factory=list)  # (image, why not scored)
    extra: list[str] = field(default_factory=list)  # predictions for images not in the benchmark
    missing_as_worst: bool = False

    @property
    def count(self) -> int:
        """Samples that contribute to the means (scored, plus unscored ones if penalised)."""
        return len(self.rows) + (len(self.missing) + len(self.errors)
                                 if self.missing_as_worst else 0)

    @property
    def mean_iou(self) -> float:
        return _mean(list(self.shot_iou.values()))

    @property
    def mean_bde(self) -> float:
        return _mean(list(self.shot_bde.values()))

    @property
    def complete(self) -> bool:
        return not self.missing and not self.errors

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """(headers, rows) of the per-shot summary, for report.format_table / markdown_table."""
        rows: list[list[Any]] = [[n, self.shot_iou[n], self.shot_bde[n]] for n in SHOT_NAMES]
        rows.append(["mean", self.mean_iou, self.mean_bde])
        return ["shot", "IoU", "BDE"], rows

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "count": self.count, "scored": len(self.rows),
                "mean_iou": self.mean_iou, "mean_bde": self.mean_bde,
                "shot_iou": self.shot_iou, "shot_bde": self.shot_bde,
                "missing": self.missing, "errors": [list(e) for e in self.errors],
                "extra": self.extra, "missing_as_worst": self.missing_as_worst,
                "rows": [{"image": r.image, "split": r.split, "iou": r.iou, "bde": r.bde,
                          "reference": r.reference, "scaled": r.scaled} for r in self.rows]}


def score_tsc(predictions: Mapping[str, ShotSet], tsc: TscDataset | str | os.PathLike[str],
              split: str | None = None, missing_as_worst: bool = False) -> TscResult:
    """Score predicted shot sets (keyed by image path or name) against TSC references.

    Images without a usable prediction are listed in `missing` / `errors`, never dropped
    silently. By default the means cover scored samples only; with `missing_as_worst` each
    unscored sample counts as IoU 0 and BDE 1 (the worst values), so partial runs cannot look
    better than complete ones.
    """
    data = tsc if isinstance(tsc, TscDataset) else load_tsc(tsc)
    if split is not None:
        data = data.split(split)
    by_name: dict[str, tuple[str, ShotSet]] = {}
    for key, pred in predictions.items():
        name = _basename(str(key))
        if name in by_name:
            raise ShotCropError(f"predictions {by_name[name][0]!r} and {key!r} share the image "
                                f"name {name!r}; TSC matches predictions by file name")
        if not isinstance(pred, ShotSet):
            raise ShotCropError(f"prediction for {key!r} must be a ShotSet, "
                                f"got {type(pred).__name__}")
        by_name[name] = (str(key), pred)

    rows: list[TscRow] = []
    missing: list[str] = []
    errors: list[tuple[str, str]] = []
    for sample in data.samples:
        hit = by_name.get(sample.name)
        if hit is None:
            missing.append(sample.image)
            continue
        try:
            boxes, scaled = _to_sample_size(hit[1], sample)
        except ShotCropError as e:
            errors.append((sample.image, str(e)))
            continue
        ious, bdes, refs = {}, {}, {}
        for name in SHOT_NAMES:
            refs[name], ious[name], bdes[name] = best_reference(
                boxes[name], sample.references(name), sample.width, sample.height)
        rows.append(TscRow(sample.image, sample.split, ious, bdes, refs, scaled))

    known = {s.name for s in data.samples}
    extra = sorted(k for n, (k, _) in by_name.items() if n not in known)
    unscored = len(missing) + len(errors) if missing_as_worst else 0
    shot_iou = {n: _mean([r.iou[n] for r in rows] + [0.0] * unscored) for n in SHOT_NAMES}
    shot_bde = {n: _mean([r.bde[n] for r in rows] + [1.0] * unscored) for n in SHOT_NAMES}
    return TscResult(len(data.samples), shot_iou, shot_bde, rows, missing, errors, extra,
                     missing_as_worst)


def _to_sample_size(pred: ShotSet, sample: TscSample) -> tuple[dict[str, Box], bool]:
    """The predicted boxes in the sample's pixel grid, scaling a prediction made on a resized
    copy of the same image; a different aspect means a different (or rotated) image."""
    if (pred.width, pred.height) == (sample.width, sample.height):
        return {s.name: s.box for s in pred}, False
    sx, sy = sample.width / pred.width, sample.height / pred.height
    if abs(sx / sy - 1) > ASPECT_TOLERANCE:
        raise ShotCropError(f"prediction is {pred.width}x{pred.height} but the reference image "
                            f"is {sample.width}x{sample.height}: the aspect ratio differs "
                            f"(rotated or a different image?)")
    return {s.name: Box.from_floats(s.box.x0 * sx, s.box.y0 * sy, s.box.x1 * sx, s.box.y1 * sy,
                                    sample.width, sample.height) for s in pred}, True


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan
