"""The shot grammar on its own: hand-placed COCO-17 landmarks, hand-placed boxes, and for each box
the verdict a person reads off docs/shot-grammar.md, on both sides of every threshold.

Every expected verdict is worked out by hand from the spec's numbers (the arithmetic is in the
comment next to each case); nothing here asks the framing engine what the answer should be.

The subject (image 600 x 700, y grows downward), standing and facing the camera:

    eyes      (292, 200) (308, 200)  -> eye line 200
    nose      (300, 210)             -> ears' midpoint 300: the face turns nowhere
    ears      (285, 205) (315, 205)  -> the face spans x 285..315, y 200..210
    shoulders (270, 240) (330, 240)  -> shoulder line 240, u = 240 - 200 = 40
    elbows    (260, 300) (340, 300)
    wrists    (255, 350) (345, 350)
    hips      (280, 360) (320, 360)  -> hip line 360, torso = 120
    knees     (285, 460) (315, 460)  -> knee line 460
    ankles    (285, 550) (315, 550)  -> ankle line 550
    box       (250, 160, 350, 555)   -> person box 100 x 395

Spec numbers for this subject (u = 40, torso = 120):
    close-up & medium top  <= eye - 0.3u          = 200 - 12  = 188
    close-up bottom        >= eye + 0.6u          = 200 + 24  = 224   (chin ~ eye + 0.5u = 220)
    close-up bottom        <= shoulder + 0.5 torso = 240 + 60 = 300   (mid-torso)
    medium bottom          >= shoulder + 0.6 torso = 240 + 72 = 312   (waist)
    medium bottom          "just below the knees": above 460 is fine, mid-shin (505) is not
    eye line               (200 - y0) / (y1 - y0) in [0.20, 0.45]
    cut band               0.03 x crop height, bottom and side edges, elbows/wrists/knees/ankles
"""

from __future__ import annotations

import numpy as np
import pytest

from shotcrop_core import grammar as G
from shotcrop_core.anatomy import measure
from shotcrop_core.keypoints import KP, Person

W, H = 600, 700

SUBJECT = {
    "nose": (300, 210), "left_eye": (308, 200), "right_eye": (292, 200),
    "left_ear": (315, 205), "right_ear": (285, 205),
    "left_shoulder": (330, 240), "right_shoulder": (270, 240),
    "left_elbow": (340, 300), "right_elbow": (260, 300),
    "left_wrist": (345, 350), "right_wrist": (255, 350),
    "left_hip": (320, 360), "right_hip": (280, 360),
    "left_knee": (315, 460), "right_knee": (285, 460),
    "left_ankle": (315, 550), "right_ankle": (285, 550),
}
BOX = (250.0, 160.0, 350.0, 555.0)


def person(box=BOX, **moved) -> Person:
    """The subject above, with some keypoints moved (name=(x, y))."""
    pts = {**SUBJECT, **moved}
    kp = np.zeros((17, 3))
    for name, (x, y) in pts.items():
        kp[KP[name]] = (x, y, 1.0)
    return Person(kp, box)


def a_(box=BOX, **moved):
    return measure(person(box, **moved))


#: The nose 15 px off the ears' midpoint (15 / u = 0.375 of a head): the face turns that way.
LOOKS_RIGHT = {"nose": (315, 210)}
LOOKS_LEFT = {"nose": (285, 210)}
#: One foot tucked up (a leg bent back): its ankle at (330, 400), above the knees.
RAISED_ANKLE = {"left_ankle": (330, 400)}


def test_the_hand_placed_subject_measures_as_planned():
    """The premises of every case below: the body lines are the ones written in the docstring."""
    a = a_()
    assert (a.eye_y, a.u, a.shoulder_y, a.hip_y, a.knee_y, a.ankle_y) == (
        200, 40, 240, 360, 460, 550)
    assert a.torso == 120 and a.facing == 0 and not a.estimated and a.upright
    assert a.face_x == 300 and a.shoulders_x == (270, 330) and a.box == BOX
    assert sorted(a.joints) == sorted([SUBJECT[f"{s}_{j}"] for s in ("left", "right")
                                       for j in ("elbow", "wrist", "knee", "ankle")])
    # the face turns: nose 15 px right of the ears' midpoint 300, 15 / 40 = 0.375 of u
    assert a_(**LOOKS_RIGHT).facing == 1 and a_(**LOOKS_LEFT).facing == -1
    assert a_(**LOOKS_RIGHT).u == 40 and a_(**LOOKS_RIGHT).face_x == 300
    assert a_(**RAISED_ANKLE).knee_y == 460 and (330, 400) in a_(**RAISED_ANKLE).ankles


