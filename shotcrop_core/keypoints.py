"""People as COCO-17 keypoints plus a person box: what every perception backend returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ShotCropError

COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
KP = {name: i for i, name in enumerate(COCO17)}

FACE = (KP["nose"], KP["left_eye"], KP["right_eye"], KP["left_ear"], KP["right_ear"])
EYES = (KP["left_eye"], KP["right_eye"])
EARS = (KP["left_ear"], KP["right_ear"])
SHOULDERS = (KP["left_shoulder"], KP["right_shoulder"])
HIPS = (KP["left_hip"], KP["right_hip"])
KNEES = (KP["left_knee"], KP["right_knee"])
ANKLES = (KP["left_ankle"], KP["right_ankle"])
ELBOWS = (KP["left_elbow"], KP["right_elbow"])
WRISTS = (KP["left_wrist"], KP["right_wrist"])
# Joints an edge must never cross (shot grammar, "Where never to cut").
JOINTS = ELBOWS + WRISTS + KNEES + ANKLES

#: Minimum score for a keypoint to count as present. COCO labels map to 1.0 (visible) and 0.5
#: (labelled but occluded); estimators give heatmap confidences.
MIN_SCORE = 0.3


class PersonError(ShotCropError, ValueError):
    """Person data is malformed; the message says which field and why."""


class NoLandmarksError(PersonError):
    """A person with neither a box nor a present keypoint: nothing says where they are."""


# -- validators shared by every reader of person data (keypoint files, POSE_KEYPOINT, dicts) --
def value_kind(v: Any) -> str:
    """What a wrong value is, for an error message."""
    if isinstance(v, str):
        return f"the text {v[:30]!r}"
    return "null" if v is None else f"a {type(v).__name__}"


def finite_number(v: Any, what: str, error: type[ShotCropError] = PersonError) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise error(f"{what} must be a number, got {value_kind(v)}")
    if not np.isfinite(v):
        raise error(f"{what} must be a finite number, got {v}")
    return float(v)


def number_list(values: Any, what: str, error: type[ShotCropError] = PersonError) -> list[float]:
    """A flat list of finite numbers; [x, y, score] triples (a documented-but-wrong variant)
    are flattened first."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, (list, tuple)):
        raise error(f"{what} must be a list of numbers, got {value_kind(values)}")
    if values and all(isinstance(t, (list, tuple)) and len(t) == 3 for t in values):
        values = [v for t in values for v in t]
    return [finite_number(v, f"{what}[{i}]", error) for i, v in enumerate(values)]


