"""Template descriptions: one sentence per shot built from what was measured.

The fallback text when no vision-language model writes the descriptions. Each sentence reads as
a diffusion prompt: shot scale first, then subject, position and pose cues measured from the
keypoints (never guesses about identity, clothing or emotion that nothing measured).
"""

from __future__ import annotations

from .anatomy import Anatomy
from .keypoints import ELBOWS, KP, SHOULDERS, WRISTS, Person
from .shots import Box

_COUNT = {1: "a person", 2: "two people", 3: "three people", 4: "four people", 5: "five people"}


def _where(cx: float, W: int) -> str:
    t = cx / W
    return "on the left" if t < 0.38 else "on the right" if t > 0.62 else "in the centre"


def _gaze(a: Anatomy) -> str:
    return {1: "turned toward the right of the frame", -1: "turned toward the left of the frame",
            0: "facing the camera"}[a.facing] if a.face_points else "seen from behind"


def _arms(p: Person, a: Anatomy) -> str:
    kp = p.keypoints
    wrists = p.visible(WRISTS)
    if wrists and all(kp[i, 1] < a.eye_y for i in wrists):
        return "arms raised above the head"
    if wrists and any(kp[i, 1] < a.shoulder_y for i in wrists):
        return "one hand raised"
    if len(p.visible(ELBOWS)) == 2 and len(p.visible(SHOULDERS)) == 2:
        span = abs(kp[KP["left_elbow"], 0] - kp[KP["right_elbow"], 0])
        if span > 3.2 * a.u:
            return "arms spread wide"
    return ""


def _posture(p: Person, a: Anatomy) -> str:
    if "knee line" in a.estimated or "hip line" in a.estimated:
        return ""
    thigh = a.knee_y - a.hip_y
    if thigh < 0.45 * a.torso:
        return "seated or crouching"
    return ""


def describe_shots(boxes: dict[str, Box], a: Anatomy, people: list[Person], subject: int,
                   W: int, H: int) -> dict[str, str]:
    p = people[subject]
    n = len(people)
    who = _COUNT.get(n, f"a group of {n} people") if n > 1 else "a person"
    est = boxes["establishing"]
    frac = est.area / (W * H)
    scale = "wide establishing shot" if frac > 0.6 else "establishing shot"
    sub_x = _where((p.box[0] + p.box[2]) / 2 - est.x0, est.w)
    scene = (f"A {scale} of {who}, the main subject {sub_x}, "
             f"showing the surrounding scene and where the moment takes place.")
    if n == 1:
        scene = (f"A {scale} of a person {sub_x} of the frame, "
                 f"showing the surrounding scene and where the moment takes place.")

    cues = [c for c in (_posture(p, a), _arms(p, a)) if c]
    med = boxes["medium"]
    lower = ("the knees" if med.y1 >= a.knee_y - 0.1 * a.torso
             else "mid-thigh" if med.y1 >= a.hip_y + 0.2 * (a.knee_y - a.hip_y)
             else "the waist")
    if a.face_out:  # a body cropped at the neck by the photo: no head to describe
        medium = f"A medium shot of the subject's body down to {lower}, the head out of frame"
    else:
        medium = f"A medium shot of the subject from the head down to {lower}, {_gaze(a)}"
    medium += (", " + ", ".join(cues) if cues else "") + ", showing body language and action."

    if a.face_out:
        hands = " and hands" if p.visible(WRISTS) else ""
        close = f"A close-up detail of the subject's upper body{hands}, the head out of frame."
    elif a.face_points:
        close = (f"A close-up of the subject's face and shoulders, {_gaze(a)}, "
                 f"capturing expression and emotion.")
    else:
        close = "A close-up of the subject's head and shoulders from behind, a quiet detail."
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