def test_eye_fraction_is_measured_from_the_top_edge():
    # eye line 200 in a box from y 100 to 300: (200 - 100) / 200 = 0.5
    assert G.eye_fraction((0, 100, 10, 300), a_()) == pytest.approx(0.5)
    # from y 179 to 279: 21 / 100
    assert G.eye_fraction((250, 179, 350, 279), a_()) == pytest.approx(0.21)


# -- close-up ---------------------------------------------------------------------------------
CLOSE_UP = [
    # eye line: x 250..350 holds the face (285..315); height 100, cut band 3 px; no joint lies
    # in y 154..281 and none within 3 px of the bottom (elbows at 300 are 19+ px away).
    pytest.param((250, 179, 350, 279), {}, [], id="eyes-21%"),        # (200-179)/100 = 0.21
    pytest.param((250, 181, 350, 281), {}, ["eye_line"], id="eyes-19%"),  # 19/100 < 0.20
    pytest.param((250, 156, 350, 256), {}, [], id="eyes-44%"),        # 44/100 <= 0.45
    pytest.param((250, 154, 350, 254), {}, ["eye_line"], id="eyes-46%"),  # 46/100 > 0.45
    # whole face: x from 290 leaves the right ear (x 285) out; eyes 21%, bottom 279 in 224..300
    pytest.param((290, 179, 390, 279), {}, ["face"], id="ear-cut-off"),
    # forehead: top 190 > 188 (eye - 0.3u); eyes (200-190)/46 = 0.217, bottom 236 in 224..300
    pytest.param((250, 190, 350, 236), {}, ["forehead"], id="top-at-eye-minus-0.25u"),
    # top 186 <= 188; eyes 14/50 = 0.28
    pytest.param((250, 186, 350, 236), {}, [], id="top-at-eye-minus-0.35u"),
    # chin: bottom 222 < 224 (eye + 0.6u; the chin itself is at 220); eyes 14/36 = 0.389
    pytest.param((250, 186, 350, 222), {}, ["chin"], id="bottom-at-the-chin"),
    # bottom 226 >= 224; eyes 14/40 = 0.35
    pytest.param((250, 186, 350, 226), {}, [], id="bottom-below-the-chin"),
    # mid-torso: bottom 310 > 300; eyes 70/180 = 0.389; band 5.4: elbows (y 300) 10 px away
    pytest.param((230, 130, 370, 310), {}, ["too_low"], id="bottom-below-mid-torso"),
    # bottom 290 <= 300; eyes 70/160 = 0.4375; band 4.8: elbows 10 px away
    pytest.param((230, 130, 370, 290), {}, [], id="bottom-above-mid-torso"),
    # elbow under the bottom edge: height 150, band 4.5; elbows (260|340, 300) lie in x 240..360;
    # 297 is 3 px = 2% above them -> cut; 294 is 6 px = 4% -> no cut. Eyes 53/150, 56/150.
    pytest.param((240, 147, 360, 297), {}, ["cut"], id="bottom-2%-from-elbows"),
    pytest.param((240, 144, 360, 294), {}, [], id="bottom-4%-from-elbows"),
    # look room: face centre x 300; looking right it must sit on the left: (300-270)/100 = 0.3
    pytest.param((270, 179, 370, 279), LOOKS_RIGHT, [], id="looks-right-room-right"),
    # (300-230)/100 = 0.7: the face is pressed against the side it looks to
    pytest.param((230, 179, 330, 279), LOOKS_RIGHT, ["look_room"], id="looks-right-no-room"),
    pytest.param((230, 179, 330, 279), LOOKS_LEFT, [], id="looks-left-room-left"),
    pytest.param((270, 179, 370, 279), LOOKS_LEFT, ["look_room"], id="looks-left-no-room"),
    # facing the camera: no side needs room
    pytest.param((230, 179, 330, 279), {}, [], id="facing-camera-off-centre"),
]


