"""Training examples in the VLM backend's own prompt / answer contract.

The prompt is `vlm.prompt.build_messages` verbatim (what the backend sends at inference), and the
target is the answer `vlm.parse.parse_answer` reads best: the compact JSON of `ANSWER_FORMAT`,
boxes in the family's convention, optionally after a `<think>` block. Training on anything else
would teach the model a format the backend then has to repair.

No torch here: `resized_size` runs the processor once per processor (which may import it),
everything else is plain Python.
"""

from __future__ import annotations

import json
import re
import weakref
from typing import Any, Mapping

from ..bench.tsc import TscSample
from ..errors import ShotCropError
from ..shots import SHOT_NAMES, Box
from ..vlm.prompt import build_messages, normalize_family

#: Grid of qwen3_vl boxes (0-1000 relative to the image).
GRID = 1000


# -- the answer --------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip()


def _family_box(box: Box, width: int, height: int, family: str,
                input_size: tuple[int, int] | None) -> list[int]:
    """The box in the numbers the family answers in; never collapsed to zero width."""
    if family == "qwen3_vl":
        bw, bh = GRID, GRID
    else:
        if input_size is None:
            raise ShotCropError("qwen2_5_vl answers are pixels of the processor-resized image: "
                                "pass input_size=(w, h) (see train.chat.resized_size)")
        bw, bh = (int(v) for v in input_size)
    x0, y0 = round(box.x0 * bw / width), round(box.y0 * bh / height)
    x1, y1 = round(box.x1 * bw / width), round(box.y1 * bh / height)
    return [x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)]


def answer_text(shots: Mapping[str, tuple[Box, str]], width: int, height: int, family: str,
                input_size: tuple[int, int] | None = None, reasoning: str | None = None) -> str:
    """The assistant's answer for three (box, description) shots in source pixels.

    `{"shots": [{"shot", "bbox_2d", "description"} x 3]}` in ANSWER_FORMAT's key order and
    spacing; boxes on the 0-1000 grid (qwen3_vl) or in pixels of `input_size` (qwen2_5_vl).
    With `reasoning`: `"<think>\\n...\\n</think>\\n"` before the JSON.
    """
    fam = normalize_family(family)
    missing = [n for n in SHOT_NAMES if n not in shots]
    if missing:
        raise ShotCropError(f"answer_text needs all three shots; missing {', '.join(missing)}")
    entries = []
    for name in SHOT_NAMES:
        box, desc = shots[name]
        entries.append({"shot": name,
                        "bbox_2d": _family_box(box, int(width), int(height), fam, input_size),
                        "description": _one_line(desc)})
    text = json.dumps({"shots": entries}, ensure_ascii=False)
    # Think tags inside the text would end the block early and hide the answer from the parser.
    think = re.sub(r"<\s*/?\s*think\s*>", " ", reasoning or "").strip()
    if think:
        return f"<think>\n{think}\n</think>\n{text}"
    return text


# -- drafted reasoning -------------------------------------------------------------------------
def _pct(v: float, size: int) -> int:
    return round(100 * v / size)


def _side(cx: float, width: int) -> str:
    t = cx / width
    return "left" if t < 0.38 else "right" if t > 0.62 else "centre"


def _clause(desc: str, limit: int = 90) -> str:
    """The description's first clause, lower-cased at the start, for use inside a sentence."""
    t = _one_line(desc).rstrip(".")
    t = re.split(r"[.;]\s", t, maxsplit=1)[0]
    if len(t) > limit:
        t = t[:limit].rsplit(" ", 1)[0]
    # "A woman ..." -> "a woman ..." inside a sentence; "NYC street" keeps its capitals.
    return t[:1].lower() + t[1:] if len(t) > 1 and (t[1].islower() or t[1] == " ") else t


