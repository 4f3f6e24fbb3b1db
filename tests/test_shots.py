import json

import pytest

from shotcrop_core import SHOT_NAMES, Box, Shot, ShotCropError, ShotSet, ShotSetError, Subject


def make_set(**kw):
    return ShotSet(640, 480, Shot("establishing", Box(0, 0, 640, 480), "wide", "original"),
                   Shot("medium", Box(100, 50, 400, 400), "mid", "4:5", ("medium: x",)),
                   Shot("close_up", Box(150, 60, 300, 200), "close", "1:1"),
                   subject=Subject(Box(120, 40, 380, 470), 2), **kw)


def test_json_round_trip_and_order():
    s = make_set()
    d = json.loads(s.to_json(image="a.jpg"))
    assert [x["shot"] for x in d["shots"]] == list(SHOT_NAMES)
    assert d["image"] == "a.jpg" and d["subject"]["box"] == [120, 40, 380, 470]
    assert ShotSet.from_json(s.to_json()) == s
    assert ShotSet.from_dict(s.to_dict()).medium.warnings == ("medium: x",)


def test_immutable():
    s = make_set()
    with pytest.raises(Exception):
        s.medium = s.close_up  # type: ignore[misc]


def test_normalised_round_trip():
    s = make_set()
    n = s.normalized()
    assert n["establishing"] == (0.0, 0.0, 1.0, 1.0)
    back = ShotSet.from_normalized(n, 640, 480)
    for name in SHOT_NAMES:
        assert back[name].box == s[name].box


@pytest.mark.parametrize("bad, msg", [
    ("not json", "not valid JSON"),
    ("[]", "must be a JSON object"),
    ('{"width": 10, "height": 10}', "missing 'shots'"),
    ('{"width": 10, "height": 10, "shots": [{"shot": "wide", "box": [0,0,1,1]}]}', "unknown shot"),
    ('{"width": 10, "height": 10, "shots": [{"shot": "medium", "box": [0,0,1]}]}', "[x0, y0, x1, y1]"),
    ('{"width": 10, "height": 10, "shots": [{"shot": "medium", "box": [5,5,1,1]}]}', "empty"),
    ('{"width": 10, "height": 10, "shots": [{"shot": "medium", "box": [0,0,1.5,1]}]}', "whole pixels"),
    ('{"width": 10, "height": 10, "shots": [{"shot": "medium", "box": [0,0,1,1]}]}', "missing establishing"),
])
def test_validation_errors(bad, msg):
    with pytest.raises(ShotSetError, match=msg.replace("[", r"\[").replace("]", r"\]")):
        ShotSet.from_json(bad)


def test_box_outside_image_rejected():
    d = make_set().to_dict()
    d["shots"][0]["box"] = [0, 0, 641, 480]
    with pytest.raises(ShotSetError, match="outside"):
        ShotSet.from_dict(d)


def test_box_geometry():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.fraction_inside(b) == 0.5
    assert Box.from_floats(-3.2, 2.6, 700.4, 99.5, 640, 480) == Box(0, 3, 640, 100)


# -- shot names ------------------------------------------------------------------------------
SPELLINGS = {
    "establishing": ["establishing", "Establishing", " ESTABLISHING ", "est", "EST", "wide",
                     "Wide", "ls", "LS"],
    "medium": ["medium", "Medium", "med", "MED", "ms", "MS"],
    "close_up": ["close_up", "close-up", "closeup", "Close Up", "close up", " CLOSE-UP ",
                 "Close_Up", "cu", "CU"],
}


@pytest.mark.parametrize("text, name", [(t, n) for n, ts in SPELLINGS.items() for t in ts])
def test_every_spelling_gives_its_shot_name(text, name):
    from shotcrop_core.aspect import parse_aspect_spec
    from shotcrop_core.prompting import SHOT_WORDS, shot_prompt
    from shotcrop_core.shots import shot_name

    assert shot_name(text) == name
    # the aspect spec and the prompt builder accept the same words
    assert parse_aspect_spec(f"{text}=1:1")[name] == "1:1"
    assert shot_prompt(make_set(), text, "{shot}")[0] == SHOT_WORDS[name]


@pytest.mark.parametrize("bad", ["portrait", "close", "mediums", "", "c u p", 3, None])
def test_unknown_shot_name_lists_what_is_accepted(bad):
    from shotcrop_core.shots import shot_name

    with pytest.raises(ShotCropError) as e:
        shot_name(bad)
    msg = str(e.value)
    assert msg.startswith(f"unknown shot {bad!r}: use one of establishing, medium, close_up")
    assert "est, wide, ls for establishing; med, ms for medium; close-up, closeup, cu for close_up" \
        in msg


def test_answer_parser_builds_on_the_same_table():
    from shotcrop_core.shots import SHOT_ALIASES, shot_key
    from shotcrop_core.vlm.parse import answer_shot_name

    for name, aliases in SHOT_ALIASES.items():
        for spelling in (name, *aliases):
            assert answer_shot_name(spelling) == name, spelling
    assert shot_key(" Close-Up_shot ") == "closeupshot"
