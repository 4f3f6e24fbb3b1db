"""Template descriptions: one sentence per shot built from what was measured.

The fallback text when no vision-language model writes the descriptions. Each sentence reads as
a diffusion prompt: shot scale first, then subject, position and pose cues measured from the
keypoints (never guesses about identity, clothing or emotion that nothing measured).
"""

from __future__ import annotations

import math

from .anatomy import Anatomy
from .captions import Caption
from .keypoints import ANKLES, ELBOWS, HIPS, KNEES, KP, SHOULDERS, WRISTS, Person
from .shots import Box

_COUNT = {1: "a person", 2: "two people", 3: "three people", 4: "four people", 5: "five people"}


def _where(cx: float, W: int) -> str:
    t = cx / W
    return "on the left" if t < 0.38 else "on the right" if t > 0.62 else "in the centre"


def _gaze(a: Anatomy) -> str:
    return {1: "turned toward the right of the frame", -1: "turned toward the left of the frame",
            0: "facing the camera"}[a.facing] if a.face_points else "seen from behind"


def _arms(p: Person, a: Anatomy) -> str:
    """What the arms do, measured from the wrists, elbows and shoulders."""
    kp = p.keypoints
    wrists = p.visible(WRISTS)
    if wrists and all(kp[i, 1] < a.eye_y for i in wrists):
        return "arms raised above the head"
    if a.face_points and any(math.dist(kp[i, :2], (a.face_x, a.eye_y + 0.3 * a.u)) < 0.9 * a.u
                             for i in wrists):
        return "a hand at the face"
    if wrists and any(kp[i, 1] < a.shoulder_y for i in wrists):
        return "one hand raised"
    if len(wrists) == 2 and len(p.visible(SHOULDERS)) == 2:
        lw, rw = kp[KP["left_wrist"]], kp[KP["right_wrist"]]
        ls, rs = kp[KP["left_shoulder"]], kp[KP["right_shoulder"]]
        chest = all(a.shoulder_y < w[1] < a.hip_y for w in (lw, rw))
        # Each wrist across the body's midline, on the other shoulder's side.
        across = (lw[0] - a.body_x) * (ls[0] - a.body_x) < 0 and \
            (rw[0] - a.body_x) * (rs[0] - a.body_x) < 0
        if chest and across:
            return "arms crossed"
    if len(p.visible(ELBOWS)) == 2 and len(p.visible(SHOULDERS)) == 2:
        span = abs(kp[KP["left_elbow"], 0] - kp[KP["right_elbow"], 0])
        if span > 3.2 * a.u:
            return "arms spread wide"
    return ""


def _posture(p: Person, a: Anatomy) -> str:
    """Standing, sitting, crouching or lying, from the body lines the keypoints measured (''
    when they do not tell)."""
    kp = p.keypoints
    if not a.upright:
        sh, hp = p.visible(SHOULDERS), p.visible(HIPS)
        if sh and hp:  # a torso nearer horizontal than vertical
            dx = abs(kp[list(sh), 0].mean() - kp[list(hp), 0].mean())
            dy = abs(kp[list(sh), 1].mean() - kp[list(hp), 1].mean())
            if dx > dy:
                return "lying"
        return ""
    # The joints as seen (the body lines clamp a knee near the hips to the grammar's knee line).
    hips, knees, ankles = (p.visible(idx) for idx in (HIPS, KNEES, ANKLES))
    if not hips or not knees or "hip line" in a.estimated:
        return ""
    hip_y, knee_y = kp[list(hips), 1].mean(), kp[list(knees), 1].mean()
    ankle_y = kp[list(ankles), 1].mean() if ankles else None
    thigh = knee_y - hip_y
    if thigh < 0.45 * a.torso:
        crouch = ankle_y is not None and ankle_y - hip_y < 0.5 * a.torso
        return "crouching" if crouch else "sitting"
    if thigh > 0.6 * a.torso and (ankle_y is None or ankle_y - knee_y > 0.5 * a.torso):
        return "standing"
    return ""


#: Words a caption may use for a posture: the measured one is then not said again.
_POSTURES = ("sit", "seated", "stand", "crouch", "squat", "kneel", "lying", "lies", "lie ")
#: Expressions a caption may name, said in the close-up.
_EXPRESSIONS = {"smiling", "laughing", "crying", "frowning", "grinning", "shouting", "yawning",
                "screaming", "smirking", "pouting"}
#: Settings that say when rather than where.
_TIMES = {"night", "sunset", "sunrise", "dusk", "dawn", "sky"}


def _company(people: list[Person], subject: int) -> int:
    """How many people the photo shows: those at least a third of the subject's height."""
    sh = people[subject].box_h
    return sum(1 for p in people if p.box_h >= 0.33 * sh)


