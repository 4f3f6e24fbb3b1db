"""People as COCO-17 keypoints plus a person box: what every perception backend returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
        kp = np.asarray(self.keypoints, dtype=np.float64)
        if kp.shape != (17, 3):
            raise ValueError(f"keypoints must have shape (17, 3), got {kp.shape}")
        kp = np.where(np.isfinite(kp), kp, 0.0)
        kp[kp[:, 2] < 0, 2] = 0.0
        object.__setattr__(self, "keypoints", kp)
        if len(self.box) != 4 or not all(np.isfinite(v) for v in self.box):
            raise ValueError(f"person box must be 4 finite numbers, got {self.box!r}")
        x0, y0, x1, y1 = (float(v) for v in self.box)
        object.__setattr__(self, "box", (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        if self.feet is not None:
            feet = np.asarray(self.feet, dtype=np.float64).reshape(-1, 3)
            object.__setattr__(self, "feet", feet)

    @classmethod
    def from_keypoints(cls, keypoints, box=None, score: float = 1.0, feet=None) -> "Person":
        """Build a person; without a box, the box is the keypoints' extent padded for the head."""
        kp = np.asarray(keypoints, dtype=np.float64).reshape(17, 3)
        if box is None:
            pts = kp[kp[:, 2] >= MIN_SCORE, :2]
            if feet is not None:
                f = np.asarray(feet, dtype=np.float64).reshape(-1, 3)
                pts = np.vstack([pts, f[f[:, 2] >= MIN_SCORE, :2]])
            if len(pts) == 0:
                raise ValueError("a person needs a box or at least one keypoint")
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

    def clipped(self, width: int, height: int) -> "Person":
        """The person with its box clipped to the image (keypoints are kept as they are)."""
        x0, y0, x1, y1 = self.box
        box = (min(max(x0, 0), width), min(max(y0, 0), height),
               min(max(x1, 0), width), min(max(y1, 0), height))
        return Person(self.keypoints, box, self.score, self.feet)

    def to_dict(self) -> dict:
        d = {"box": [round(v, 2) for v in self.box],
             "keypoints": [round(float(v), 2) for v in self.keypoints.reshape(-1)],
             "score": round(float(self.score), 4)}
        if self.feet is not None:
            d["feet"] = [round(float(v), 2) for v in self.feet.reshape(-1)]
        return d
