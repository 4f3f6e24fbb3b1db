"""The one prompt ShotCrop sends a Qwen VL model, and the answer contract it asks for.

All prompt text lives here. The answer is a compact JSON object with three shots; `parse.py`
reads it (tolerantly) and the backend repairs the boxes with the shot grammar afterwards, so the
prompt states the grammar compactly rather than exhaustively.
"""

from __future__ import annotations

import re

from ..aspect import parse_aspect_spec
from ..errors import ShotCropError

FAMILIES: tuple[str, ...] = ("qwen3_vl", "qwen2_5_vl")

# Token budgets. Qwen tokenizers split numbers into single digits, so one shot costs about
# 40 tokens of JSON skeleton (keys, name, 4 boxes of up to 4 digits) plus its description
# (asked <= 30 words, ~40 tokens; the parser's 300-char cap is ~70). 3 x (40 + 70) + 10 = 340
# in the worst case, ~240 typically: 384 leaves room without letting a rambling answer run long.
MAX_NEW_TOKENS = 384
# The think stage is asked to stay under ~150 words (~200 tokens); models overshoot that 2-3x,
# so allow 640 tokens of thinking on top of the answer. A think block cut short by the budget
# fails to parse and takes the retry / framing-engine path.
MAX_NEW_TOKENS_REASONING = MAX_NEW_TOKENS + 640

MAX_INTENT_CHARS = 300

SYSTEM = ("You are an experienced cinematographer and art director. You plan crops of a photo "
          "as a shot sequence and answer with compact JSON only.")

GRAMMAR = """\
Plan three crops of this photo as an establishing / medium / close-up sequence around its main \
subject (the most prominent person: size, centrality, visible face; if nobody is visible, the \
most salient subject).
- establishing: wide shot; the whole subject with room around it plus the setting that tells \
where we are; at least 1.5x the area of the medium shot; subject on a thirds line with lead room \
toward the gaze or motion. If the photo is already tight, use (nearly) the whole photo. With \
several people, keep the whole group.
- medium: waist-up to knee-up (cowboy, mid-thigh); the face and both shoulders; eyes 20-45% \
from the top edge; feet outside.
- close_up: head and shoulders; the whole face with the forehead; bottom edge below the chin and \
above mid-chest; eyes 20-45% from the top edge; look room on the side the face turns to.
Rules: no edge may cross a knee, elbow, wrist or ankle: cut mid-limb (mid-thigh, mid-shin, upper \
arm, forearm). Never cut through the chin or the eyes, nor the fingers of a hand holding an \
object. Nesting: close_up inside medium inside establishing. All boxes inside the image."""

CONVENTION = {
    "qwen3_vl": ("Coordinates: bbox_2d is [x1, y1, x2, y2], the top-left and bottom-right "
                 "corners as integers on a 0-1000 grid relative to the image ([0, 0] top-left, "
                 "[1000, 1000] bottom-right)."),
    "qwen2_5_vl": ("Coordinates: bbox_2d is [x1, y1, x2, y2], the top-left and bottom-right "
                   "corners as integers in absolute pixels of the image as given to you "
                   "([0, 0] top-left){size}."),
}

DESCRIBE = ("Each description: one sentence (at most 30 words) that also works as a "
            "text-to-image prompt: what the shot shows and conveys (setting, subject and "
            "action, emotion or detail) in concrete visual words; no coordinates, no "
            "mention of boxes or crops.")

ANSWER_FORMAT = (
    'Answer with this JSON and nothing else (no markdown, no comments):\n'
    '{"shots": [{"shot": "establishing", "bbox_2d": [x1, y1, x2, y2], "description": "..."}, '
    '{"shot": "medium", "bbox_2d": [x1, y1, x2, y2], "description": "..."}, '
    '{"shot": "close_up", "bbox_2d": [x1, y1, x2, y2], "description": "..."}]}')

REASONING = ("First think step by step inside <think>...</think>, briefly (under 150 words): "
             "where the main subject is; its eye line, chin, shoulders, waist and knees; which "
             "joints an edge must avoid; what the setting is; what the user asks. Then give "
             "the JSON.")

