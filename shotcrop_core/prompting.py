"""Turn a shot's description into a text-to-image prompt, with warnings instead of surprises.

Templates use `{description}`, `{shot}` and `{style}`. Substitution is one pass of a tiny regex,
never `str.format`: braces in descriptions or styles are plain text, unknown placeholders such as
`{foo}` stay as written (and are reported), and substituted text is never expanded again.
"""

from __future__ import annotations

import math
import re

from .describe import without_outpaint
from .shots import ShotSet, shot_name

SHOT_WORDS: dict[str, str] = {"establishing": "establishing shot", "medium": "medium shot",
                              "close_up": "close-up"}
#: CLIP reads 77 tokens including its start and end tokens: 75 for the text.
CLIP_TOKENS = 75
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def estimate_clip_tokens(text: str) -> int:
    """A conservative (high) estimate of CLIP BPE tokens: words * 1.3 + punctuation marks."""
    words = len(re.findall(r"[^\W_]+", text))
    punct = len(re.findall(r"[^\w\s]|_", text))
    return math.ceil(words * 1.3 + punct)


def _tidy(text: str) -> str:
    """Collapse whitespace and drop empty comma items left by empty placeholders."""
    text = " ".join(text.split())
    text = re.sub(r"\s*,(\s*,)+", ",", text)  # ", ," -> ","
    text = re.sub(r"\s+,", ",", text)
    return text.strip(" ,")


def shot_prompt(shots: ShotSet, shot: str, template: str = "{description}", style: str = "",
                prefix: str = "", suffix: str = "") -> tuple[str, list[str]]:
    """Fill `template` for one shot; returns (prompt, warnings).

    A non-empty `style` with no `{style}` in the template is appended after the body (before
    `suffix`), since the user clearly wants it. prefix, body and suffix are joined with ", ".
    """
    name = shot_name(shot)
    # What a prompt describes is the picture: the note that padding needs outpainting is not.
    desc = without_outpaint(shots[name].description).strip()
    template, style = str(template), str(style).strip()
    warnings: list[str] = []
    values = {"description": desc, "shot": SHOT_WORDS[name], "style": style}
    used = set(_PLACEHOLDER.findall(template))
    unknown = sorted(used - values.keys())
    if unknown:
        warnings.append(f"template placeholder(s) {', '.join('{' + u + '}' for u in unknown)} "
                        f"are unknown and were kept as text: use {{description}}, {{shot}} or "
                        f"{{style}}")
    if "description" in used and not desc:
        warnings.append(f"the {name} shot has no description: run the describe step or type one")
    body = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    parts = [prefix, body, style if style and "style" not in used else "", suffix]
    text = ", ".join(p for p in (_tidy(str(p)) for p in parts) if p)
    if not text:
        warnings.append("the prompt is empty: give a template, description, prefix or suffix")
    tokens = estimate_clip_tokens(text)
    if tokens > CLIP_TOKENS:
        warnings.append(f"the {name} prompt is about {tokens} CLIP tokens; CLIP reads only "
                        f"{CLIP_TOKENS} (77 with start/end) and drops the rest: shorten it, or "
                        f"use a text encoder with a longer window")
    return text, warnings
