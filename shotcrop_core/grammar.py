"""The shot grammar as checks: what makes a close-up, a medium and an establishing shot valid.

One definition serves three users: the framing engine (it picks boxes that pass), `refine` (it
repairs boxes until they pass) and `shotcrop bench` (it scores shots against human keypoints).
Numbers come from docs/shot-grammar.md; each rule has a short id used in warnings and reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anatomy import Anatomy, measure
from .keypoints import FACE
from .shots import within_reach

# -- numbers of the grammar ---------------------------------------------------------------
FOREHEAD_U = 0.3        # top edge at or above eye line - 0.3u (close-up and medium)
CHIN_MIN_U = 0.6        # close-up bottom at or below eye line + 0.6u
CU_MAX_TORSO = 0.5      # close-up bottom no lower than shoulder line + 0.5 torso
WAIST_TORSO = 0.6       # medium bottom at or below shoulder line + 0.6 torso
KNEE_SLACK_SHIN = 0.3   # medium bottom no lower than "just below the knees": knee + 0.3 shin
EYE_LINE = (0.20, 0.45)  # eyes' distance from the top edge, as a share of the crop height
SUBJECT_MAX_H = 0.90    # establishing: person box at most 90% of the crop height
EST_AREA = 1.5          # establishing at least 1.5x the medium's area
NEST = 0.90             # each shot lies inside the next for >= 90% of its area
CUT_BAND = 0.03         # no edge within 3% of the crop height of a joint in its span
LOOK_ROOM = 0.5         # face centre no further than half-way toward the side it looks to
BYSTANDER_SHARE = 0.5   # another person at least half the subject's height: never slice a face
FACE_SLICE = (0.15, 0.85)  # a face is sliced when this share of it (exclusive) is inside a shot

RULES = {
    "face": "the whole face is not inside",
    "shoulders": "both shoulders are not inside",
    "forehead": "the top edge cuts the forehead (must be at or above eye line - 0.3u)",
    "chin": "the bottom edge is above the chin (must be at or below eye line + 0.6u)",
    "too_low": "the bottom edge is lower than mid-torso",
    "waist": "the bottom edge is above the waist",
    "knees": "the bottom edge is lower than just below the knees",
    "ankles": "an ankle is inside the frame",
    "eye_line": "the eyes are not 20-45% from the top edge",
    "look_room": "no look room on the side the face turns to",
    "subject": "the whole subject is not inside",
    "room": "the subject fills more than 90% of the frame height",
    "wider": "it is not 1.5x the medium shot's area",
    "cut": "an edge crosses a joint (knee, elbow, wrist or ankle)",
    "image": "the box leaves the image (or reaches further past it than allowed)",
    "face_sliced": "an edge crosses another person's face",
}

#: Composition rules: scored apart from validity (eye line, awkward cuts, look room, sliced
#: bystander faces).
COMPOSITION = frozenset({"cut", "eye_line", "look_room", "face_sliced"})

Rect = tuple[float, float, float, float]


def joint_cuts(box: Rect, joints) -> list[tuple[float, float]]:
    """Joints that a bottom or side edge passes within CUT_BAND of the crop height."""
    x0, y0, x1, y1 = box
    band = CUT_BAND * (y1 - y0)
    out = []
    for jx, jy in joints:
        bottom = x0 <= jx <= x1 and abs(y1 - jy) < band
        side = y0 <= jy <= y1 and (abs(x0 - jx) < band or abs(x1 - jx) < band)
        if bottom or side:
            out.append((jx, jy))
    return out


def bystander_faces(people, subject: int, measured=measure) -> list[Rect]:
    """The faces no shot may slice: of every other person at least BYSTANDER_SHARE of the
    subject's height whose face shows (a face point present), from the crown to the chin.
    `measured`: `anatomy.measure`, or a cached one when the caller measures people again."""
    sh = people[subject].box_h
    out = []
    for i, p in enumerate(people):
        if i == subject or p.box_h < BYSTANDER_SHARE * sh or not p.visible(FACE):
            continue
        a = measured(p)
        fx0, fy0, fx1, fy1 = a.face_box
        out.append((fx0 - 0.15 * a.u, min(fy0, a.crown_y), fx1 + 0.15 * a.u, max(fy1, a.chin_y)))
    return out


def face_shares(boxes: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(n boxes, m faces): the share of each face's area inside each box (rows x0 y0 x1 y1)."""
    b, f = np.asarray(boxes, float).reshape(-1, 1, 4), np.asarray(faces, float).reshape(1, -1, 4)
    iw = np.clip(np.minimum(b[..., 2], f[..., 2]) - np.maximum(b[..., 0], f[..., 0]), 0, None)
    ih = np.clip(np.minimum(b[..., 3], f[..., 3]) - np.maximum(b[..., 1], f[..., 1]), 0, None)
    return iw * ih / np.maximum((f[..., 2] - f[..., 0]) * (f[..., 3] - f[..., 1]), 1e-9)


