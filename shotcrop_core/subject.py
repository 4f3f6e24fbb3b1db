"""Which person the shots are about, in a photo with several people.

* `choose_subject`: before framing, the main subject (an index, a hint, else the most prominent).
* `match_person` / `match_subject`: afterwards, the person a box (a shot set's subject box) shows:
  the best IoU between the box and each person box clipped to the image, at least MATCH_IOU;
  ties go to the first person. `people_matching` lists every person that reaches it.
* `subject_of_close_up`: the person a close-up is about when there is no subject box: the most
  face points (nose, eyes, ears, present from MIN_SCORE) inside it, then the largest person box.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .boxmath import iou
from .errors import ShotCropError
from .keypoints import FACE, MIN_SCORE, Person
from .shots import Box, ShotSet

HINTS = ("largest", "left", "right", "center", "front")
#: A person box and a subject box show the same person from this IoU up (each person box is
#: clipped to the image first: annotators and pose models draw boxes past the photo's edge).
MATCH_IOU = 0.3
#: A person found with at least this score counts fully in prominence; less, in proportion.
SURE_SCORE = 0.5


def _sharpness(gray: np.ndarray | None, box, width: int, height: int) -> float:
    """Variance of a Laplacian inside the box of a small greyscale copy (focus cue)."""
    if gray is None:
        return 1.0
    gh, gw = gray.shape
    sx, sy = gw / width, gh / height
    x0, y0 = int(max(box[0] * sx, 0)), int(max(box[1] * sy, 0))
    x1, y1 = int(min(box[2] * sx, gw)), int(min(box[3] * sy, gh))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return 0.0
    g = gray[y0:y1, x0:x1]
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


def prominence(people: list[Person], width: int, height: int,
               gray: np.ndarray | None = None) -> np.ndarray:
    """Score each person by size, centrality, face visibility, completeness, sharpness and how
    sure the perception is that it is a person."""
    scores = []
    sharp = [_sharpness(gray, p.box, width, height) for p in people]
    top = max(sharp) if sharp and max(sharp) > 0 else 1.0
    diag = np.hypot(width, height) / 2
    for p, s in zip(people, sharp):
        x0, y0, x1, y1 = p.box
        area = max(min(x1, width) - max(x0, 0), 0) * max(min(y1, height) - max(y0, 0), 0)
        size = np.sqrt(area / (width * height))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        central = 1 - 0.5 * min(np.hypot(cx - width / 2, cy - height / 2) / diag, 1)
        face = 0.5 + 0.5 * len(p.visible(FACE)) / 5
        # A detector's doubtful box (a towel, a coat on a hook) must not outrank a sure person;
        # human keypoints score 1.
        sure = min(1.0, max(p.score, 0.0) / SURE_SCORE)
        complete = 0.6 + 0.4 * p.n_visible / 17
        focus = 0.75 + 0.25 * s / top
        scores.append(size * central * face * complete * focus * sure)
    return np.asarray(scores)


def choose_subject(people: list[Person], width: int, height: int, index: int | None = None,
                   hint: str | None = None, gray: np.ndarray | None = None) -> int:
    """Index of the main subject: by `index` if given, else by `hint`, else the most prominent."""
    if not people:
        raise ShotCropError("no person to choose a subject from")
    if index is not None:
        if not 0 <= index < len(people):
            n = len(people)
            raise ShotCropError(f"subject index {index} is out of range: this photo has "
                                f"{n} {'person' if n == 1 else 'people'} (indices 0-{n - 1}, "
                                f"ordered by the perception backend)")
        return index
    score = prominence(people, width, height, gray)
    h = (hint or "").strip().lower()
    if h:
        cx = np.array([(p.box[0] + p.box[2]) / 2 for p in people])
        size = np.array([p.box_w * p.box_h for p in people])
        if h in ("largest", "front", "biggest"):
            return int(np.argmax(size))
        if h in ("left", "leftmost"):
            return int(np.argmin(cx))
        if h in ("right", "rightmost"):
            return int(np.argmax(cx))
        if h in ("center", "centre", "middle"):
            return int(np.argmin(np.abs(cx - width / 2)))
        raise ShotCropError(f"subject hint {hint!r} is not understood: use one of "
                            f"{', '.join(HINTS)}, or a subject index")
    return int(np.argmax(score))


def _overlaps(box: Box | Sequence[float], people: Sequence[Person], width: int,
              height: int) -> list[float]:
    return [iou(p.clipped_box(width, height), box) for p in people]


def match_person(box: Box | Sequence[float], people: Sequence[Person], width: int, height: int,
                 min_iou: float = MATCH_IOU) -> int | None:
    """Index of the person whose box, clipped to the width x height image, overlaps `box` most;
    ties go to the first; None when there is nobody or the best IoU is below `min_iou`."""
    scores = _overlaps(box, people, width, height)
    if not scores:
        return None
    best = max(range(len(scores)), key=scores.__getitem__)
    return best if scores[best] >= min_iou else None


def people_matching(box: Box | Sequence[float], people: Sequence[Person], width: int,
                    height: int, min_iou: float = MATCH_IOU) -> list[int]:
    """Indices, in order, of every person whose clipped box overlaps `box` by at least `min_iou`
    (e.g. the predicted people that may be a human-annotated one)."""
    return [i for i, v in enumerate(_overlaps(box, people, width, height)) if v >= min_iou]


def match_subject(shots: ShotSet, people: Sequence[Person]) -> Person | None:
    """The person `shots` were built around: `match_person` for its subject box; None when the
    set has no subject or nobody overlaps it by MATCH_IOU."""
    if shots.subject is None:
        return None
    i = match_person(shots.subject.box, people, shots.width, shots.height)
    return None if i is None else people[i]


def face_points_inside(person: Person, box: Box, points: Sequence[int] = FACE) -> int:
    """How many of `points` (COCO-17 indices) the person shows inside `box`, edges included."""
    kp = person.keypoints
    return sum(1 for i in points if kp[i, 2] >= MIN_SCORE
               and box.x0 <= kp[i, 0] <= box.x1 and box.y0 <= kp[i, 1] <= box.y1)


def subject_of_close_up(people: Sequence[Person], close_up: Box) -> int:
    """Index of the person a close-up is about: the most face points inside it, then the largest
    person box (without faces inside it, the largest person); the first on a full tie."""
    if not people:
        raise ShotCropError("no person to find the close-up's subject among")

    def key(i: int) -> tuple[int, float]:
        p = people[i]
        return face_points_inside(p, close_up), p.box_w * p.box_h
    return max(range(len(people)), key=key)
