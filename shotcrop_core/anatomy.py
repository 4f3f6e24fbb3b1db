"""Body lines measured from COCO-17 keypoints, with estimates where keypoints are missing.

The shot grammar is written in body lines (eye line, shoulder line, hip line...) and in `u`, the
eye-to-shoulder distance (about one head height). Missing parts are estimated from what is there
using average proportions (eye->shoulder = u, shoulder->hip ~ 3u, hip->knee ~ 2.4u,
knee->ankle ~ 2.2u); each estimate is recorded so the output can say what was guessed.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np

from .keypoints import (ANKLES, EARS, ELBOWS, EYES, FACE, HIPS, JOINTS, KNEES, KP, MIN_SCORE,
                        SHOULDERS,
                        WRISTS, Person)

TORSO_U = 3.0   # shoulder line -> hip line, in u
THIGH_U = 2.4   # hip line -> knee line
SHIN_U = 2.2    # knee line -> ankle line
CROWN_U = 0.55  # eye line -> crown (grammar)
CHIN_U = 0.5    # eye line -> chin (grammar)


@dataclass(frozen=True)
class Anatomy:
    eye_y: float
    u: float
    shoulder_y: float
    hip_y: float
    knee_y: float
    ankle_y: float
    face_box: tuple[float, float, float, float]   # visible face points, x0 y0 x1 y1
    face_x: float                                  # horizontal centre of the face
    body_x: float                                  # horizontal centre of the torso
    shoulders_x: tuple[float, float]               # leftmost / rightmost shoulder x
    facing: int                                    # -1 looks toward image left, +1 right, 0 camera
    box: tuple[float, float, float, float]         # person box
    estimated: frozenset[str]                      # lines that were estimated, not measured
    upright: bool                                  # head above the shoulders (grammar applies)
    upper_body: tuple[float, float, float, float]  # face, shoulders, arms and hips present
    joints: tuple[tuple[float, float], ...]        # elbows, wrists, knees, ankles present
    ankles: tuple[tuple[float, float], ...]
    face_points: tuple[tuple[float, float], ...]
    #: No face seen and the torso puts the eye line above the photo: a body cut at the neck by
    #: the photo's top edge (the eye line is then estimated above it, at a negative y).
    face_out: bool = False

    @property
    def torso(self) -> float:
        return self.hip_y - self.shoulder_y

    @property
    def crown_y(self) -> float:
        return self.eye_y - CROWN_U * self.u

    @property
    def chin_y(self) -> float:
        return self.eye_y + CHIN_U * self.u

    @property
    def shin(self) -> float:
        return self.ankle_y - self.knee_y


class _Pts:
    """Keypoints as plain Python lists: measuring is ~20 tiny lookups, too small for numpy."""

    __slots__ = ("kp", "ok")

    def __init__(self, p: Person) -> None:
        self.kp = p.keypoints.tolist()
        self.ok = [r[2] >= MIN_SCORE for r in self.kp]

    def has(self, i: int) -> bool:
        return self.ok[i]

    def visible(self, idxs) -> list[int]:
        return [i for i in idxs if self.ok[i]]

    def mean_y(self, idxs) -> float | None:
        ys = [self.kp[i][1] for i in idxs if self.ok[i]]
        return sum(ys) / len(ys) if ys else None

    def points(self, idxs) -> tuple[tuple[float, float], ...]:
        return tuple((self.kp[i][0], self.kp[i][1]) for i in idxs if self.ok[i])


def measure(p: Person) -> Anatomy:
    """Measure body lines of one person (source pixels); never fails for a person with a box."""
    q = _Pts(p)
    kp = q.kp
    est: set[str] = set()
    face_out = False
    bx0, by0, bx1, by1 = p.box
    bh = max(by1 - by0, 1.0)

    face_pts = q.points(FACE)
    eye = q.mean_y(EYES)
    ear = q.mean_y(EARS)
    shoulder = q.mean_y(SHOULDERS)

    # Head size from the face itself: robust when the body is bent or lying (u from lines ~ 0).
    head = 0.0
    eyes_v, ears_v = q.visible(EYES), q.visible(EARS)
    if len(ears_v) == 2:
        head = max(head, 1.1 * abs(kp[ears_v[0]][0] - kp[ears_v[1]][0]))
    if len(eyes_v) == 2:
        head = max(head, 2.6 * math.hypot(kp[eyes_v[0]][0] - kp[eyes_v[1]][0],
                                          kp[eyes_v[0]][1] - kp[eyes_v[1]][1]))
    if q.has(KP["nose"]) and eyes_v:
        head = max(head, 3.5 * abs(kp[KP["nose"]][1] - q.mean_y(eyes_v)))
    if len(face_pts) >= 2:
        fx = [pt[0] for pt in face_pts]
        head = max(head, 1.0 * (max(fx) - min(fx)))

    if eye is None:
        if ear is not None:
            eye = ear - 0.05 * max(head, 1.0)
        elif q.has(KP["nose"]):
            eye = kp[KP["nose"]][1] - 0.25 * max(head, 0.05 * bh)
        elif shoulder is not None:
            # No face at all (back view, hidden head): the box top is the crown...
            u0 = max((shoulder - by0) / (1 + CROWN_U), 0.04 * bh)
            eye = by0 + CROWN_U * u0
            hip_seen = q.mean_y(HIPS)
            torso_u = (hip_seen - shoulder) / TORSO_U if hip_seen is not None else 0.0
            if shoulder < torso_u:
                # ...unless the torso's head size puts the eye line above the photo's top edge:
                # then no head fits above the shoulders inside the photo, whatever the box says
                # (a box built from keypoints stops a few pixels above the shoulders).
                eye = shoulder - torso_u
                face_out = True
        else:
            eye = by0 + 0.07 * bh  # box only: a standing adult's eye line
        est.add("eye line")

    if shoulder is None:
        shoulder = eye + max(head, 0.13 * bh)
        est.add("shoulder line")
    u = shoulder - eye
    # Eyes level with or below the shoulders: bent over, lying, upside down.
    upright = u >= 0.35 * max(head, 1.0) or bool({"eye line", "shoulder line"} & est)
    # A bent, lying or foreshortened body gives a tiny u; never let it fall below the head size.
    u = max(u, 0.8 * head, 0.02 * bh, 2.0)

    hip = q.mean_y(HIPS)
    if hip is None or hip - shoulder < 0.8 * u:
        hip = shoulder + TORSO_U * u if hip is None else max(hip, shoulder + 0.8 * u)
        est.add("hip line")
    torso = hip - shoulder
    knee = q.mean_y(KNEES)
    if knee is None or knee - hip < 0.3 * torso:
        knee = hip + THIGH_U / TORSO_U * torso if knee is None else max(knee, hip + 0.3 * torso)
        est.add("knee line")
    ankle = q.mean_y(ANKLES)
    if p.feet is not None:
        fv = p.feet[p.feet[:, 2] >= 0.3]
        if len(fv):
            ankle = float(np.mean(fv[:, 1])) if ankle is None else ankle
    if ankle is None or ankle - knee < 0.3 * torso:
        ankle = knee + SHIN_U / TORSO_U * torso if ankle is None else max(ankle, knee + 0.3 * torso)
        est.add("ankle line")

    if face_pts:
        fx = [pt[0] for pt in face_pts]
        fy = [pt[1] for pt in face_pts]
        face_box = (min(fx), min(fy), max(fx), max(fy))
        face_x = (min(fx) + max(fx)) / 2
    else:
        sh = q.points(SHOULDERS)
        face_x = sum(pt[0] for pt in sh) / len(sh) if sh else (bx0 + bx1) / 2
        face_box = (face_x - 0.3 * u, eye - 0.2 * u, face_x + 0.3 * u, eye + 0.2 * u)

    sh_pts = q.points(SHOULDERS)
    if sh_pts:
        sx = [pt[0] for pt in sh_pts]
        shoulders_x = (min(sx), max(sx))
    else:
        shoulders_x = (face_x - 0.8 * u, face_x + 0.8 * u)
    torso_pts = q.points(SHOULDERS + HIPS)
    body_x = sum(pt[0] for pt in torso_pts) / len(torso_pts) if torso_pts else face_x

    facing = _facing(q, u)
    ub = list(face_pts) + list(q.points(SHOULDERS + ELBOWS + WRISTS + HIPS))
    upper_body = ((min(pt[0] for pt in ub), min(pt[1] for pt in ub), max(pt[0] for pt in ub),
                   max(pt[1] for pt in ub)) if ub else face_box)
    return Anatomy(eye, u, shoulder, hip, knee, ankle, face_box, face_x, body_x, shoulders_x,
                   facing, p.box, frozenset(est), upright, upper_body, q.points(JOINTS),
                   q.points(ANKLES), face_pts, face_out)


def _facing(q: _Pts, u: float) -> int:
    """Which way the face turns: the nose sits off the midpoint of the ears/eyes toward the gaze."""
    kp = q.kp
    if not q.has(KP["nose"]):
        # Only one ear seen and no nose: a profile away from us; look room is unknowable.
        return 0
    ears = q.visible(EARS)
    ref = ears if len(ears) == 2 else q.visible(EYES)
    if len(ref) == 2:
        mid = (kp[ref[0]][0] + kp[ref[1]][0]) / 2
    elif len(ears) == 1:
        mid = kp[ears[0]][0]
    else:
        return 0
    off = (kp[KP["nose"]][0] - mid) / max(u, 1.0)
    if off > 0.25:
        return 1
    if off < -0.25:
        return -1
    return 0