def sliced_faces(box: Rect, faces: list[Rect]) -> list[Rect]:
    """Faces an edge of `box` crosses: partly inside (FACE_SLICE), neither whole nor left out."""
    if not faces:
        return []
    lo, hi = FACE_SLICE
    share = face_shares(np.asarray([box]), np.asarray(faces))[0]
    return [f for f, v in zip(faces, share) if lo < v < hi]


def _inside(pt, box: Rect) -> bool:
    return box[0] <= pt[0] <= box[2] and box[1] <= pt[1] <= box[3]


def eye_fraction(box: Rect, a: Anatomy) -> float:
    return (a.eye_y - box[1]) / max(box[3] - box[1], 1e-9)


def check_close_up(box: Rect, a: Anatomy) -> list[str]:
    x0, y0, x1, y1 = box
    bad = []
    if not all(_inside(p, box) for p in a.face_points):
        bad.append("face")
    if y0 > a.eye_y - FOREHEAD_U * a.u:
        bad.append("forehead")
    if y1 < a.eye_y + CHIN_MIN_U * a.u:
        bad.append("chin")
    if y1 > a.shoulder_y + CU_MAX_TORSO * a.torso:
        bad.append("too_low")
    f = eye_fraction(box, a)
    if not EYE_LINE[0] <= f <= EYE_LINE[1]:
        bad.append("eye_line")
    if a.facing:
        side = (a.face_x - x0) / max(x1 - x0, 1e-9)
        if (a.facing > 0 and side > LOOK_ROOM + 0.02) or (a.facing < 0 and side < LOOK_ROOM - 0.02):
            bad.append("look_room")
    return bad


def medium_bottom_range(a: Anatomy) -> tuple[float, float]:
    return (a.shoulder_y + WAIST_TORSO * a.torso, a.knee_y + KNEE_SLACK_SHIN * a.shin)


def check_medium(box: Rect, a: Anatomy) -> list[str]:
    x0, y0, x1, y1 = box
    bad = []
    if not all(_inside(p, box) for p in a.face_points):
        bad.append("face")
    if not (x0 <= a.shoulders_x[0] and a.shoulders_x[1] <= x1 and y0 <= a.shoulder_y <= y1):
        bad.append("shoulders")
    if y0 > a.eye_y - FOREHEAD_U * a.u:
        bad.append("forehead")
    lo, hi = medium_bottom_range(a)
    if y1 < lo:
        bad.append("waist")
    if y1 > hi:
        bad.append("knees")
    if any(_inside(p, box) for p in a.ankles):
        bad.append("ankles")
    f = eye_fraction(box, a)
    if not EYE_LINE[0] <= f <= EYE_LINE[1]:
        bad.append("eye_line")
    return bad