def describe_shots(boxes: dict[str, Box], a: Anatomy, people: list[Person], subject: int,
                   W: int, H: int, caption: Caption | None = None) -> dict[str, str]:
    """One sentence per shot. What the landmarks measured (posture, arms, gaze, how many
    people, where) goes in; with a `caption`, its setting goes into the establishing shot, its
    subject and action into the medium and its subject into the close-up."""
    p = people[subject]
    est = boxes["establishing"]
    frac = est.area / (W * H)
    scale = "wide establishing shot" if frac > 0.6 else "establishing shot"
    sub_x = _where((p.box[0] + p.box[2]) / 2 - est.x0, est.w)
    posture, arms = _posture(p, a), _arms(p, a)
    # The caption's subject names the shot's person only when it is one person; several
    # people ("two men shaking hands") are named in the wide shot alone.
    group = caption if caption is not None and caption.is_person else None
    cap = group if group is not None and group.is_one else None
    many = _company(people, subject)
    med = boxes["medium"]
    lower = ("the knees" if med.y1 >= a.knee_y - 0.1 * a.torso
             else "mid-thigh" if med.y1 >= a.hip_y + 0.2 * (a.knee_y - a.hip_y)
             else "the waist")

    # Establishing: the place, who and where.
    place = caption.setting if caption is not None and caption.setting else None
    if place and place.split()[-1] in _TIMES:  # "at night": when, not where
        place = f"the scene {caption.at} {place}"
    if group is not None or place:
        company = "alone" if many == 1 else f"one of {_COUNT.get(many, f'{many} people')}"
        if group is not None and not group.is_one:  # the caption's people, all of them
            who, company = f"{group.the_subject},", "the main subject"
        else:
            who = (cap.the_subject if place else cap.subject) if cap else "the main subject"
        if place:
            scene = (f"A {scale} of {place}, {who} {sub_x} of the frame, {company}, "
                     f"showing where the moment takes place.")
        else:
            scene = (f"A {scale} of {who} {sub_x} of the frame, {company}, showing the "
                     f"surrounding scene.")
    elif many == 1:
        scene = (f"A {scale} of a person {sub_x} of the frame, "
                 f"showing the surrounding scene and where the moment takes place.")
    else:
        who = _COUNT.get(many, f"a group of {many} people")
        scene = (f"A {scale} of {who}, the main subject {sub_x}, "
                 f"showing the surrounding scene and where the moment takes place.")

    # Medium: the subject and the action, the body's cues.
    action = cap.action if cap is not None else None
    # A posture the caption states (or contradicts) is not said again; the cues in order:
    # posture, gaze (none without a head), arms.
    said = action and any(w in action for w in _POSTURES)
    cues = [c for c in ("" if said else posture, "" if a.face_out else _gaze(a), arms) if c]
    if cap is not None:
        who = cap.the_subject + (f" {action}" if action else "")
        medium = (f"A medium shot of {who}, the body down to {lower}, the head out of frame"
                  if a.face_out else f"A medium shot of {who}, from the head down to {lower}")
        end = "."
    else:  # a body cropped at the neck by the photo: no head to describe
        medium = (f"A medium shot of the subject's body down to {lower}, the head out of frame"
                  if a.face_out else f"A medium shot of the subject from the head down to {lower}")
        end = ", showing body language and action."
    medium += "".join(f", {c}" for c in cues) + end

    # Close-up: the face and the expression.
    whose = f"{cap.who}'s" if cap is not None and cap.who else "the subject's"
    if a.face_out:
        hands = " and hands" if p.visible(WRISTS) else ""
        close = f"A close-up detail of {whose} upper body{hands}, the head out of frame."
    elif a.face_points:
        hand = ", a hand at the face" if arms == "a hand at the face" else ""
        # The expression the caption names, else what the shot is for.
        words = f"{cap.subject} {action or ''}".split() if cap is not None else []
        face = next((w.strip(",") for w in words if w.strip(",") in _EXPRESSIONS), None)
        close = (f"A close-up of {whose} face and shoulders, {_gaze(a)}{hand}, "
                 + (f"{face}." if face else "capturing expression and emotion."))
    else:
        close = f"A close-up of {whose} head and shoulders from behind, a quiet detail."
    return {"establishing": scene, "medium": medium, "close_up": close}


_OUTPAINT = " Past the photo's "


def without_outpaint(text: str) -> str:
    """A sentence without the clause `outpaint_clause` added (to add it anew)."""
    return text.split(_OUTPAINT)[0]


_SIDES = ("left", "top", "right", "bottom")


def outpaint_clause(past: tuple[int, int, int, int]) -> str:
    """What a shot reaching past the photo adds to its sentence ('' when it stays inside)."""
    sides = [side for side, px in zip(_SIDES, past) if px]
    if not sides:
        return ""
    edges = sides[0] if len(sides) == 1 else ", ".join(sides[:-1]) + " and " + sides[-1]
    return (f"{_OUTPAINT}{edges} edge{'s' if len(sides) > 1 else ''} the frame is padding, to "
            f"be outpainted.")


#: What the warning `outpaint_note` writes holds (to find and replace it).
OUTPAINT_NOTE = ": reaches past the photo ("


def outpaint_note(name: str, past: tuple[int, int, int, int]) -> str:
    """The warning of a shot reaching past the photo: how far on each side."""
    sides = ", ".join(f"{side} {px} px" for side, px in zip(_SIDES, past) if px)
    return f"{name}{OUTPAINT_NOTE}{sides}): outpaint the padding"


def describe_fallback(boxes: dict[str, Box], W: int, H: int) -> dict[str, str]:
    return {
        "establishing": "A wide view of the whole scene; no person was found in the photo.",
        "medium": "A medium view of the most visually busy part of the scene.",
        "close_up": "A close view of a detail at the centre of interest of the scene.",
    }