INTENT = ('User intent: "{intent}". Follow it where it does not break the rules above; it may '
          'move the close_up onto a detail it names (for example a product in a hand) instead '
          'of the face.')

RETRY = ("Your answer could not be used: {error}. Answer again with only the JSON object in "
         "the format asked: three shots (establishing, medium, close_up), each with bbox_2d "
         "[x1, y1, x2, y2] and a one-sentence description.")


def normalize_family(family: str) -> str:
    """'qwen3_vl' / 'qwen2_5_vl' from spellings like 'Qwen3-VL' or 'qwen2.5-vl'."""
    key = re.sub(r"[^a-z0-9]", "", str(family).lower())
    if key.startswith("qwen3"):
        return "qwen3_vl"
    if key.startswith(("qwen25", "qwen2_5")):
        return "qwen2_5_vl"
    raise ShotCropError(f"unknown VLM family {family!r}: use one of {', '.join(FAMILIES)}")


def _one_line(text: str, limit: int) -> str:
    # The intent and errors are pasted into the prompt: keep them one short line, no quotes
    # that would end the quoted span early.
    t = re.sub(r"\s+", " ", str(text)).strip().replace('"', "'")
    return t[:limit].rstrip()


def _aspect_text(aspects: dict | str) -> str:
    spec = parse_aspect_spec(aspects)
    # The default (every shot at the photo's own aspect, which refine enforces anyway) and free
    # shapes add no line, so the prompt a model was trained on without aspects (train/chat.py)
    # is the prompt it gets at inference by default.
    if all(a in ("free", "original") for a in spec.values()):
        return ""
    said = {"original": "the photo's aspect ratio", "free": "any shape"}
    if len(set(spec.values())) == 1:
        a = next(iter(spec.values()))
        return f"Aspect ratio of every shot: {said.get(a, a + ' (width:height)')}."
    parts = [f"{n} {said.get(a, a + ' (width:height)')}" for n, a in spec.items()]
    return "Aspect ratios: " + "; ".join(parts) + "."


def task_text(intent: str | None = None, reasoning: bool = False, family: str = "qwen3_vl",
              aspects: dict | str | None = None,
              image_size: tuple[int, int] | None = None) -> str:
    """The user turn's text (see `build_messages`)."""
    fam = normalize_family(family)
    size = f"; the image is {image_size[0]}x{image_size[1]} pixels" if image_size else ""
    parts = [GRAMMAR]
    if aspects:
        parts.append(_aspect_text(aspects))
    if intent and intent.strip():
        parts.append(INTENT.format(intent=_one_line(intent, MAX_INTENT_CHARS)))
    parts += [CONVENTION[fam].format(size=size), DESCRIBE]
    if reasoning:
        parts.append(REASONING)
    parts.append(ANSWER_FORMAT)
    return "\n".join(p for p in parts if p)


def build_messages(intent: str | None = None, reasoning: bool = False, family: str = "qwen3_vl",
                   aspects: dict | str | None = None, *,
                   image_size: tuple[int, int] | None = None) -> list[dict]:
    """Chat messages for `processor.apply_chat_template`: a system turn, and a user turn with an
    image placeholder and the task.

    `image_size` (the processor-resized w, h) is stated for qwen2_5_vl, whose boxes are in those
    pixels; without it the model still answers in the pixels it sees.
    """
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
        {"role": "user", "content": [
            {"type": "image"},
            {"type": "text", "text": task_text(intent, reasoning, family, aspects, image_size)},
        ]},
    ]


def retry_message(error: str) -> str:
    """The follow-up user text after an unusable answer (the backend adds it after that answer)."""
    return RETRY.format(error=_one_line(error, 200).rstrip(".") or "no valid JSON")


__all__ = ["FAMILIES", "MAX_NEW_TOKENS", "MAX_NEW_TOKENS_REASONING", "build_messages",
           "normalize_family", "retry_message", "task_text"]