@pytest.mark.parametrize("box, moved, expected", CLOSE_UP)
def test_close_up(box, moved, expected):
    assert sorted(G.check_shot("close_up", box, a_(**moved), W, H)) == sorted(expected)


# -- medium -----------------------------------------------------------------------------------
MEDIUM = [
    # eye line, height 250 (band 7.5), x 230..370 (elbows 30 px, wrists 25 px from the sides)
    # 52.5/250 = 0.21; bottom 397.5 between waist 312 and the knees 460, 62.5 px from them
    pytest.param((230, 147.5, 370, 397.5), {}, [], id="eyes-21%"),
    pytest.param((230, 152.5, 370, 402.5), {}, ["eye_line"], id="eyes-19%"),   # 47.5/250
    # 110/250 = 0.44; bottom 340 >= 312, wrists (y 350) 10 px away > 7.5
    pytest.param((230, 90, 370, 340), {}, [], id="eyes-44%"),
    pytest.param((230, 85, 370, 335), {}, ["eye_line"], id="eyes-46%"),        # 115/250
    # waist: height 150 (band 4.5); bottom 308 < 312 with elbows 8 px away; eyes 42/150 = 0.28
    pytest.param((230, 158, 370, 308), {}, ["waist"], id="bottom-above-waist"),
    # bottom 316 >= 312; eyes 34/150 = 0.227; elbows 16 px, wrists 34 px away
    pytest.param((230, 166, 370, 316), {}, [], id="bottom-below-waist"),
    # knee-up: height 400 (band 12), eyes 160/400 = 0.4, bottom 440 is 20 px above the knees
    pytest.param((230, 40, 370, 440), {}, [], id="knee-up"),
    # mid-shin 505 = (460 + 550) / 2 is past "just below the knees"; height 450 (band 13.5),
    # eyes 145/450 = 0.322, knees and ankles 45 px from the bottom, ankles (550) still out
    pytest.param((200, 55, 400, 505), {}, ["knees"], id="bottom-at-mid-shin"),
    # ankles outside: a raised ankle at (330, 400) lies inside the knee-up box (40 px from
    # both the bottom 440 and the side 370, band 12)
    pytest.param((230, 40, 370, 440), RAISED_ANKLE, ["ankles"], id="raised-ankle-inside"),
    # both shoulders: the right edge 320 leaves the left shoulder (x 330) out; elbows 20 px,
    # wrists 25 px from that edge (band 12); the face (285..315) stays in
    pytest.param((230, 40, 320, 440), {}, ["shoulders"], id="shoulder-cut-off"),
    # knee under the bottom edge: height 350, band 10.5; knees (285|315, 460) in x 220..380;
    # 453 is 7 px = 2% above them -> cut; 446 is 14 px = 4% -> no cut. Eyes 97/350, 104/350.
    pytest.param((220, 103, 380, 453), {}, ["cut"], id="bottom-2%-from-knees"),
    pytest.param((220, 96, 380, 446), {}, [], id="bottom-4%-from-knees"),
    # wrist beside the right edge: height 250, band 7.5; wrist (345, 350) inside y 140..390;
    # edge 350 is 5 px = 2% from it -> cut; 355 is 10 px = 4% -> no cut (elbow 340: 10, 15 px)
    pytest.param((200, 140, 350, 390), {}, ["cut"], id="side-2%-from-wrist"),
    pytest.param((200, 140, 355, 390), {}, [], id="side-4%-from-wrist"),
    # hips are not on the spec's joint list: bottom 362 is 2 px below the hip line, no cut;
    # eyes 88/250 = 0.352, wrists 12 px away (band 7.5)
    pytest.param((230, 112, 370, 362), {}, [], id="bottom-at-the-hips-is-no-joint"),
]