def draft_reasoning(shots: Mapping[str, tuple[Box, str]], width: int, height: int,
                    intent: str | None = None) -> str:
    """A short think text for a sample that has none, from its boxes and descriptions only.

    It follows the prompt's REASONING order (subject, eye line, edges, setting, intent) in
    percentages of the photo, so the same text serves both families. Without landmarks the eye
    line is the grammar's target (about a third down the close-up), stated as a plan, not as
    a measurement.
    """
    W, H = int(width), int(height)
    (cu, cu_d), (med, med_d), (est, est_d) = (shots[n] for n in ("close_up", "medium",
                                                                "establishing"))
    eye = cu.y0 + 0.33 * cu.h
    lines = [
        f"Subject: {_clause(cu_d) or 'the main person'}; {_side(cu.center[0], W)} of the photo, "
        f"head and shoulders {_pct(cu.y0, H)}-{_pct(cu.y1, H)}% down.",
        f"Eye line near {_pct(eye, H)}% down: the close-up's top edge goes above the forehead "
        f"({_pct(cu.y0, H)}%), its bottom below the chin ({_pct(cu.y1, H)}%), sides at "
        f"{_pct(cu.x0, W)}% and {_pct(cu.x1, W)}% across.",
        f"Medium: {_clause(med_d) or 'the subject from the head down'}; bottom edge at "
        f"{_pct(med.y1, H)}% down, between joints, sides at {_pct(med.x0, W)}% and "
        f"{_pct(med.x1, W)}%.",
        f"Setting: {_clause(est_d) or 'the scene around the subject'}; the establishing shot "
        f"keeps {_pct(est.area, W * H)}% of the photo and holds the other two.",
    ]
    if intent and intent.strip():
        lines.append(f"The user asks for: {_one_line(intent)[:120]}.")
    return "\n".join(lines)


# -- messages ----------------------------------------------------------------------------------
def prompt_messages(family: str, *, input_size: tuple[int, int] | None = None,
                    reasoning: bool = False, aspects: Any = None,
                    intent: str | None = None) -> list[dict]:
    """The prompt alone, exactly as the VLM backend sends it (image size told to qwen2_5_vl)."""
    fam = normalize_family(family)
    size = tuple(int(v) for v in input_size) if fam == "qwen2_5_vl" and input_size else None
    return build_messages(intent, reasoning, fam, aspects, image_size=size)


def sample_shots(sample: TscSample, annotation: int = 0) -> dict[str, tuple[Box, str]]:
    """{shot: (box, description)} of one annotator of a TSC sample."""
    if not 0 <= annotation < len(sample.annotations):
        raise ShotCropError(f"sample {sample.index} ({sample.image}) has "
                            f"{len(sample.annotations)} annotation(s); there is no #{annotation}")
    a = sample.annotations[annotation]
    return {n: (a.shots[n].box, a.shots[n].description) for n in SHOT_NAMES}


def sample_reasoning(sample: TscSample, annotation: int = 0, intent: str | None = None) -> str:
    """The annotator's reasoning, else the sample's, else one drafted from the boxes and
    descriptions (never empty)."""
    a = sample.annotations[annotation] if 0 <= annotation < len(sample.annotations) else None
    for text in ((a.reasoning if a else None), sample.reasoning):
        if text and text.strip():
            return text.strip()
    return draft_reasoning(sample_shots(sample, annotation), sample.width, sample.height, intent)


def example_messages(sample: TscSample, family: str, *, input_size: tuple[int, int] | None = None,
                     reasoning: bool = False, annotation: int = 0, aspects: Any = None,
                     intent: str | None = None) -> list[dict]:
    """Prompt + one assistant turn holding `answer_text` of the sample's `annotation`."""
    fam = normalize_family(family)
    shots = sample_shots(sample, annotation)
    think = sample_reasoning(sample, annotation, intent) if reasoning else None
    text = answer_text(shots, sample.width, sample.height, fam, input_size, think)
    return prompt_messages(fam, input_size=input_size, reasoning=reasoning, aspects=aspects,
                           intent=intent) + [
        {"role": "assistant", "content": [{"type": "text", "text": text}]}]


