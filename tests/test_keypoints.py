"""Person: the dict form (to_dict / from_dict) and the errors bad data gives."""

import json

import numpy as np
import pytest

from shotcrop_core.errors import ShotCropError
from shotcrop_core.keypoints import NoLandmarksError, Person, PersonError


def _kp(score=1.0):
    # point i at (10 + i, 20 + 2 i): easy to check by hand
    return [v for i in range(17) for v in (10.0 + i, 20.0 + 2 * i, score)]


def test_round_trip_through_json():
    p = Person(np.array(_kp()).reshape(17, 3), (1.5, 2.25, 80.0, 90.0), 0.875,
               feet=[[30.0, 60.0, 0.9], [31.0, 61.0, 0.8]])
    q = Person.from_dict(json.loads(json.dumps(p.to_dict())))
    assert q.box == (1.5, 2.25, 80.0, 90.0) and q.score == 0.875
    assert q.keypoints[16].tolist() == [26.0, 52.0, 1.0]
    assert q.feet.tolist() == [[30.0, 60.0, 0.9], [31.0, 61.0, 0.8]]
    assert q.to_dict() == p.to_dict()


def test_defaults_and_box_from_keypoints():
    p = Person.from_dict({"keypoints": _kp()})
    assert p.score == 1.0 and p.feet is None
    # extent x 10..26, y 20..52; pad 0.08 x max(16, 32) = 2.56, twice that above the head
    assert p.box == pytest.approx((7.44, 14.88, 28.56, 54.56))
    nested = Person.from_dict({"keypoints": np.array(_kp()).reshape(17, 3).tolist(),
                               "box": None, "feet": []})
    assert nested.box == p.box and nested.feet is None


@pytest.mark.parametrize("d, message", [
    ([1, 2], "person must be an object with 'keypoints'"),
    ({"box": [0, 0, 1, 1]}, "person must be an object with 'keypoints'"),
    ({"keypoints": _kp()[:50]}, "person.keypoints must hold 51 numbers"),
    ({"keypoints": ["1"] * 51}, "person.keypoints[0] must be a number"),
    ({"keypoints": [float("nan")] * 51}, "person.keypoints[0] must be a finite number"),
    ({"keypoints": "abc"}, "person.keypoints must be a list of numbers"),
    ({"keypoints": _kp(), "box": [1, 2]}, "person.box must be a list of 4 numbers"),
    ({"keypoints": _kp(), "box": [0, 0, "x", 1]}, "person.box[2] must be a number"),
    ({"keypoints": _kp(), "score": "high"}, "person.score must be a number"),
    ({"keypoints": _kp(), "feet": [1, 2]}, "person.feet must hold x, y, score triples"),
])
def test_bad_dicts_give_one_clear_error(d, message):
    with pytest.raises(PersonError) as e:
        Person.from_dict(d)
    assert message in str(e.value)
    assert isinstance(e.value, ShotCropError) and isinstance(e.value, ValueError)


def test_nothing_to_place_the_person_by():
    with pytest.raises(NoLandmarksError, match=r"entry 3 has no 'box' and no keypoint"):
        Person.from_dict({"keypoints": _kp(score=0.0)}, "entry 3")
    # a box alone is enough
    assert Person.from_dict({"keypoints": _kp(score=0.0), "box": [0, 0, 5, 5]}).n_visible == 0


@pytest.mark.parametrize("make", [
    lambda: Person(np.zeros((16, 3)), (0, 0, 1, 1)),
    lambda: Person(np.zeros((17, 3)), (0, 0, 1)),
    lambda: Person(np.zeros((17, 3)), (0, 0, float("inf"), 1)),
    lambda: Person(np.zeros((17, 3)), None),
    lambda: Person([["a"] * 3] * 17, (0, 0, 1, 1)),
    lambda: Person.from_keypoints(np.zeros(50)),
    lambda: Person.from_keypoints(np.zeros(51)),
])
def test_person_raises_project_errors(make):
    with pytest.raises(PersonError):
        make()