@pytest.mark.parametrize("box, moved, expected", MEDIUM)
def test_medium(box, moved, expected):
    assert sorted(G.check_shot("medium", box, a_(**moved), W, H)) == sorted(expected)


# -- establishing -----------------------------------------------------------------------------
ESTABLISHING = [
    # holds the box 250..350 x 160..555; height 550 (band 16.5): 395 <= 0.9 x 550 = 495;
    # ankles 30 px above the bottom, wrists 35 px and elbows 40 px from the sides
    pytest.param((220, 30, 380, 580), BOX, W, H, {}, [], id="whole-subject"),
    # top 180 cuts the head (box top 160); height 500: 395 <= 450; ankles 130 px away
    pytest.param((50, 180, 550, 680), BOX, W, H, {}, ["subject"], id="head-cut-off"),
    # room: height 500 (y 100..600): a 445 px person is 89% <= 90%, a 455 px person 91%
    pytest.param((50, 100, 550, 600), (250, 150, 350, 595), W, H, {}, [], id="person-89%"),
    pytest.param((50, 100, 550, 600), (250, 140, 350, 595), W, H, {}, ["room"],
                 id="person-91%"),
    # a photo that is itself that tight: 548 px person > 0.9 x 600 = 540 in a 600 px photo;
    # the full-height crop is the most room there is
    pytest.param((0, 0, 600, 600), (250, 50, 350, 598), W, 600, {}, [], id="tight-photo"),
    # the same crop in a 700 px photo could give room (548 <= 0.9 x 700 = 630): it must
    pytest.param((0, 0, 600, 600), (250, 50, 350, 598), W, 700, {}, ["room"],
                 id="photo-not-tight"),
    # ankle over the bottom edge: height 500, band 15; the ankles (550) 10 px = 2% above the
    # bottom 560 -> cut; 20 px = 4% above the bottom 570 -> no cut (box bottom 555 inside both)
    pytest.param((50, 60, 550, 560), BOX, W, H, {}, ["cut"], id="bottom-2%-from-ankles"),
    pytest.param((50, 70, 550, 570), BOX, W, H, {}, [], id="bottom-4%-from-ankles"),
    # all boxes lie inside the image
    pytest.param((-10, 100, 490, 600), BOX, W, H, {}, ["image"], id="leaves-the-image"),
    # lead room toward the gaze: looking right, face centre 300 at (300-220)/380 = 0.21 of the
    # width: room on the right
    pytest.param((220, 30, 600, 580), BOX, W, H, LOOKS_RIGHT, [], id="lead-room"),
    # looking right, the face at (300-0)/380 = 0.79 of the width: pressed against the side it
    # looks to (wrists 35 px, elbows 40 px from the edge 380, band 16.5: no cut)
    pytest.param((0, 30, 380, 580), BOX, W, H, LOOKS_RIGHT, ["look_room"], id="no-lead-room",
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "spec: establishing composition needs 'lead room toward gaze or motion'; "
                     "grammar.check_establishing never checks it (look_room is close-up "
                     "only)"))),
]


@pytest.mark.parametrize("box, pbox, width, height, moved, expected", ESTABLISHING)
def test_establishing(box, pbox, width, height, moved, expected):
    got = G.check_shot("establishing", box, a_(pbox, **moved), width, height)
    assert sorted(got) == sorted(expected)


# -- the cut band on its own --------------------------------------------------------------------
# Box 200 x 500: band = 0.03 x 500 = 15 px; 2% = 10 px, 4% = 20 px.
CUTS = [
    pytest.param((100, 490), True, id="bottom-2%-inside"),
    pytest.param((100, 480), False, id="bottom-4%-inside"),
    pytest.param((100, 510), True, id="bottom-2%-outside"),
    pytest.param((100, 520), False, id="bottom-4%-outside"),
    pytest.param((10, 250), True, id="left-2%"),
    pytest.param((20, 250), False, id="left-4%"),
    pytest.param((190, 250), True, id="right-2%"),
    pytest.param((180, 250), False, id="right-4%"),
    pytest.param((-10, 250), True, id="left-2%-outside"),
    # out of the bottom edge's span (x 0..200) and 50 px from the right edge
    pytest.param((250, 490), False, id="beside-the-bottom-span"),
    # only bottom and side edges count: a raised wrist 10 px under the top edge is no cut
    pytest.param((100, 10), False, id="near-the-top-edge"),
    # near the left edge's line, but below its span (y 0..500) and 100 px from the bottom
    pytest.param((5, 600), False, id="below-the-side-span"),
]