# -- completions from TRL ----------------------------------------------------------------------
_THINK_KEYS = ("reasoning_content", "thinking", "reasoning")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "".join(p.get("text") or "" if isinstance(p, dict) else p if isinstance(p, str)
                       else "" for p in content)
    return ""


def _message_text(m: Any) -> str:
    if not isinstance(m, dict):
        return _content_text(m)
    text = _content_text(m.get("content"))
    think = next((m[k] for k in _THINK_KEYS if isinstance(m.get(k), str) and m[k].strip()), None)
    return f"<think>\n{think.strip()}\n</think>\n{text}" if think else text


def completion_text(completion: Any) -> str:
    """The raw answer text of one completion as TRL passes it to reward functions.

    Plain prompts give a string; conversational prompts give `[{"role": "assistant",
    "content": str | [parts]}]` (a response parser may move the think block to
    `reasoning_content`, which is put back in front). Anything else reads as "".
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _message_text(completion)
    if isinstance(completion, (list, tuple)):
        msgs = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in msgs if m.get("role", "assistant") == "assistant"]
        return "".join(_message_text(m) for m in (assistant or msgs))
    return ""


# -- the processor's resize --------------------------------------------------------------------
#: processor -> whether its resize rule was confirmed against a real processor call
_RULE_CHECKED: "weakref.WeakKeyDictionary[Any, bool]" = weakref.WeakKeyDictionary()


def _processor_size(processor: Any, w: int, h: int) -> tuple[int, int]:
    """The size the processor really gives: run it on a blank image of that size (slow for
    large photos: about 1 s at 24 MP)."""
    from PIL import Image

    from ..vlm.loading import input_sizes

    grid = processor.image_processor(images=[Image.new("RGB", (w, h))],
                                     return_tensors="pt")["image_grid_thw"]
    return input_sizes(processor, grid)[0]


def _rule_size(processor: Any, w: int, h: int) -> tuple[int, int] | None:
    """The same size from Qwen2-VL's resize rule (`smart_resize`) and the processor's settings,
    without touching pixels; None when the settings are not the ones that rule reads."""
    ip = getattr(processor, "image_processor", None)
    try:
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

        if getattr(ip, "do_resize", True) is False:
            return None
        factor = int(ip.patch_size) * int(ip.merge_size)
        size = ip.size if isinstance(ip.size, Mapping) else vars(ip.size)
        lo = getattr(ip, "min_pixels", None) or size.get("min_pixels") or size["shortest_edge"]
        hi = getattr(ip, "max_pixels", None) or size.get("max_pixels") or size["longest_edge"]
        rh, rw = smart_resize(int(h), int(w), factor=factor, min_pixels=int(lo),
                              max_pixels=int(hi))
        return int(rw), int(rh)
    except Exception:  # noqa: BLE001 - another processor layout or version: use the processor
        return None


def resized_size(processor: Any, image: Any) -> tuple[int, int]:
    """(w, h) of the image as the processor hands it to the model (Qwen2.5-VL boxes are pixels
    of this). `image` is a PIL image or a (width, height) pair: only the size matters.

    Computed from the processor's resize rule (datasets hold thousands of photos, and running
    the processor costs about a second per large one); the first call per processor also runs
    the processor itself and keeps using it if the two ever disagree.
    """
    w, h = (int(v) for v in (image if isinstance(image, (tuple, list)) else image.size))
    fast = _rule_size(processor, w, h)
    try:
        checked = _RULE_CHECKED.get(processor)
    except TypeError:  # not weak-referenceable: check every call
        checked = None
    if fast is not None and checked:
        return fast
    real = _processor_size(processor, w, h)
    if checked is None:
        try:
            _RULE_CHECKED[processor] = fast == real
        except TypeError:
            pass
    return real


__all__ = ["GRID", "answer_text", "completion_text", "draft_reasoning", "example_messages",
           "prompt_messages", "resized_size", "sample_reasoning", "sample_shots"]
