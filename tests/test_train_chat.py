"""Training examples in the backend's prompt / answer contract: answers round-trip through the
backend's own parser in both families, prompts are the backend's, and a real (tiny) processor
renders the conversation with the answer as the last turn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from shotcrop_core.bench.tsc import parse_tsc
from shotcrop_core.errors import ShotCropError
from shotcrop_core.shots import SHOT_NAMES, Box
from shotcrop_core.train.chat import (answer_text, completion_text, draft_reasoning,
                                      example_messages, prompt_messages, resized_size)
from shotcrop_core.vlm.parse import parse_answer, split_thinking
from shotcrop_core.vlm.prompt import build_messages

ROOT = Path(__file__).resolve().parents[1]
W, H = 640, 425
SHOTS = {"establishing": (Box(0, 0, 640, 425), "A man leans on a post on a quiet street."),
         "medium": (Box(230, 60, 470, 400), "The man from head to thigh, hands in pockets."),
         "close_up": (Box(290, 70, 400, 200), "His face, calm and watchful.")}


def _sample(reasoning: str | None = None, annotator_reasoning: str | None = None):
    shots = {n: {"box": b.to_list(), "description": d} for n, (b, d) in SHOTS.items()}
    s = {"image": "street.jpg", "width": W, "height": H, "split": "train"}
    if annotator_reasoning is None:
        s["shots"] = shots
    else:
        s["annotations"] = [{"shots": shots, "reasoning": annotator_reasoning}]
    if reasoning is not None:
        s["reasoning"] = reasoning
    return parse_tsc({"format": "shotcrop-tsc", "version": 1, "samples": [s]}).samples[0]


def _close(a: Box, b: Box, tol: float) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a.to_list(), b.to_list()))


# -- the answer round-trips through the backend's parser ---------------------------------------
def test_qwen3_answer_is_the_contract_and_round_trips():
    text = answer_text(SHOTS, W, H, "qwen3_vl")
    doc = json.loads(text)  # strict JSON, nothing around it
    assert [s["shot"] for s in doc["shots"]] == list(SHOT_NAMES)
    assert list(doc["shots"][0]) == ["shot", "bbox_2d", "description"]  # ANSWER_FORMAT's order
    assert doc["shots"][0]["bbox_2d"] == [0, 0, 1000, 1000]
    assert all(0 <= v <= 1000 for s in doc["shots"] for v in s["bbox_2d"])
    parsed = parse_answer(text, W, H, "qwen3_vl")
    assert parsed.problems == () and parsed.convention == "grid"
    for n in SHOT_NAMES:
        assert _close(parsed.boxes[n], SHOTS[n][0], W / 1000 + 1)  # one grid step
        assert parsed.descriptions[n] == SHOTS[n][1]


def test_qwen25_answer_is_in_resized_pixels_and_round_trips():
    size = (812, 532)
    text = answer_text(SHOTS, W, H, "qwen2_5_vl", input_size=size)
    doc = json.loads(text)
    assert doc["shots"][0]["bbox_2d"] == [0, 0, 812, 532]
    parsed = parse_answer(text, W, H, "qwen2_5_vl", size)
    assert parsed.problems == () and parsed.convention == "resized"
    for n in SHOT_NAMES:
        assert _close(parsed.boxes[n], SHOTS[n][0], W / size[0] + 1)
    with pytest.raises(ShotCropError, match="input_size"):
        answer_text(SHOTS, W, H, "qwen2_5_vl")


def test_reasoning_goes_in_a_think_block_before_the_json():
    text = answer_text(SHOTS, W, H, "qwen3_vl", reasoning="Subject at centre.\nEyes 30% down.")
    assert text.startswith("<think>\nSubject at centre.\nEyes 30% down.\n</think>\n{")
    thinking, answer = split_thinking(text)
    assert thinking == "Subject at centre.\nEyes 30% down."
    assert json.loads(answer)["shots"][2]["shot"] == "close_up"
    parsed = parse_answer(text, W, H, "qwen3_vl")
    assert parsed.problems == () and parsed.thinking == thinking
    assert answer_text(SHOTS, W, H, "qwen3_vl", reasoning="  ") == answer_text(SHOTS, W, H,
                                                                                "qwen3_vl")


@settings(max_examples=150, deadline=None)
@given(st.integers(50, 4000), st.integers(50, 4000), st.sampled_from(["qwen3_vl", "qwen2_5_vl"]),
       st.lists(st.tuples(st.floats(0, 0.9), st.floats(0, 0.9), st.floats(0.05, 1.0),
                          st.floats(0.05, 1.0)), min_size=3, max_size=3))
def test_round_trip_within_one_step_for_any_box(w, h, family, rects):
    shots = {}
    for n, (fx, fy, fw, fh) in zip(SHOT_NAMES, rects):
        x0, y0 = int(fx * w), int(fy * h)
        x1, y1 = min(w, x0 + max(3, int(fw * w))), min(h, y0 + max(3, int(fh * h)))
        if x1 - x0 < max(3, 0.02 * w) or y1 - y0 < max(3, 0.02 * h):
            x0, y0, x1, y1 = 0, 0, w, h  # the parser rejects specks; the data never has them
        shots[n] = (Box(x0, y0, x1, y1), f"The {n} shot.")
    size = (max(28, w // 3 // 28 * 28), max(28, h // 3 // 28 * 28))
    text = answer_text(shots, w, h, family, input_size=size)
    parsed = parse_answer(text, w, h, family, size if family == "qwen2_5_vl" else None)
    step = (w / 1000, h / 1000) if family == "qwen3_vl" else (w / size[0], h / size[1])
    for n in SHOT_NAMES:
        got, want = parsed.boxes[n].to_list(), shots[n][0].to_list()
        for k in range(4):
            assert abs(got[k] - want[k]) <= step[k % 2] + 1, (n, got, want)


# -- prompts and examples ----------------------------------------------------------------------
def test_prompt_is_the_backends_prompt():
    assert prompt_messages("qwen3_vl") == build_messages(None, False, "qwen3_vl", None)
    # the backend tells qwen2_5_vl the resized size, never qwen3_vl
    assert prompt_messages("qwen2_5_vl", input_size=(812, 532), reasoning=True) == \
        build_messages(None, True, "qwen2_5_vl", None, image_size=(812, 532))
    assert prompt_messages("Qwen3-VL", input_size=(812, 532)) == build_messages(
        None, False, "qwen3_vl", None)
    told = prompt_messages("qwen2_5_vl", input_size=(812, 532))[1]["content"][1]["text"]
    assert "812x532" in told
    with_intent = prompt_messages("qwen3_vl", intent="the red hat", aspects="1:1")
    assert with_intent == build_messages("the red hat", False, "qwen3_vl", "1:1")


def test_example_is_prompt_plus_one_assistant_turn():
    msgs = example_messages(_sample(), "qwen3_vl")
    assert msgs[:-1] == prompt_messages("qwen3_vl")
    assert msgs[-1]["role"] == "assistant"
    text = msgs[-1]["content"][0]["text"]
    assert text == answer_text(SHOTS, W, H, "qwen3_vl")
    assert "<think>" not in text


def test_example_reasoning_uses_the_annotation_then_the_sample_then_a_draft():
    mine = example_messages(_sample("Sample says why.", "Annotator says why."), "qwen3_vl",
                            reasoning=True)
    assert mine[-1]["content"][0]["text"].startswith("<think>\nAnnotator says why.\n</think>\n")
    assert "First think step by step" in mine[1]["content"][1]["text"]  # the prompt asks for it
    sample_level = example_messages(_sample("Sample says why."), "qwen3_vl", reasoning=True)
    assert sample_level[-1]["content"][0]["text"].startswith("<think>\nSample says why.\n")
    drafted = example_messages(_sample(), "qwen3_vl", reasoning=True)[-1]["content"][0]["text"]
    thinking, _ = split_thinking(drafted)
    assert thinking == draft_reasoning(SHOTS, W, H)
    assert "his face, calm and watchful" in thinking  # the close-up description names the subject
    assert "Eye line" in thinking and "bottom edge" in thinking
    assert 20 <= len(thinking.split()) <= 150  # short: the prompt asks for under 150 words
    with pytest.raises(ShotCropError, match="annotation"):
        example_messages(_sample(), "qwen3_vl", annotation=1)


def test_drafted_reasoning_is_concrete_and_follows_the_boxes():
    text = draft_reasoning(SHOTS, W, H, intent="his face")
    assert "centre of the photo" in text  # close-up centre x = 345 / 640
    assert "his face, calm and watchful" in text  # the subject, from the close-up description
    assert "94% down" in text  # the medium's bottom edge: 400 / 425
    assert "keeps 100% of the photo" in text
    assert "The user asks for: his face." in text
    left = dict(SHOTS, close_up=(Box(10, 70, 120, 200), "Her face."))
    assert "left of the photo" in draft_reasoning(left, W, H)


# -- TRL completions ---------------------------------------------------------------------------
def test_completion_text_reads_every_shape_trl_passes():
    assert completion_text("abc") == "abc"
    assert completion_text([{"role": "assistant", "content": "abc"}]) == "abc"
    assert completion_text([{"role": "assistant",
                             "content": [{"type": "text", "text": "a"}, {"type": "text",
                                                                         "text": "bc"}]}]) == "abc"
    assert completion_text({"role": "assistant", "content": "x"}) == "x"
    withthink = completion_text([{"role": "assistant", "content": "{}",
                                  "reasoning_content": "why"}])
    assert withthink == "<think>\nwhy\n</think>\n{}"
    for junk in (None, 5, [], [None], [{"role": "assistant", "content": None}], {"x": 1}):
        assert completion_text(junk) == ""


# -- a real (tiny) processor -------------------------------------------------------------------
@pytest.fixture(scope="module")
def processors(tmp_path_factory):
    pytest.importorskip("torch")
    from transformers import AutoProcessor

    from tiny_vlm import build_tiny_qwen25_vl, build_tiny_qwen3_vl

    root = tmp_path_factory.mktemp("tiny_chat")
    return {"qwen3_vl": AutoProcessor.from_pretrained(build_tiny_qwen3_vl(root / "q3")),
            "qwen2_5_vl": AutoProcessor.from_pretrained(build_tiny_qwen25_vl(root / "q25"))}


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_chat_template_renders_the_example_with_the_answer_last(processors, family, data_dir):
    from PIL import Image

    from shotcrop_core.vlm.loading import input_sizes

    proc = processors[family]
    image = Image.open(data_dir / "000000234748.jpg").convert("RGB")
    size = resized_size(proc, image)
    assert resized_size(proc, image.size) == size  # only the size matters
    msgs = example_messages(_sample(), family, input_size=size, reasoning=True)
    full = proc.apply_chat_template(msgs, tokenize=False)
    prompt = proc.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
    answer = msgs[-1]["content"][0]["text"]
    assert full.startswith(prompt)  # the prompt/completion split SFT relies on
    assert full[len(prompt):].rstrip() == answer + "<|im_end|>"
    # the size stated to qwen2_5_vl is what the model is really given
    inputs = proc(text=[prompt], images=[image], return_tensors="pt")
    assert input_sizes(proc, inputs["image_grid_thw"])[0] == size
    parsed = parse_answer(answer, W, H, family, size if family == "qwen2_5_vl" else None)
    assert parsed.problems == ()


def test_importing_the_training_data_modules_stays_light():
    code = ("import sys, shotcrop_core.train as t, shotcrop_core.train.chat, "
            "shotcrop_core.train.rewards, shotcrop_core.train.data, shotcrop_core.train.evaluate\n"
            "t.answer_text\n"
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft') if m in sys.modules]\n"
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_resized_size_follows_the_processor_without_running_it(processors, family):
    from shotcrop_core.train import chat

    proc = processors[family]
    tiny = proc.image_processor.size
    sizes = [(640, 425), (4000, 3000), (3000, 4000), (90, 2000), (33, 47), (1000, 1000)]
    try:
        for bounds in (None, {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 1280}):
            if bounds:  # the real checkpoints' pixel bounds
                proc.image_processor.size = bounds
            for w, h in sizes:
                assert chat.resized_size(proc, (w, h)) == chat._processor_size(proc, w, h)
    finally:
        proc.image_processor.size = tiny
    assert chat._RULE_CHECKED[proc] is True  # after one check, the rule alone answers


def test_training_prompt_without_aspects_is_the_default_inference_prompt():
    """A model trained with `aspects: null` gets the very same prompt from `shotcrop compose
    --engine vlm` with no --aspect (every shot at the photo's own aspect)."""
    from shotcrop_core.framing import FramingOptions
    from shotcrop_core.train.chat import prompt_messages
    from shotcrop_core.vlm.prompt import build_messages

    default = FramingOptions().aspects
    for family in ("qwen3_vl", "qwen2_5_vl"):
        assert prompt_messages(family) == build_messages(None, False, family, default)
    asked = build_messages(None, False, "qwen3_vl", "16:9")
    assert "16:9" in asked[1]["content"][1]["text"]
