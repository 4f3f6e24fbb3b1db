"""The VLM prompt and answer contract: recorded answers in each Qwen family's style, fuzzing,
payloads that must never run, and description cleaning.

The recorded answers are hand-written after the models' documented habits: Qwen2.5-VL's cookbook
answers in a ```json fence with a tab-indented list of {"bbox_2d", "label"} objects in pixels of
the resized image; Qwen3-VL uses the same shapes on a 0-1000 grid, and its Thinking checkpoints
open <think> in the chat template, so their answers carry only a closing </think>.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shotcrop_core.errors import ShotCropError
from shotcrop_core.shots import SHOT_NAMES, Box, ShotSet
from shotcrop_core.vlm import parse as P
from shotcrop_core.vlm.parse import (AnswerError, ParsedShots, clean_description, parse_answer,
                                     answer_shot_name, to_shotset)
from shotcrop_core.vlm.prompt import (MAX_NEW_TOKENS, MAX_NEW_TOKENS_REASONING, build_messages,
                                      retry_message, task_text)

W, H = 1600, 1050          # the photo
RESIZED = (812, 532)       # what the Qwen2.5-VL processor gave the model (29 x 19 patches of 28)

# -- the scene: a woman at a farmers' market stall, holding a jar of honey -----------------------
EST_D = "A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."
MED_D = "A young woman in a denim apron smiles warmly while holding up a jar of golden honey."
CU_D = "Close-up of her bright, friendly face and the glowing jar of honey near her cheek."

G_EST, G_MED, G_CU = [40, 30, 960, 990], [330, 120, 700, 780], [420, 130, 610, 460]  # 0-1000
R_EST, R_MED, R_CU = [32, 16, 780, 527], [268, 64, 568, 415], [341, 69, 495, 245]    # 812x532 px


def _grid_px(b: list[int]) -> list[int]:
    return [int(math.floor(v * s + 0.5)) for v, s in zip(b, (W / 1000, H / 1000) * 2)]


def _resized_px(b: list[int]) -> list[int]:
    sx, sy = W / RESIZED[0], H / RESIZED[1]
    return [int(math.floor(v * s + 0.5)) for v, s in zip(b, (sx, sy) * 2)]


def _compact(e, m, c) -> str:
    return json.dumps({"shots": [{"shot": "establishing", "bbox_2d": e, "description": EST_D},
                                 {"shot": "medium", "bbox_2d": m, "description": MED_D},
                                 {"shot": "close_up", "bbox_2d": c, "description": CU_D}]})


# -- Qwen3-VL: 0-1000 grid ---------------------------------------------------------------------
Q3_CLEAN = _compact(G_EST, G_MED, G_CU)

Q3_FENCED = """```json
{
  "shots": [
    {
      "shot": "establishing",
      "bbox_2d": [40, 30, 960, 990],
      "description": "A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."
    },
    {
      "shot": "medium",
      "bbox_2d": [330, 120, 700, 780],
      "description": "A young woman in a denim apron smiles warmly while holding up a jar of golden honey."
    },
    {
      "shot": "close_up",
      "bbox_2d": [420, 130, 610, 460],
      "description": "Close-up of her bright, friendly face and the glowing jar of honey near her cheek."
    }
  ]
}
```"""

# Qwen3-VL-*-Thinking: the template already opened <think>, so only the closing tag comes back.
Q3_THINKING_STRAY = """The user wants three crops. The woman stands slightly left of centre, eyes \
at about y=200 on the grid, shoulders near 300, waist around 560, knees near 820. The medium shot \
should end mid-thigh, around 780, clear of the knees; a draft: {"shot": "medium", "bbox_2d": \
[300, 100, 720, 700]}. Close-up: forehead at 150, chin at 360, so bottom at 460 keeps the jar.
</think>