@dataclass(frozen=True, eq=False)
class Person:
    """One person: `keypoints` is float (17, 3) of x, y, score in source pixels (score 0 = absent).

    `box` is the person box (x0, y0, x1, y1) in source pixels; `feet` optionally holds extra
    points below the ankles (heels, toes) as (n, 3), which extend the body for the ankle rule.
    """

    keypoints: np.ndarray
    box: tuple[float, float, float, float]
    score: float = 1.0
    feet: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        try:
            kp = np.asarray(self.keypoints, dtype=np.float64)
        except (TypeError, ValueError):
            raise PersonError(f"keypoints must be numbers, got "
                              f"{value_kind(self.keypoints)}") from None
        if kp.shape != (17, 3):
            raise PersonError(f"keypoints must have shape (17, 3), got {kp.shape}")
        kp = np.where(np.isfinite(kp), kp, 0.0)
        kp[kp[:, 2] < 0, 2] = 0.0
        object.__setattr__(self, "keypoints", kp)
        try:
            box = tuple(float(v) for v in self.box)
        except (TypeError, ValueError):
            box = ()
        if len(box) != 4 or not all(np.isfinite(v) for v in box):
            raise PersonError(f"person box must be 4 finite numbers, got {self.box!r}")
        x0, y0, x1, y1 = box
        object.__setattr__(self, "box", (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        if self.feet is not None:
            try:
                feet = np.asarray(self.feet, dtype=np.float64).reshape(-1, 3)
            except (TypeError, ValueError):
                raise PersonError("feet must be x, y, score triples") from None
            object.__setattr__(self, "feet", feet)

    @classmethod
    def from_keypoints(cls, keypoints, box=None, score: float = 1.0, feet=None) -> "Person":
        """Build a person; without a box, the box is the keypoints' extent padded for the head."""
        try:
            kp = np.asarray(keypoints, dtype=np.float64).reshape(17, 3)
        except (TypeError, ValueError):
            raise PersonError("keypoints must be 17 points of x, y, score (51 numbers)") from None
        if box is None:
            pts = kp[kp[:, 2] >= MIN_SCORE, :2]
            if feet is not None:
                f = np.asarray(feet, dtype=np.float64).reshape(-1, 3)
                pts = np.vstack([pts, f[f[:, 2] >= MIN_SCORE, :2]])
            if len(pts) == 0:
                raise NoLandmarksError(f"a person needs a box or at least one keypoint with a "
                                       f"score of at least {MIN_SCORE}")
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            pad = 0.08 * max(x1 - x0, y1 - y0, 1.0)
            box = (x0 - pad, y0 - 2 * pad, x1 + pad, y1 + pad)
        return cls(kp, tuple(float(v) for v in box), score, feet)

    def has(self, idx: int) -> bool:
        return bool(self.keypoints[idx, 2] >= MIN_SCORE)

    def visible(self, idxs) -> list[int]:
        return [i for i in idxs if self.keypoints[i, 2] >= MIN_SCORE]

    @property
    def n_visible(self) -> int:
        return int((self.keypoints[:, 2] >= MIN_SCORE).sum())

    @property
    def box_w(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def box_h(self) -> float:
        return self.box[3] - self.box[1]

    def clipped_box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The person box clipped to the image."""
        x0, y0, x1, y1 = self.box
        return (min(max(x0, 0), width), min(max(y0, 0), height),
                min(max(x1, 0), width), min(max(y1, 0), height))

    def scaled(self, sx: float, sy: float) -> "Person":
        """The person in an image scaled by (sx, sy): e.g. found on a reduced decode."""
        kp = self.keypoints.copy()
        kp[:, 0] *= sx
        kp[:, 1] *= sy
        feet = None
        if self.feet is not None:
            feet = self.feet.copy()
            feet[:, 0] *= sx
            feet[:, 1] *= sy
        x0, y0, x1, y1 = self.box
        return Person(kp, (x0 * sx, y0 * sy, x1 * sx, y1 * sy), self.score, feet)

    def to_dict(self) -> dict:
        """JSON-ready; `from_dict` reads it back (coordinates rounded to 0.01 px)."""
        d = {"box": [round(v, 2) for v in self.box],
             "keypoints": [round(float(v), 2) for v in self.keypoints.reshape(-1)],
             "score": round(float(self.score), 4)}
        if self.feet is not None:
            d["feet"] = [round(float(v), 2) for v in self.feet.reshape(-1)]
        return d

    @classmethod
    def from_dict(cls, d: Any, what: str = "person") -> "Person":
        """A person from `to_dict`'s form, as keypoint files and dataset columns hold it:
        {"keypoints": 51 numbers (x, y, score of each COCO-17 point; 17 triples also work),
        "box": [x0, y0, x1, y1] (missing or null: from the keypoints, see `from_keypoints`),
        "score": number (default 1), "feet": [x, y, score, ...] (optional)}.

        Malformed data raises PersonError naming `what` and the field; NoLandmarksError (a
        PersonError) when there is no box and no keypoint of at least MIN_SCORE.
        """
        if not isinstance(d, dict) or "keypoints" not in d:
            raise PersonError(f"{what} must be an object with 'keypoints' (17 COCO points as "
                              f"51 numbers x, y, score)")
        kp = number_list(d["keypoints"], f"{what}.keypoints")
        if len(kp) != 51:
            raise PersonError(f"{what}.keypoints must hold 51 numbers (x, y, score per point), "
                              f"got {len(kp)}")
        box = d.get("box")
        if box is not None:
            box = box.tolist() if isinstance(box, np.ndarray) else box
            if not isinstance(box, (list, tuple)) or len(box) != 4:
                raise PersonError(f"{what}.box must be a list of 4 numbers [x0, y0, x1, y1], "
                                  f"got {box!r}")
            box = tuple(finite_number(v, f"{what}.box[{k}]") for k, v in enumerate(box))
        score = 1.0 if d.get("score") is None else finite_number(d["score"], f"{what}.score")
        feet = d.get("feet")
        if feet is not None and not (isinstance(feet, (list, tuple, np.ndarray)) and not len(feet)):
            feet = number_list(feet, f"{what}.feet")
            if len(feet) % 3:
                raise PersonError(f"{what}.feet must hold x, y, score triples: its length "
                                  f"{len(feet)} is not a multiple of 3")
        else:
            feet = None  # none given, or an empty list
        try:
            return cls.from_keypoints(kp, box, score, feet)
        except NoLandmarksError:
            raise NoLandmarksError(f"{what} has no 'box' and no keypoint with a score of at "
                                   f"least {MIN_SCORE}: give a box [x0, y0, x1, y1]") from None
