"""The bystander rule: no shot edge slices the face of another person at least half the subject's
height (shot-grammar.md, issue #14). Hand-placed people (test_grammar_rules' subject, 600 x 700
photo); the expected verdicts follow from the geometry, not from the engine."""

from __future__ import annotations

import numpy as np

from shotcrop_core import grammar as G
from shotcrop_core.framing import compose
from shotcrop_core.keypoints import FACE, Person
from test_grammar_rules import BOX, SUBJECT, person

W, H = 600, 700


def moved(dx: float, scale: float = 1.0, face: bool = True) -> Person:
    """The subject shifted right by dx (and shrunk about its feet by `scale`)."""
    kp = np.zeros((17, 3))
    from shotcrop_core.keypoints import KP

    for name, (x, y) in SUBJECT.items():
        if not face and KP[name] in FACE:
            continue
        kp[KP[name]] = (x + dx, 555 - (555 - y) * scale, 1.0)
    x0, y0, x1, y1 = BOX
    return Person(kp, (x0 + dx, 555 - (555 - y0) * scale, x1 + dx, y1))


def test_sliced_means_partly_inside():
    face = (100.0, 100.0, 140.0, 150.0)
    assert G.sliced_faces((0, 0, 120, 300), [face]) == [face]       # half of it inside
    assert G.sliced_faces((0, 0, 141, 300), [face]) == []          # whole
    assert G.sliced_faces((0, 0, 99, 300), [face]) == []           # left out
    assert G.sliced_faces((0, 0, 103, 300), [face]) == []          # a sliver (7.5%): tolerated


def test_who_counts_as_a_bystander():
    subject = person()
    people = [subject, moved(150), moved(-150, scale=0.45), moved(200, face=False)]
    faces = G.bystander_faces(people, 0)
    assert len(faces) == 1       # the small one and the faceless one do not count
    fx0, fy0, fx1, fy1 = faces[0]
    assert fx0 < 292 + 150 and 308 + 150 < fx1 and fy0 < 200 < fy1   # around the moved eyes


def test_engine_keeps_a_bystanders_face_whole_or_out():
    """A bystander as tall as the subject, a little to the right: every shot holds the face
    whole or leaves it out, for several offsets."""
    for dx in (95, 110, 125, 140, 160):
        people = [person(), moved(dx)]
        shots = compose(people, W, H)
        faces = G.bystander_faces(people, 0)
        for s in shots:
            assert not G.sliced_faces(s.box.rect, faces), (dx, s.name, s.box.rect, faces)
            assert not any("another person's face" in w for w in s.warnings), (dx, s.name)


def test_bench_counts_sliced_faces():
    from shotcrop_core.bench.validity import ValidityResult, score_validity
    from shotcrop_core.shots import Box, Shot, ShotSet, Subject

    people = [person(), moved(110)]
    face = G.bystander_faces(people, 0)[0]
    cut_x = int((face[0] + face[2]) / 2)    # the establishing's right edge through that face
    sets = ShotSet(W, H, Shot("establishing", Box(150, 20, cut_x, 620)),
                   Shot("medium", Box(230, 40, 370, 440)), Shot("close_up", Box(250, 179, 350, 279)),
                   subject=Subject(Box(*map(int, BOX)), 0))
    res = ValidityResult()
    res.add("a.jpg", score_validity(sets, people))
    assert res.counts["faces whole"] == 0
    assert ("a.jpg", {"establishing": ["face_sliced"]}) in res.failures