{"shots": [{"shot": "establishing", "bbox_2d": [40, 30, 960, 990], "description": "A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."}, {"shot": "medium", "bbox_2d": [330, 120, 700, 780], "description": "A young woman in a denim apron smiles warmly while holding up a jar of golden honey."}, {"shot": "close_up", "bbox_2d": [420, 130, 610, 460], "description": "Close-up of her bright, friendly face and the glowing jar of honey near her cheek."}]}"""

Q3_THINK_BLOCK = "<think>\nSubject: the woman at the stall. Eye line ~200, knees ~820. Avoid " \
    "the elbow at y=450 for the close-up.\n</think>\n\n```json\n" + Q3_CLEAN + "\n```"

Q3_CHATTER = ("Here is the shot plan for your market photo:\n\n```json\n" + Q3_CLEAN +
              "\n```\n\nThe establishing shot keeps the whole stall in view, while the close-up "
              "stays on her face and the jar. Let me know if you'd like different aspect ratios!")

Q3_SINGLE_QUOTES = """{'shots': [
  {'shot': 'establishing', 'bbox_2d': [40, 30, 960, 990], 'description': 'A sunny farmers' market with striped awnings, a young woman standing behind a honey stall.',},
  {'shot': 'medium', 'bbox_2d': [330, 120, 700, 780], 'description': 'A young woman in a denim apron smiles warmly while holding up a jar of golden honey.',},
  {'shot': 'close_up', 'bbox_2d': [420, 130, 610, 460], 'description': 'Close-up of her bright, friendly face and the glowing jar of honey near her cheek.', 'detail': False},
], 'nested': True, 'notes': None,}"""

Q3_DICT_KEYED = """```json
{
  "establishing": {"bbox_2d": [40, 30, 960, 990], "description": "A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."},
  "medium shot": {"bbox_2d": [330, 120, 700, 780], "description": "A young woman in a denim apron smiles warmly while holding up a jar of golden honey."},
  "Close-Up": {"bbox_2d": [420, 130, 610, 460], "description": "Close-up of her bright, friendly face and the glowing jar of honey near her cheek."}
}
```"""

# The cookbook's detection habit: a bare list with "label" instead of "shot".
Q3_LABEL_LIST = """```json
[
  {"bbox_2d": [40, 30, 960, 990], "label": "establishing shot", "description": "A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."},
  {"bbox_2d": [330, 120, 700, 780], "label": "medium shot", "description": "A young woman in a denim apron smiles warmly while holding up a jar of golden honey."},
  {"bbox_2d": [420, 130, 610, 460], "label": "close-up", "description": "Close-up of her bright, friendly face and the glowing jar of honey near her cheek."}
]
```"""

Q3_STRING_BOXES_SWAPPED = """{"shots": [
 {"shot": "Wide", "bbox": "40, 30, 960, 990", "description": "Description: A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."},
 {"shot": "MS", "box": ["700", "780", "330", "120"], "description": "A young woman in a denim apron smiles warmly while holding up a jar of golden honey."},
 {"shot": "CU", "bbox_2d": [420.0, 130.0, 610.0, 460.0], "description": "**Close-up of her bright, friendly face and the glowing jar of honey near her cheek.**"}
]}"""

Q3_SOURCE_PIXELS = _compact([64, 32, 1536, 1040], [528, 126, 1120, 819], [672, 137, 976, 483])

Q3_OK = [Q3_CLEAN, Q3_FENCED, Q3_THINKING_STRAY, Q3_THINK_BLOCK, Q3_CHATTER, Q3_SINGLE_QUOTES,
         Q3_DICT_KEYED, Q3_LABEL_LIST, Q3_STRING_BOXES_SWAPPED, Q3_SOURCE_PIXELS]

Q3_TRUNCATED = Q3_FENCED[:Q3_FENCED.index('"bbox_2d": [420') + 20]
Q3_TWO_SHOTS = json.dumps({"shots": [
    {"shot": "establishing", "bbox_2d": G_EST, "description": EST_D},
    {"shot": "medium", "bbox_2d": G_MED, "description": MED_D}]})
Q3_GARBAGE = "I'm sorry, but I can't determine the shots for this image."
Q3_THINK_CUT = "<think>\nThe woman stands left of centre. Her eyes are at about 200 on the " \
    "grid; the medium shot should end mid-thigh, so"
Q3_DEGENERATE = _compact(G_EST, G_MED, [500, 300, 500, 300])

# -- Qwen2.5-VL: pixels of the processor-resized image (812x532) ---------------------------------
Q25_CLEAN = _compact(R_EST, R_MED, R_CU)

Q25_COOKBOOK = """```json
[
\t{"bbox_2d": [32, 16, 780, 527], "label": "establishing", "description": "A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."},
\t{"bbox_2d": [268, 64, 568, 415], "label": "medium", "description": "A young woman in a denim apron smiles warmly while holding up a jar of golden honey."},
\t{"bbox_2d": [341, 69, 495, 245], "label": "close_up", "description": "Close-up of her bright, friendly face and the glowing jar of honey near her cheek."}
]
```"""

Q25_CHATTER = "Sure! Here are the three shots:\n```json\n" + Q25_CLEAN + "\n```\nI hope this helps."

Q25_CORNER_PAIRS = """{"shots": [
  {"shot": "establishing", "bbox_2d": [[32, 16], [780, 527]], "description": "A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."},
  {"shot": "medium", "bbox_2d": [[268, 64], [568, 415]], "description": "A young woman in a denim apron smiles warmly while holding up a jar of golden honey."},
  {"shot": "close_up", "bbox_2d": [[341, 69], [495, 245]], "description": "Close-up of her bright, friendly face and the glowing jar of honey near her cheek."}
]}"""

Q25_DICT_BBOX = """{
  "wide": {"bbox": [32, 16, 780, 527], "desc": "A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."},
  "MS": {"bbox": [268, 64, 568, 415], "desc": "A young woman in a denim apron smiles warmly while holding up a jar of golden honey."},
  "Close Up": {"bbox": [341, 69, 495, 245], "desc": "Close-up of her bright, friendly face and the glowing jar of honey near her cheek."},
}"""

Q25_PYTHONISH = """{'shots': [{'shot': 'establishing shot', 'bbox_2d': [32, 16, 780, 527], 'description': "A sunny farmers' market with striped awnings, a young woman standing behind a honey stall."}, {'shot': 'medium shot', 'bbox_2d': [268, 64, 568, 415], 'description': 'A young woman in a denim apron smiles warmly while holding up a jar of golden honey.'}, {'shot': 'closeup', 'bbox_2d': [341, 69, 495, 245], 'description': 'Close-up of her bright, friendly face and the glowing jar of honey near her cheek.'},], 'ok': True}"""

Q25_NORMALIZED = _compact([0.04, 0.03, 0.96, 0.99], [0.33, 0.12, 0.7, 0.78],
                          [0.42, 0.13, 0.61, 0.46])
Q25_GRID = _compact(G_EST, G_MED, G_CU)      # 960 > 812: read on the 0-1000 grid
Q25_OUTSIDE = _compact([-6, -3, 830, 545], R_MED, R_CU)

Q25_OK = [Q25_CLEAN, Q25_COOKBOOK, Q25_CHATTER, Q25_CORNER_PAIRS, Q25_DICT_BBOX, Q25_PYTHONISH,
          Q25_NORMALIZED, Q25_GRID, Q25_OUTSIDE]

Q25_TRUNCATED = Q25_COOKBOOK[:Q25_COOKBOOK.index('"label": "close_up"') - 8]
Q25_TWO_SHOTS = _compact(R_EST, R_MED, R_CU).replace('"close_up"', '"establishing"')
Q25_GARBAGE = "addCriterion\n\n<|im_end|> The image shows a woman. ]]}{{ [1, 2, 3"
Q25_DEGENERATE = _compact(R_EST, R_MED, [300, 200, 300, 200])   # a point


def _valid(p: ParsedShots, w: int = W, h: int = H) -> None:
    assert set(p.boxes) == set(SHOT_NAMES) == set(p.descriptions)
    for n in SHOT_NAMES:
        b = p.boxes[n]
        assert isinstance(b, Box) and b.inside(w, h) and b.w >= 1 and b.h >= 1
        assert all(type(v) is int for v in b.to_list())
        d = p.descriptions[n]
        assert isinstance(d, str) and len(d) <= P.MAX_DESCRIPTION + 1 and "\n" not in d
    to_shotset(p, w, h)  # a valid ShotSet


def _close(box: Box, want: list[int], tol: int = 1) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(box.to_list(), want))


# -- recorded answers ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", Q3_OK, ids=["clean", "fenced", "thinking-stray", "think-block",
                                             "chatter", "single-quotes", "dict-keyed", "label-list",
                                             "strings-swapped", "source-pixels"])
def test_qwen3_recorded_answers(text: str) -> None:
    p = parse_answer(text, W, H, "qwen3_vl", resized=(1600, 1056))  # 50 x 33 patches of 32
    _valid(p)
    tol = 1 if p.convention == "grid" else 8  # pixels read on the resized 1600x1056 image
    for n, g in zip(SHOT_NAMES, (G_EST, G_MED, G_CU)):
        assert _close(p.boxes[n], _grid_px(g), tol)
    assert p.descriptions == {"establishing": EST_D, "medium": MED_D, "close_up": CU_D}


def test_qwen3_exact_conversion_and_thinking() -> None:
    p = parse_answer(Q3_THINKING_STRAY, W, H, "qwen3_vl")
    assert p.boxes["close_up"].to_list() == [672, 137, 976, 483]     # 136.5 rounds half up
    assert p.boxes["establishing"].to_list() == [64, 32, 1536, 1040]
    assert p.convention == "grid" and p.problems == ()
    assert "eyes" in p.thinking and "</think>" not in p.thinking
    # The draft box inside the thinking is not the answer.
    assert p.boxes["medium"].to_list() == _grid_px(G_MED)


def test_qwen3_notes_repairs_and_conventions() -> None:
    p = parse_answer(Q3_STRING_BOXES_SWAPPED, W, H, "qwen3_vl")
    assert any("swapped" in x for x in p.problems)
    assert parse_answer(Q3_SINGLE_QUOTES, W, H, "qwen3_vl").problems == (P.REPAIRED,)
    src = parse_answer(Q3_SOURCE_PIXELS, W, H, "qwen3_vl")
    assert src.convention == "source" and src.boxes["medium"].to_list() == [528, 126, 1120, 819]
    # Past the grid but inside the resized image: pixels of the resized image.
    big = parse_answer(_compact([80, 60, 1500, 1040], [500, 120, 1100, 800], [650, 130, 950, 480]),
                       3200, 2100, "qwen3_vl", resized=(1600, 1056))
    assert big.convention == "resized"
    assert _close(big.boxes["establishing"], [160, 119, 3000, 2068])


@pytest.mark.parametrize("text", Q25_OK, ids=["clean", "cookbook", "chatter", "corner-pairs",
                                              "dict-bbox", "pythonish", "normalized", "grid",
                                              "outside"])
def test_qwen25_recorded_answers(text: str) -> None:
    p = parse_answer(text, W, H, "qwen2_5_vl", resized=RESIZED)
    _valid(p)
    tol = 1 if p.convention == "resized" else 12  # other conventions: same shots, coarser numbers
    assert _close(p.boxes["medium"], _resized_px(R_MED), tol)
    assert _close(p.boxes["close_up"], _resized_px(R_CU), tol)
    assert p.descriptions["medium"] == MED_D and p.descriptions["close_up"] == CU_D


def test_qwen25_conventions() -> None:
    p = parse_answer(Q25_CLEAN, W, H, "qwen2_5_vl", resized=RESIZED)
    assert p.convention == "resized" and p.problems == ()
    assert p.boxes["establishing"].to_list() == [63, 32, 1537, 1040]
    assert parse_answer(Q25_NORMALIZED, W, H, "qwen2_5_vl", RESIZED).convention == "normalized"
    g = parse_answer(Q25_GRID, W, H, "qwen2_5_vl", RESIZED)
    assert g.convention == "grid" and g.boxes["establishing"].to_list() == _grid_px(G_EST)
    out = parse_answer(Q25_OUTSIDE, W, H, "qwen2_5_vl", RESIZED)
    assert out.boxes["establishing"].to_list() == [0, 0, W, H]
    assert any("clamped" in x for x in out.problems)
    # No resized size known: pixels of the photo itself.
    same = parse_answer(Q3_SOURCE_PIXELS, W, H, "qwen2_5_vl")
    assert same.boxes["medium"].to_list() == [528, 126, 1120, 819]
    # Past the resized image but not the grid... and past the grid but inside the photo.
    src = parse_answer(_compact([64, 32, 1536, 1040], [528, 126, 1120, 819], [672, 137, 976, 483]),
                       W, H, "qwen2_5_vl", RESIZED)
    assert src.convention == "source" and src.boxes["close_up"].to_list() == [672, 137, 976, 483]


@pytest.mark.parametrize("family,text,why", [
    ("qwen3_vl", Q3_TRUNCATED, "missing close_up"),
    ("qwen3_vl", Q3_TWO_SHOTS, "missing close_up"),
    ("qwen3_vl", Q3_GARBAGE, "no shots"),
    ("qwen3_vl", Q3_THINK_CUT, "no shots"),
    ("qwen3_vl", Q3_DEGENERATE, "close_up box"),
    ("qwen3_vl", "", "empty"),
    ("qwen2_5_vl", Q25_TRUNCATED, "missing close_up"),
    ("qwen2_5_vl", Q25_TWO_SHOTS, "missing close_up"),
    ("qwen2_5_vl", Q25_GARBAGE, "no shots"),
    ("qwen2_5_vl", Q25_DEGENERATE, "close_up box"),
    ("qwen2_5_vl", '{"shots": [{"shot": "establishing", "bbox_2d": "wide"}]}', "not 4 numbers"),
])
def test_unusable_answers_raise(family: str, text: str, why: str) -> None:
    with pytest.raises(AnswerError, match=why):
        parse_answer(text, W, H, family, RESIZED)


def test_truncated_after_the_third_shot_still_reads() -> None:
    # All three shot objects are complete; only the wrapper's closing brackets are missing.
    p = parse_answer(Q3_CLEAN[:-2], W, H, "qwen3_vl")
    _valid(p)


def test_answer_inside_an_unclosed_think_block() -> None:
    p = parse_answer("<think>\nLet me plan.\n" + Q3_CLEAN, W, H, "qwen3_vl")
    _valid(p)
    assert any("think block" in x for x in p.problems)


def test_unnamed_shots_are_assigned_by_size() -> None:
    text = json.dumps([{"bbox_2d": G_CU, "label": "woman's face"},
                       {"bbox_2d": G_EST, "label": "market"},
                       {"bbox_2d": G_MED, "label": "woman"}])
    p = parse_answer(text, W, H, "qwen3_vl")
    assert p.boxes["establishing"].to_list() == _grid_px(G_EST)
    assert p.boxes["close_up"].to_list() == _grid_px(G_CU)
    assert p.descriptions["medium"] == "" and any("no description" in x for x in p.problems)


@pytest.mark.parametrize("raw,name", [
    ("close-up", "close_up"), ("closeup", "close_up"), ("Close Up", "close_up"), ("CU", "close_up"),
    ("close_up", "close_up"), ("Medium Close-Up", "close_up"), ("wide", "establishing"),
    ("establishing shot", "establishing"), ("Establishing", "establishing"), ("LS", "establishing"),
    ("medium shot", "medium"), ("Medium", "medium"), ("MS", "medium"), ("cowboy shot", "medium"),
    ("woman", None), ("", None), (3, None)])
def test_shot_names(raw, name) -> None:
    assert answer_shot_name(raw) == name


def test_to_shotset() -> None:
    p = parse_answer(Q25_OUTSIDE, W, H, "qwen2_5_vl", RESIZED)
    s = to_shotset(p, W, H, subject=Box(600, 100, 1100, 1000))
    assert isinstance(s, ShotSet) and s.source == "vlm" and s.subject.box.x0 == 600
    assert all(sh.aspect == "free" for sh in s) and s.medium.description == MED_D
    assert any("clamped" in w for w in s.warnings)
    assert ShotSet.from_json(s.to_json()) == s
    # Syntax repairs are not the user's business.
    assert to_shotset(parse_answer(Q3_SINGLE_QUOTES, W, H, "qwen3"), W, H).warnings == ()


def test_family_spellings_and_bad_family() -> None:
    for fam in ("Qwen3-VL", "qwen3", "qwen2.5-vl", "Qwen2_5_VL"):
        _valid(parse_answer(Q3_CLEAN, W, H, fam))
    with pytest.raises(ShotCropError, match="unknown VLM family"):
        parse_answer(Q3_CLEAN, W, H, "llava")


# -- fuzzing ---------------------------------------------------------------------------------------
_SEEDS = Q3_OK + Q25_OK


@st.composite
def _mutated(draw) -> str:
    s = draw(st.sampled_from(_SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(s)))
        op = draw(st.sampled_from(["cut", "delete", "insert", "number", "swap"]))
        if op == "cut":
            s = s[:i]
        elif op == "delete":
            s = s[:i] + s[i + draw(st.integers(1, 8)):]
        elif op == "insert":
            s = s[:i] + draw(st.sampled_from(["{", "}", "[", "]", '"', "'", ",", ":", "\\",
                                              "<think>", "</think>", "```", "\n", "-1", "1e999",
                                              "NaN", "None", "True", "'s"])) + s[i:]
        elif op == "number":
            nums = list(re.finditer(r"\d+(?:\.\d+)?", s))
            if nums:
                m = nums[draw(st.integers(0, len(nums) - 1))]
                v = draw(st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True,
                                                                             allow_infinity=True)))
                s = s[:m.start()] + str(v) + s[m.end():]
        else:
            j = draw(st.integers(0, len(s)))
            a, b = sorted((i, j))
            s = s[:a] + s[b:] + s[a:b]
    return s


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.one_of(st.text(max_size=400), _mutated(),
                      st.text(alphabet='{}[]"\',:0123456789 shotbx_medium', max_size=300)),
       family=st.sampled_from(["qwen3_vl", "qwen2_5_vl"]),
       size=st.tuples(st.integers(1, 4000), st.integers(1, 4000)),
       resized=st.one_of(st.none(), st.tuples(st.integers(1, 2000), st.integers(1, 2000))))
def test_fuzz_parse_is_valid_or_answer_error(text, family, size, resized) -> None:
    w, h = size
    try:
        p = parse_answer(text, w, h, family, resized)
    except AnswerError:
        return
    _valid(p, w, h)


def test_adversarial_inputs_are_fast() -> None:
    import time

    for text in ("[" * 50_000, "{" * 30_000 + "}" * 30_000, '["' * 20_000, "'" * 50_000,
                 "[[" * 5_000 + "]" * 9_999, '{"a":' * 8_000 + "1" + "}" * 8_000,
                 "9" * 200_000, "<think>" * 10_000, '[1, 2, 3, 4' * 10_000):
        t0 = time.perf_counter()
        with pytest.raises(AnswerError):
            parse_answer(text, W, H, "qwen3_vl")
        assert time.perf_counter() - t0 < 2.0, text[:20]


# -- security --------------------------------------------------------------------------------------
def test_payloads_are_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    pay = f"__import__('os').system('touch {marker}')"
    texts = [
        "{'shots': " + pay + "}",
        pay,
        f"```python\n{pay}\n```",
        "{" + f"'{pay}': {pay}, 'shots': [{pay}]" + "}",
        json.dumps({"shots": [{"shot": pay, "bbox_2d": [pay] * 4, "description": pay}] * 3}),
        "{'shots': [" + ", ".join(
            f"{{'shot': '{n}', 'bbox_2d': [{pay}, 1, 2, 3], 'description': {pay}}}"
            for n in SHOT_NAMES) + "]}",
        "{'shots': [" + ", ".join(
            f"{{'shot': '{n}', 'bbox_2d': {b}, 'description': \"{pay}\", {pay}: {pay}}}"
            for n, b in zip(SHOT_NAMES, (G_EST, G_MED, G_CU))) + "]}",
        f"<think>{pay}</think>" + Q3_CLEAN.replace(EST_D, pay.replace("'", "\\u0027")),
        "{'shots': [" + ", ".join(f"{{'shot': '{n}', 'bbox_2d': '{pay}', 'description': 'x'}}"
                                  for n in SHOT_NAMES) + "]}",
    ]
    for text in texts:
        try:
            p = parse_answer(text, W, H, "qwen3_vl")
        except AnswerError:
            continue
        _valid(p)
    assert not marker.exists()


def test_parser_source_has_no_eval() -> None:
    src = Path(P.__file__).read_text()
    for banned in ("eval(", "exec(", "literal_eval", "__import__", "pickle", "import ast"):
        assert banned not in src


# -- descriptions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,want", [
    ("  A woman   smiles\n at the\tcamera.  ", "A woman smiles at the camera."),
    ('"A woman smiles at the camera."', "A woman smiles at the camera."),
    ("\u201cA woman smiles at the camera.\u201d", "A woman smiles at the camera."),
    ("Description: A woman smiles at the camera.", "A woman smiles at the camera."),
    ("Close-up: A woman smiles at the camera.", "A woman smiles at the camera."),
    ("Medium shot - A woman smiles at the camera.", "A woman smiles at the camera."),
    ("Sure! Here is the description: A woman smiles.", "A woman smiles."),
    ("**A woman** smiles at the *camera*.", "A woman smiles at the camera."),
    ("`A woman smiles.`", "A woman smiles."),
    ("<think>She looks happy, say so.</think>A woman smiles at the camera.",
     "A woman smiles at the camera."),
    ("A woman smiles at the camera. The light is warm. Bees buzz.",
     "A woman smiles at the camera."),
    ("Mr. Smith waves from his bakery stall.", "Mr. Smith waves from his bakery stall."),
    ("A woman holds a 3.5 kg jar of honey.", "A woman holds a 3.5 kg jar of honey."),
    ("- A woman smiles at the camera.", "A woman smiles at the camera."),
    ("A woman smiles<|im_end|>", "A woman smiles"),
    ("Medium-format look of a woman at a stall.", "Medium-format look of a woman at a stall."),
    (None, ""), (42, ""), (["A woman", "smiles."], "A woman smiles."),
])
def test_clean_description(raw, want) -> None:
    assert clean_description(raw) == want


def test_clean_description_caps_length_on_a_word() -> None:
    out = clean_description("A woman " + "very " * 200 + "happy.")
    assert len(out) <= P.MAX_DESCRIPTION + 1 and out.endswith("very.")


# -- the prompt ------------------------------------------------------------------------------------
def _estimate_tokens(text: str) -> int:
    """A pessimistic Qwen-like count: one token per digit and per punctuation mark, a word every
    5 letters."""
    return sum(len(m) if m.isdigit() else (math.ceil(len(m) / 5) if m.isalpha() else 1)
               for m in re.findall(r"\d+|[A-Za-z]+|[^\sA-Za-z\d]", text))


def test_messages_shape_and_conventions() -> None:
    m = build_messages()
    assert [x["role"] for x in m] == ["system", "user"]
    assert m[1]["content"][0] == {"type": "image"} and m[1]["content"][1]["type"] == "text"
    t3 = m[1]["content"][1]["text"]
    assert "0-1000" in t3 and '"bbox_2d"' in t3 and "<think>" not in t3
    assert "1.5x" in t3 and "knee, elbow, wrist or ankle" in t3 and "inside medium" in t3
    assert "text-to-image prompt" in t3
    t25 = task_text(family="qwen2_5_vl", image_size=RESIZED)
    assert "absolute pixels" in t25 and "812x532" in t25 and "0-1000" not in t25
    tr = task_text('focus on the "product" in her hand', reasoning=True,
                   aspects={"establishing": "16:9", "medium": "4:5", "close_up": "1:1"})
    assert "<think>" in tr and "focus on the 'product' in her hand" in tr
    assert "establishing 16:9" in tr and "close_up 1:1" in tr
    with pytest.raises(ShotCropError):
        build_messages(family="llava")


def test_retry_message() -> None:
    r = retry_message("missing close_up (need establishing, medium and close_up with bbox_2d)")
    assert "missing close_up" in r and "JSON" in r and "\n" not in r
    assert len(retry_message("x" * 5000)) < 500


def test_token_budgets_hold_a_full_answer() -> None:
    long_desc = ("A young woman in a denim apron smiles warmly while holding up a jar of golden "
                 "honey at a sunny market stall under striped awnings, bees and flowers around")
    worst = json.dumps({"shots": [{"shot": n, "bbox_2d": [100, 100, 1000, 1000],
                                   "description": long_desc} for n in SHOT_NAMES]})
    assert _estimate_tokens(worst) <= MAX_NEW_TOKENS
    capped = worst.replace(long_desc, "word " * 60)  # the parser's 300-character cap
    assert _estimate_tokens(capped) <= MAX_NEW_TOKENS
    assert MAX_NEW_TOKENS_REASONING >= MAX_NEW_TOKENS + 400
    assert parse_answer(worst, W, H, "qwen3_vl").descriptions["medium"].startswith("A young")