@pytest.mark.parametrize("joint, cut", CUTS)
def test_joint_cuts_band(joint, cut):
    assert G.joint_cuts((0, 0, 200, 500), [joint]) == ([joint] if cut else [])


# -- the set ----------------------------------------------------------------------------------
EST = (0, 0, 400, 400)
NESTING = [
    # close-up 100 x 100 in the medium 100..300: x 209..309 keeps 91 of 100 columns inside
    pytest.param((209, 150, 309, 250), (100, 100, 300, 300), EST, True, id="cu-91%-in-medium"),
    pytest.param((211, 150, 311, 250), (100, 100, 300, 300), EST, False, id="cu-89%-in-medium"),
    # medium 200 x 200 in the establishing 0..400: x 218..418 keeps 182/200 = 91% inside,
    # 222..422 keeps 178/200 = 89%; the close-up 250..300 x 150..200 lies inside both
    pytest.param((250, 150, 300, 200), (218, 100, 418, 300), EST, True, id="med-91%-in-est"),
    pytest.param((250, 150, 300, 200), (222, 100, 422, 300), EST, False, id="med-89%-in-est"),
    # areas must strictly grow: a close-up as large as the medium is no closer
    pytest.param((100, 100, 300, 300), (100, 100, 300, 300), EST, False, id="cu-equals-medium"),
    # 40000 < 160000, then an establishing smaller than the medium
    pytest.param((150, 150, 250, 250), (0, 0, 400, 400), (50, 50, 350, 350), False,
                 id="est-smaller-than-medium"),
]


@pytest.mark.parametrize("cu, med, est, ok", NESTING)
def test_nesting_and_growth(cu, med, est, ok):
    assert G.coherent(cu, med, est) is ok


CLOSE = (250, 179, 350, 279)     # valid close-up: eyes 21%, area 100 x 100 = 10000
MED = (230, 40, 370, 440)        # valid knee-up medium: area 140 x 400 = 56000
AREA = [
    # establishing 160 x 550 = 88000 = 1.571 x 56000 >= 1.5; holds the subject with room
    # (395 <= 495), ankles 30 px above the bottom, wrists 35 px from the sides (band 16.5)
    pytest.param((220, 30, 380, 580), [], id="establishing-1.57x-medium"),
    # 140 x 550 = 77000 = 1.375 x 56000 < 1.5; wrists 25 px, elbows 30 px from the sides
    pytest.param((230, 30, 370, 580), ["wider"], id="establishing-1.38x-medium"),
]


@pytest.mark.parametrize("est, expected", AREA)
def test_establishing_area_growth(est, expected):
    rep = G.check_set({"close_up": CLOSE, "medium": MED, "establishing": est}, a_(), W, H)
    assert rep.failures == {"establishing": expected, "medium": [], "close_up": []}
    # both sets nest fully (10000 < 56000 < 77000 or 88000): only the area rule differs
    assert rep.coherent
    assert rep.all_valid is (not expected) and rep.all_three is (not expected)
    assert rep.valid == {"establishing": not expected, "medium": True, "close_up": True}


def test_composition_failures_do_not_make_a_shot_invalid():
    """A knee cut (composition) leaves the medium valid but breaks 'no cut' for the set."""
    knee_cut = (220, 103, 380, 453)   # the bottom-2%-from-knees medium above: 160 x 350 = 56000
    est = (150, 20, 450, 620)         # 300 x 600 = 180000 >= 1.5 x 56000; band 18, ankles 70
    rep = G.check_set({"close_up": CLOSE, "medium": knee_cut, "establishing": est}, a_(), W, H)
    assert rep.failures["medium"] == ["cut"] and rep.valid["medium"]
    assert rep.all_valid and rep.coherent and rep.eye_line
    assert not rep.no_cut and not rep.all_three