def check_establishing(box: Rect, a: Anatomy, width: int, height: int) -> list[str]:
    x0, y0, x1, y1 = box
    bad = []
    bx0, by0, bx1, by1 = (max(a.box[0], 0), max(a.box[1], 0),
                          min(a.box[2], width), min(a.box[3], height))
    if not (x0 <= bx0 + 1 and y0 <= by0 + 1 and bx1 - 1 <= x1 and by1 - 1 <= y1):
        bad.append("subject")
    tight = (by1 - by0) > SUBJECT_MAX_H * height
    if (by1 - by0) > SUBJECT_MAX_H * (y1 - y0) and not (tight and y1 - y0 >= height - 1):
        bad.append("room")
    return bad


def check_shot(name: str, box: Rect, a: Anatomy, width: int, height: int,
               beyond: float = 0.0) -> list[str]:
    """Failed rule ids of one shot on its own (set-level rules are in `check_set`); `beyond`:
    the share of the photo per side a shot may reach past it (padding to outpaint)."""
    if name == "close_up":
        bad = check_close_up(box, a)
    elif name == "medium":
        bad = check_medium(box, a)
    else:
        bad = check_establishing(box, a, width, height)
    if joint_cuts(box, a.joints):
        bad.append("cut")
    if not within_reach(box, width, height, beyond):
        bad.append("image")
    return bad


def _area(b: Rect) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _frac_inside(inner: Rect, outer: Rect) -> float:
    w = min(inner[2], outer[2]) - max(inner[0], outer[0])
    h = min(inner[3], outer[3]) - max(inner[1], outer[1])
    return max(0.0, w) * max(0.0, h) / max(_area(inner), 1e-9)


def coherent(cu: Rect, med: Rect, est: Rect) -> bool:
    """Areas strictly grow and each shot lies >= 90% inside the next."""
    return (_area(cu) < _area(med) < _area(est)
            and _frac_inside(cu, med) >= NEST and _frac_inside(med, est) >= NEST)


@dataclass(frozen=True)
class SetReport:
    """How one shot set scores against the grammar."""

    failures: dict[str, list[str]]
    coherent: bool

    @property
    def valid(self) -> dict[str, bool]:
        return {k: not [r for r in v if r not in COMPOSITION] for k, v in self.failures.items()}

    @property
    def all_valid(self) -> bool:
        return all(self.valid.values())

    @property
    def eye_line(self) -> bool:
        return not any("eye_line" in self.failures[k] for k in ("close_up", "medium"))

    @property
    def no_cut(self) -> bool:
        return not any("cut" in v for v in self.failures.values())

    @property
    def all_three(self) -> bool:
        """Every shot valid, the set coherent, eye line kept, no awkward cut."""
        return self.all_valid and self.coherent and self.eye_line and self.no_cut

    @property
    def look_room(self) -> bool:
        return "look_room" not in self.failures["close_up"]

    @property
    def faces_whole(self) -> bool:
        """No shot slices a bystander's face."""
        return not any("face_sliced" in v for v in self.failures.values())


def check_set(boxes: dict[str, Rect], a: Anatomy, width: int, height: int,
              faces: list[Rect] = (), beyond: float = 0.0) -> SetReport:
    """The set against the grammar; `faces`: bystander faces (`bystander_faces`) no edge may
    slice; `beyond`: how far past the photo shots may reach (`check_shot`)."""
    failures = {n: check_shot(n, boxes[n], a, width, height, beyond)
                for n in ("establishing", "medium", "close_up")}
    if len(faces):  # every shot against every face at once
        lo, hi = FACE_SLICE
        names = [n for n in boxes if n in failures]
        share = face_shares(np.asarray([boxes[n] for n in names]), np.asarray(faces))
        for n, row in zip(names, share):
            if ((row > lo) & (row < hi)).any():
                failures[n].append("face_sliced")
    if _area(boxes["establishing"]) < EST_AREA * _area(boxes["medium"]):
        failures["establishing"].append("wider")
    return SetReport(failures, coherent(boxes["close_up"], boxes["medium"], boxes["establishing"]))
