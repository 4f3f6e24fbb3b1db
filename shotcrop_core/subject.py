"""Choosing the main subject of a photo with several people."""

from __future__ import annotations

import numpy as np

from .errors import ShotCropError
from .keypoints import FACE, Person

HINTS = ("largest", "left", "right", "center", "front")


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
    """Score each person by size, centrality, face visibility, completeness and sharpness."""
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
        complete = 0.6 + 0.4 * p.n_visible / 17
        focus = 0.75 + 0.25 * s / top
        scores.append(size * central * face * complete * focus)
    return np.asarray(scores)


def choose_subject(people: list[Person], width: int, height: int, index: int | None = None,
                   hint: str | None = None, gray: np.ndarray | None = None) -> int:
    """Index of the main subject: by `index` if given, else by `hint`, else the most prominent."""
    if not people:
        raise ShotCropError("no person to choose a subject from")
    if index is not None:
        if not 0 <= index < len(people):
            raise ShotCropError(f"subject index {index} is out of range: this photo has "
                                f"{len(people)} people (indices 0-{len(people) - 1}, "
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
