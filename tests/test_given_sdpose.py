"""POSE_KEYPOINT as ComfyUI core's SDPose Keypoint Extractor writes it
(comfy_extras/nodes_sdpose.py): pixels of the image it ran on, 18 body points in OpenPose order,
`foot_keypoints_2d` (6 points), 70 face and 21 + 21 hand points. A point it could not place is
(-1, -1) WITH its heatmap score kept, so the score alone must not make it count as seen.

Expected boxes are worked out by hand below from the reader's documented rule (person box = the
seen points, padded by 8 % of the larger side, with twice that above the head).
"""

from __future__ import annotations

import numpy as np
import pytest

from shotcrop_core.perception.given import pose_keypoint_frames, pose_keypoint_to_people

MISSING = (-1.0, -1.0)

# OpenPose-18 index -> point placed; every other point is "missing" as SDPose writes it.
SEEN = {0: (320.0, 100.0),   # nose
        2: (280.0, 160.0),   # right shoulder
        5: (360.0, 160.0),   # left shoulder
        8: (290.0, 300.0),   # right hip
        11: (350.0, 300.0)}  # left hip
# Where those land in COCO-17 order: nose 0, left shoulder 5, right shoulder 6, hips 11 / 12.
COCO_SEEN = {0: (320.0, 100.0), 5: (360.0, 160.0), 6: (280.0, 160.0), 11: (350.0, 300.0),
             12: (290.0, 300.0)}


def _flat(points: list[tuple[float, float]], scores: list[float]) -> list[float]:
    return [v for (x, y), c in zip(points, scores) for v in (x, y, c)]


def sdpose_person(missing_score: float = 0.87, feet: list | None = None) -> dict:
    body = [SEEN.get(i, MISSING) for i in range(18)]
    body_scores = [0.9 if i in SEEN else missing_score for i in range(18)]
    body[1] = (320.0, 160.0)  # SDPose's neck: the shoulders' midpoint (dropped: COCO has none)
    return {
        "pose_keypoints_2d": _flat(body, body_scores),
        "foot_keypoints_2d": feet if feet is not None else _flat([MISSING] * 6, [0.8] * 6),
        "face_keypoints_2d": _flat([MISSING] * 70, [0.75] * 70),
        "hand_right_keypoints_2d": _flat([MISSING] * 21, [0.6] * 21),
        "hand_left_keypoints_2d": _flat([MISSING] * 21, [0.6] * 21),
    }


def test_missing_points_with_a_score_are_not_seen():
    frame = {"canvas_width": 640, "canvas_height": 422, "people": [sdpose_person()]}
    (person,) = pose_keypoint_to_people(frame, image_size=(640, 422))
    seen = {i for i in range(17) if person.keypoints[i, 2] >= 0.3}
    assert seen == set(COCO_SEEN)
    for i, (x, y) in COCO_SEEN.items():
        assert tuple(person.keypoints[i, :2]) == (x, y)
    # Seen points span x 280..360, y 100..300: pad = 0.08 * 200 = 16, head room 2 * 16 = 32.
    # (Before the fix the 150 "missing" points at (-1, -1) stretched the box to the corner.)
    assert person.box == pytest.approx((264.0, 68.0, 376.0, 316.0))
    assert person.feet is not None and not (person.feet[:, 2] > 0).any()


def test_a_person_sdpose_could_not_place_at_all_is_dropped():
    nobody = sdpose_person()
    nobody["pose_keypoints_2d"] = _flat([MISSING] * 18, [0.9] * 18)  # scores kept, no point
    frame = {"canvas_width": 640, "canvas_height": 422, "people": [nobody, sdpose_person()]}
    people = pose_keypoint_to_people(frame, image_size=(640, 422))
    assert len(people) == 1 and people[0].box == pytest.approx((264.0, 68.0, 376.0, 316.0))


def test_sdpose_feet_are_read_and_widen_the_box_down():
    # Six foot points in BODY_25's order (big toe, small toe, heel; left then right).
    feet = _flat([(330.0, 400.0), (340.0, 402.0), (325.0, 390.0), MISSING, MISSING, MISSING],
                 [0.9, 0.9, 0.9, 0.5, 0.5, 0.5])
    frame = {"canvas_width": 640, "canvas_height": 422, "people": [sdpose_person(feet=feet)]}
    (person,) = pose_keypoint_to_people(frame)
    assert person.feet.shape == (6, 3)
    assert [tuple(p) for p in person.feet[:3, :2]] == [(330, 400), (340, 402), (325, 390)]
    assert (person.feet[3:, 2] == 0).all()  # the (-1, -1) toes and heel are not seen
    # Seen points now span x 280..360, y 100..402: pad = 0.08 * 302 = 24.16.
    assert person.box == pytest.approx((280 - 24.16, 100 - 2 * 24.16, 360 + 24.16,
                                        402 + 24.16))


def test_normalised_frames_with_the_sdpose_marker_still_scale_to_the_canvas():
    """(-1, -1) is not a coordinate: it must not make a normalised frame look like pixels."""
    person = sdpose_person()
    pts = np.asarray(person["pose_keypoints_2d"], float).reshape(18, 3)
    placed = pts[:, 0] >= 0
    pts[placed, 0] /= 640.0  # normalised over the canvas (pad_to=1: no OpenPose padding)
    pts[placed, 1] /= 400.0
    person["pose_keypoints_2d"] = pts.reshape(-1).tolist()
    frame = {"canvas_width": 640, "canvas_height": 400, "people": [person]}
    (p,) = pose_keypoint_to_people(frame, pad_to=1)
    for i, (x, y) in COCO_SEEN.items():
        assert tuple(p.keypoints[i, :2]) == pytest.approx((x, y))
    assert p.box == pytest.approx((264.0, 68.0, 376.0, 316.0))


def test_frames_list_as_the_node_receives_it():
    frames = [{"canvas_width": 640, "canvas_height": 422, "people": [sdpose_person()]},
              {"canvas_width": 640, "canvas_height": 422, "people": []}]
    out = pose_keypoint_frames(frames, image_size=(1280, 844))  # same shape, twice the size
    assert len(out) == 2 and out[1] == []
    assert out[0][0].box == pytest.approx((528.0, 136.0, 752.0, 632.0))
