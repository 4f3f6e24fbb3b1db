"""subject.py: which person a box, a shot set or a close-up is about (hand-worked cases)."""

import numpy as np
import pytest

from shotcrop_core.errors import ShotCropError
from shotcrop_core.keypoints import FACE, Person
from shotcrop_core.shots import Box, Shot, ShotSet, Subject
from shotcrop_core.subject import (MATCH_IOU, face_points_inside, match_person, match_subject,
                                   people_matching, subject_of_close_up)

W, H = 100, 100


def body(box, face_at=None, score=1.0):
    """A person with this box; with `face_at` (x, y) all five face points sit there."""
    kp = np.zeros((17, 3))
    if face_at is not None:
        kp[list(FACE)] = (*face_at, score)
    return Person(kp, box)


@pytest.mark.parametrize("box, boxes, min_iou, want", [
    # IoU 1 beats IoU 0.5 (25x50 inside 50x50)
    ((0, 0, 50, 50), [(0, 0, 25, 50), (0, 0, 50, 50)], MATCH_IOU, 1),
    # a tie goes to the first person
    ((0, 0, 50, 50), [(0, 0, 50, 50), (0, 0, 50, 50)], MATCH_IOU, 0),
    # the person box is clipped first: (-50, 0, 50, 50) -> (0, 0, 50, 50), IoU 1 (0.5 unclipped)
    ((0, 0, 50, 50), [(0, 0, 30, 50), (-50, 0, 50, 50)], 0.9, 1),
    # 10x10 inside 40x10: IoU 100/400 = 0.25, under 0.3 ...
    ((0, 0, 10, 10), [(0, 0, 40, 10)], MATCH_IOU, None),
    # ... but enough when the caller asks for less
    ((0, 0, 10, 10), [(0, 0, 40, 10)], 0.2, 0),
    # with min_iou 0 someone is always chosen, even with no overlap at all
    ((0, 0, 10, 10), [(50, 50, 60, 60)], 0.0, 0),
    ((0, 0, 10, 10), [], 0.0, None),
])
def test_match_person(box, boxes, min_iou, want):
    assert match_person(box, [body(b) for b in boxes], W, H, min_iou) == want
    assert match_person(Box(*box), [body(b) for b in boxes], W, H, min_iou) == want


def test_people_matching_lists_everyone_from_the_threshold_up():
    # IoUs with (0, 0, 10, 10): 1, 100/400 = 0.25, 50/150 = 1/3, 0
    people = [body(b) for b in ((0, 0, 10, 10), (0, 0, 40, 10), (5, 0, 15, 10), (60, 0, 70, 10))]
    assert people_matching((0, 0, 10, 10), people, W, H) == [0, 2]
    assert people_matching((0, 0, 10, 10), people, W, H, 0.2) == [0, 1, 2]
    assert people_matching((0, 0, 10, 10), [], W, H) == []


def _shots(subject):
    full = Box(0, 0, W, H)
    return ShotSet(W, H, Shot("establishing", full), Shot("medium", Box(10, 10, 90, 90)),
                   Shot("close_up", Box(20, 20, 60, 60)), subject=subject)


def test_match_subject():
    near, far = body((10, 10, 50, 90)), body((60, 10, 95, 90))
    assert match_subject(_shots(Subject(Box(60, 10, 95, 90))), [near, far]) is far
    # the subject box (10, 10, 50, 50) covers half of `near` (IoU 0.5), nothing of `far`
    assert match_subject(_shots(Subject(Box(10, 10, 50, 50))), [near, far]) is near
    # nobody there: 10x10 box at the corner
    assert match_subject(_shots(Subject(Box(0, 0, 5, 5))), [near, far]) is None
    assert match_subject(_shots(None), [near, far]) is None
    assert match_subject(_shots(Subject(Box(60, 10, 95, 90))), []) is None


def test_face_points_inside_counts_present_points_edges_included():
    cu = Box(20, 20, 60, 60)
    assert face_points_inside(body((0, 0, 99, 99), (40, 40)), cu) == 5
    assert face_points_inside(body((0, 0, 99, 99), (60, 20)), cu) == 5  # on the edge
    assert face_points_inside(body((0, 0, 99, 99), (61, 40)), cu) == 0
    assert face_points_inside(body((0, 0, 99, 99), (40, 40), score=0.2), cu) == 0  # absent
    assert face_points_inside(body((0, 0, 99, 99), (40, 40)), cu, points=(0, 1)) == 2


@pytest.mark.parametrize("people, want", [
    # a small person with the face inside beats a large one without
    ([body((0, 0, 99, 99), (80, 80)), body((30, 30, 50, 50), (40, 40))], 1),
    # no face inside: the largest box (60x60 against 20x20)
    ([body((30, 30, 50, 50), (90, 90)), body((0, 0, 60, 60), (95, 95))], 1),
    # same faces, same size: the first
    ([body((0, 0, 50, 50), (40, 40)), body((10, 10, 60, 60), (40, 40))], 0),
])
def test_subject_of_close_up(people, want):
    assert subject_of_close_up(people, Box(20, 20, 60, 60)) == want


def test_subject_of_close_up_needs_people():
    with pytest.raises(ShotCropError, match="no person"):
        subject_of_close_up([], Box(0, 0, 10, 10))


def test_a_doubtful_detection_does_not_outrank_a_sure_person():
    """A detector's 0.22 box (a towel) 1.5x taller than a 0.9 person, both with a face: the
    sure person is the subject; with human keypoints (score 1 each) the taller one wins."""
    from shotcrop_core.subject import choose_subject

    tall, short = (10, 5, 40, 95), (55, 35, 85, 95)

    def face_at(x, y, score):
        kp = np.zeros((17, 3))
        kp[list(FACE)] = (x, y, score)
        return kp

    towel = Person(face_at(25, 12, 0.5), tall, 0.22)
    person = Person(face_at(70, 40, 0.9), short, 0.9)
    assert choose_subject([towel, person], W, H) == 1
    humans = [Person(face_at(25, 12, 1.0), tall, 1.0), Person(face_at(70, 40, 1.0), short, 1.0)]
    assert choose_subject(humans, W, H) == 0
