"""vlm/lenient_json.py: finding JSON spans in a model's answer and reading them, strict or
tolerant, on hand-written answers with hand-worked expected values; payloads are never run."""

from __future__ import annotations

from pathlib import Path

import pytest

from shotcrop_core.errors import ShotCropError
from shotcrop_core.vlm import lenient_json as L
from shotcrop_core.vlm.lenient_json import NUMBER, LenientJSONError, decode, find_spans


# -- find_spans ------------------------------------------------------------------------------------
def test_spans_are_found_in_chatter_and_fences_outermost_first():
    #       0123456789012345678
    text = 'x {"a": [1, 2]} y'
    assert find_spans(text) == [(2, 15), (8, 14)]
    fenced = 'Sure!\n```json\n{"a": 1}\n```'
    assert find_spans(fenced) == [(14, 22)]
    assert fenced[14:22] == '{"a": 1}'


def test_brackets_inside_strings_do_not_count():
    assert find_spans('{"a": "}"}') == [(0, 10)]
    assert find_spans("{'a': 'the woman's hand'}") == [(0, 25)]


def test_text_without_brackets_has_no_spans():
    assert find_spans("The crops look fine, 8 out of 10.") == []
    assert find_spans("") == []


# -- decode ----------------------------------------------------------------------------------------
def test_strict_json_is_read_by_json():
    assert decode('{"a": [1, 2.5, true, null], "b": "x"}') == (
        {"a": [1, 2.5, True, None], "b": "x"}, True)


@pytest.mark.parametrize("span, value", [
    ("{'shot': 'medium', 'box': [1, 2, 3, 4,],}",
     {"shot": "medium", "box": [1, 2, 3, 4]}),                       # single quotes, trailing ,
    ("{\n// the plan\nshot: close_up, ok: True, x: None\n}",
     {"shot": "close_up", "ok": True, "x": None}),                   # comment, bare words
    ('{"a": 1 "b": 2}', {"a": 1, "b": 2}),                           # missing comma
    ("{shot: wide, box: [1, 2, 3, 4]}", {"shot": "wide", "box": [1, 2, 3, 4]}),  # bare keys
    ("[+1, .5, 1e3, -2]", [1, 0.5, 1000.0, -2]),                     # numbers JSON refuses
    ("{'a': 'line\\nnext \\u00e9'}", {"a": "line\nnext \u00e9"}),   # escapes
    ('{"a": 1} and then some chatter', {"a": 1}),                    # text after the value
])
def test_json_ish_is_read_tolerantly(span, value):
    assert decode(span) == (value, False)


@pytest.mark.parametrize("text", [
    "The crops look fine, 8 out of 10.",  # no JSON at all
    "",
    "   ",
    "{'a': ",                             # ends mid-object
    '{"a": 1',
    "{'a': 'never closed}",
    "{[1, 2]: 3}",                        # a list is no key
    "[" * 40 + "1," + "]" * 40,           # deeper than MAX_DEPTH
])
def test_unreadable_text_raises_the_public_error(text):
    with pytest.raises(LenientJSONError):
        decode(text)


def test_the_error_is_a_shotcrop_error_and_a_value_error():
    with pytest.raises(LenientJSONError) as caught:
        decode("no json here")
    assert isinstance(caught.value, ShotCropError) and isinstance(caught.value, ValueError)
    assert str(caught.value) == "no JSON object or array"
    with pytest.raises(LenientJSONError, match="too deep"):
        decode("[" * 40 + "1," + "]" * 40)


def test_number_pattern():
    assert NUMBER.fullmatch("-.5e3") and NUMBER.fullmatch("+12") and NUMBER.fullmatch("7.")
    assert NUMBER.fullmatch("1.2.3") is None and NUMBER.fullmatch("e5") is None


# -- never run -------------------------------------------------------------------------------------
def test_code_is_read_as_text_never_run(tmp_path: Path):
    marker = tmp_path / "pwned"
    pay = f"__import__('os').system('touch {marker}')"
    assert decode("{'a': " + pay + "}") == ({"a": pay}, False)
    assert decode("[1+1]") == ([1, 1], False)  # two numbers, no sum
    assert decode('{"a": "' + pay.replace("'", "\\u0027") + '"}') == ({"a": pay}, True)
    for text in (pay, f"```python\n{pay}\n```"):
        with pytest.raises(LenientJSONError):
            decode(text)
    assert not marker.exists()


def test_source_has_no_eval():
    src = Path(L.__file__).read_text()
    for banned in ("eval(", "exec(", "literal_eval", "__import__", "pickle", "import ast"):
        assert banned not in src
