"""Reading a VLM's shot plan: tolerant of how models really answer, and never executing it.

The answer contract (see `prompt.py`) is `{"shots": [{"shot", "bbox_2d", "description"} x 3]}`.
Models wrap it in think blocks, code fences and chatter, use single quotes, trailing commas,
Python literals, other key names and shot labels, or answer a dict keyed by shot. Reading goes:

1. split off the think block (Qwen3 "Thinking" templates open it in the prompt, so the answer
   often holds only a stray `</think>`; an unclosed `<think>` may hold the answer itself);
2. find balanced `{...}` / `[...]` spans in one linear pass (strings skipped);
3. decode each span with `json`, else with a small hand-written tolerant reader (depth- and
   size-limited; no eval, no ast) -- steps 2 and 3 are `lenient_json`'s;
4. collect shot entries anywhere in the decoded values, first valid one per shot wins;
5. pick one coordinate convention for the whole answer (see `_convention`) and convert to source
   pixels, reordering swapped corners and clamping to the image.

Anything that leaves no usable triple raises `AnswerError` with a short reason, which the backend
shows the model when it asks once more.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ShotCropError
from ..shots import SHOT_KEYS, SHOT_NAMES, Box, Shot, ShotSet, Subject
from .lenient_json import MAX_DEPTH, NUMBER, LenientJSONError, decode, find_spans
from .prompt import normalize_family


class AnswerError(ShotCropError):
    """The model's answer holds no usable establishing / medium / close-up triple."""


# Size limits keep every step linear-ish on adversarial input.
MAX_TEXT_CHARS = 100_000      # whole answer (the JSON sits at the end: the tail is kept)
MAX_SPAN_CHARS = 8_000        # one JSON candidate (a full answer is ~1k)
MAX_SPANS = 64                # decode attempts per region
MAX_DESCRIPTION = 300
MAX_THINKING = 4_000
#: A syntax-only note: kept in `problems`, left out of the shot set's user-facing warnings.
REPAIRED = "answer was not strict JSON; repaired"
# Boxes thinner than this share of the image side are degenerate (a point, a line).
MIN_SIDE = 0.01


@dataclass(frozen=True)
class ParsedShots:
    """Three boxes in source pixels (inside the image, non-empty) with cleaned descriptions."""

    boxes: dict[str, Box]
    descriptions: dict[str, str]
    problems: tuple[str, ...] = ()
    #: How the model's numbers were read: "grid" (0-1000), "resized" (pixels of the processor's
    #: resized image), "source" (pixels of the photo) or "normalized" (0-1).
    convention: str = "grid"
    thinking: str = ""


# -- 1. think blocks and special tokens ------------------------------------------------------
_THINK_OPEN = re.compile(r"<\s*think\s*>", re.I)
_THINK_CLOSE = re.compile(r"<\s*/\s*think\s*>", re.I)
_SPECIAL = re.compile(r"<\|[^|<>\n]{0,40}\|>")


def split_thinking(text: str) -> tuple[str, str]:
    """(thinking, answer) of a raw answer."""
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:  # everything before the last </think> is thinking, opened or not
        thinking, answer = text[:closes[-1].start()], text[closes[-1].end():]
    else:
        m = _THINK_OPEN.search(text)
        thinking, answer = (text[m.end():], text[:m.start()]) if m else ("", text)
    thinking = _THINK_CLOSE.sub(" ", _THINK_OPEN.sub(" ", thinking)).strip()
    return thinking, _THINK_OPEN.sub(" ", answer)


# -- 4. shot entries ---------------------------------------------------------------------------
#: The names users may type (shots.SHOT_KEYS), plus the looser labels models write; keys are
#: letters only, as `answer_shot_name` reduces a label to them.
_ALIASES = {
    **SHOT_KEYS,
    **dict.fromkeys(("establish", "ws", "long", "full", "fullbody", "extremewide", "ews", "els",
                     "verywide", "master", "wideangle"), "establishing"),
    **dict.fromkeys(("mid", "mediumlong", "mls", "mediumwide", "mws", "cowboy", "american",
                     "waistup", "halfbody", "mediumfull", "midshot"), "medium"),
    **dict.fromkeys(("close", "mcu", "mediumcloseup", "ecu", "extremecloseup",
                     "headandshoulders", "headshot", "head", "detail", "tight", "closeupshot"),
                    "close_up"),
}
_NAME_KEYS = ("shot", "shot_type", "type", "name", "label", "scale", "kind")
_BOX_KEYS = ("bbox_2d", "bbox", "box", "box_2d", "bounding_box", "bbox2d", "coords",
             "coordinates", "xyxy")
_DESC_KEYS = ("description", "desc", "caption", "prompt", "text", "sentence")
_CORNER_KEYS = (("x1", "y1", "x2", "y2"), ("xmin", "ymin", "xmax", "ymax"),
                ("x_min", "y_min", "x_max", "y_max"), ("left", "top", "right", "bottom"))


def answer_shot_name(raw: Any) -> str | None:
    """'Close Up', 'close-up', 'CU', 'wide', 'establishing shot' ... -> a SHOT_NAMES entry."""
    if not isinstance(raw, str) or len(raw) > 60:
        return None
    t = re.sub(r"[^a-z]+", " ", raw.lower())
    t = re.sub(r"\b(?:shot|shots|crop|frame|framing|view|the|a|an)\b", " ", t)
    return _ALIASES.get(t.replace(" ", ""))


@dataclass
class _Entry:
    name: str | None
    box: Any
    desc: Any
    label: Any = None


def _get(d: dict, keys: tuple[str, ...]) -> Any:
    low = {str(k).strip().lower(): v for k, v in d.items()}
    for k in keys:
        if k in low:
            return low[k]
    return None


def _entry_from_dict(d: dict, name: str | None) -> _Entry | None:
    box = _get(d, _BOX_KEYS)
    if box is None:
        box = next((d for keys in _CORNER_KEYS if all(k in d for k in keys)), None)
    if box is None:
        return None
    label = None
    if name is None:
        for k in _NAME_KEYS:
            v = _get(d, (k,))
            if v is not None:
                label = label if label is not None else v
                if answer_shot_name(v):
                    name = answer_shot_name(v)
                    break
    return _Entry(name, box, _get(d, _DESC_KEYS), label)


def collect_entries(v: Any, depth: int = 0, out: list[_Entry] | None = None) -> list[_Entry]:
    """Shot entries anywhere in a decoded value: a list of shot objects, a dict keyed by shot
    name, a {"shots": ...} wrapper, or a single shot object."""
    out = [] if out is None else out
    if depth > MAX_DEPTH or len(out) > 32:
        return out
    if isinstance(v, dict):
        e = _entry_from_dict(v, None)
        if e is not None:
            out.append(e)
            return out
        for k, val in v.items():
            name = answer_shot_name(k)
            if name and isinstance(val, dict):
                e = _entry_from_dict(val, name)
                if e is not None:
                    out.append(e)
                    continue
            if name and _box_values(val) is not None:  # {"medium": [x1, y1, x2, y2]}
                out.append(_Entry(name, val, None))
                continue
            collect_entries(val, depth + 1, out)
    elif isinstance(v, list):
        for item in v[:32]:
            collect_entries(item, depth + 1, out)
    return out


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, str):
        m = NUMBER.fullmatch(v.strip()) if len(v) <= 40 else None
        v = m.group() if m else None
    try:
        f = float(v) if v is not None else None
    except (TypeError, ValueError, OverflowError):
        return None
    return f if f is not None and math.isfinite(f) else None


def _box_values(raw: Any) -> list[float] | None:
    """4 finite numbers from [x1, y1, x2, y2], [[x1, y1], [x2, y2]], "x1, y1, x2, y2" or
    {"x1": ...}; None when it is none of those."""
    if isinstance(raw, dict):
        keys = next((ks for ks in _CORNER_KEYS if all(k in raw for k in ks)), None)
        raw = [raw[k] for k in keys] if keys else None
    elif isinstance(raw, str):
        raw = NUMBER.findall(raw) if len(raw) <= 200 else None
    if isinstance(raw, (list, tuple)) and len(raw) == 2 and all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in raw):
        raw = [*raw[0], *raw[1]]  # Qwen2-style corner pairs
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        return None
    vals = [_num(x) for x in raw]
    return None if any(x is None for x in vals) else vals  # type: ignore[return-value]


# -- 5. coordinates ----------------------------------------------------------------------------
def _fits(mx: float, my: float, w: float, h: float) -> bool:
    # Models overshoot the far edge a little (1003 on the grid, w + 2 px): allow 3% + 2.
    return mx <= w * 1.03 + 2 and my <= h * 1.03 + 2


def _convention(vals: list[list[float]], family: str, W: int, H: int,
                resized: tuple[int, int] | None) -> str:
    """One convention for the whole answer (a model does not mix them within one answer).

    - every value <= 1.0: normalised 0-1 (on the grid or in pixels such a box would be a
      speck no model proposes as a shot);
    - qwen3_vl: the 0-1000 grid; values past it are pixels, of the resized image when they fit
      it, else of the source photo;
    - qwen2_5_vl: pixels of the resized image; values past it that fit 0-1000 are the grid
      (a model trained on both conventions), else source pixels.
    Whatever fits nothing is read in the family's own convention and clamped.
    """
    mx = max(max(v[0], v[2]) for v in vals)
    my = max(max(v[1], v[3]) for v in vals)
    if max(mx, my) <= 1.0:
        return "normalized"
    order = (("grid", "resized", "source") if family == "qwen3_vl"
             else ("resized", "grid", "source"))
    if resized is None:  # the model saw the photo as is
        order = tuple(dict.fromkeys(c.replace("resized", "source") for c in order))
    size = {"grid": (1000, 1000), "resized": resized, "source": (W, H)}
    for conv in order:
        if _fits(mx, my, *size[conv]):
            return conv
    return order[0]


def _to_box(v: list[float], conv: str, W: int, H: int, resized: tuple[int, int] | None,
            name: str, problems: list[str]) -> Box:
    bw, bh = {"grid": (1000, 1000), "normalized": (1, 1), "resized": resized}.get(conv) or (W, H)
    x0, y0, x1, y1 = v[0] * W / bw, v[1] * H / bh, v[2] * W / bw, v[3] * H / bh
    if x1 < x0 or y1 < y0:
        problems.append(f"{name}: corners were swapped; reordered")
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
    if x0 < -0.5 or y0 < -0.5 or x1 > W + 0.5 or y1 > H + 0.5:
        problems.append(f"{name}: box reached outside the image; clamped")
    ix0, iy0, ix1, iy1 = (int(math.floor(min(max(a, 0.0), b) + 0.5))
                          for a, b in ((x0, W), (y0, H), (x1, W), (y1, H)))
    if ix1 - ix0 < max(2, MIN_SIDE * W) or iy1 - iy0 < max(2, MIN_SIDE * H):
        raise AnswerError(f"{name} box {[round(x, 1) for x in v]} is empty or degenerate "
                          f"inside the image")
    return Box(ix0, iy0, ix1, iy1)


# -- descriptions ------------------------------------------------------------------------------
# A label ends at a colon, or at a dash / equals sign with spaces around it ("Close-up - ...").
_DELIM = r"(?:\s*:\s*|\s+[-=\u2013\u2014]\s+)"
_PREFIX = re.compile(
    r"^\s*(?:(?:sure|okay|ok|certainly|of course|alright)\b[,.!]?\s*"
    r"|here(?:'s| is)\b[^:\n]{0,60}:\s*"
    r"|(?:shot\s+)?(?:description|desc|caption|prompt|sentence)" + _DELIM +
    r"|(?:the\s+)?(?:establishing|medium|close[\s_-]?up|wide|cu|ms)(?:\s+shot)?" + _DELIM + ")",
    re.I)
_MARKDOWN = re.compile(r"(^\s*[-*>]\s+|\*+|__|`+|^#+\s*|\[/?[a-z]+\])", re.M)
_QUOTES = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb"
_ABBREV = re.compile(r"\b(?:mr|mrs|ms|dr|st|vs|etc|e\.g|i\.e|no|jr|sr)\.$", re.I)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z\u201c\"(])")


def clean_description(raw: Any) -> str:
    """One clean sentence, usable as a diffusion prompt: no think blocks, markdown, quotes,
    labels or chatter; whitespace collapsed; at most MAX_DESCRIPTION characters."""
    if isinstance(raw, (list, tuple)):
        raw = " ".join(x for x in raw if isinstance(x, str))
    if not isinstance(raw, str):
        return ""
    t = raw[:4 * MAX_DESCRIPTION + 2000]
    _, t = split_thinking(t)
    t = _SPECIAL.sub(" ", t)
    t = re.sub(r"<[^<>\n]{0,40}>", " ", t)          # stray tags
    t = "".join(ch if ch.isprintable() else " " for ch in t)
    t = _MARKDOWN.sub("", t)
    t = re.sub(r"\s+", " ", t).strip()
    for _ in range(4):  # "Sure! Description: Close-up: ..." peels one layer at a time
        t2 = _PREFIX.sub("", t, count=1).strip().strip(_QUOTES).strip()
        if t2 == t:
            break
        t = t2
    for m in _SENTENCE_END.finditer(t):  # the first sentence (not after an abbreviation)
        if m.start() >= 12 and not _ABBREV.search(t[:m.start() + 1]):
            t = t[:m.start() + 1]
            break
    t = t.strip().strip(_QUOTES).strip()
    if len(t) > MAX_DESCRIPTION:
        cut = t[:MAX_DESCRIPTION]
        cut = cut[:cut.rfind(" ")] if " " in cut[MAX_DESCRIPTION // 2:] else cut
        t = cut.rstrip(" ,;:-\u2013\u2014") + "."
    return t


# -- the entry point ---------------------------------------------------------------------------
def _region_entries(region: str, problems: list[str]) -> list[_Entry]:
    entries: list[_Entry] = []
    decoded_until, tries, repaired = -1, 0, False
    for a, b in find_spans(region):
        if a < decoded_until or b - a > MAX_SPAN_CHARS:
            continue  # inside a span already read (or too big to read: try its parts)
        if tries >= MAX_SPANS:
            break
        tries += 1
        try:
            value, strict = decode(region[a:b])
        except LenientJSONError:
            continue
        found = collect_entries(value)
        if found:  # else its parts may still hold shots the (tolerant) whole did not show
            decoded_until = b
            entries += found
            repaired |= not strict
    if repaired:
        problems.append(REPAIRED)
    return entries


def _pick(entries: list[_Entry], problems: list[str]) -> dict[str, tuple[list[float], _Entry]]:
    chosen: dict[str, tuple[list[float], _Entry]] = {}
    unnamed = []
    for e in entries:
        vals = _box_values(e.box)
        if e.name is None:
            if vals is not None:
                unnamed.append((vals, e))
            continue
        if vals is None:
            problems.append(f"{e.name}: box {str(e.box)[:60]} is not 4 numbers")
            continue
        if e.name in chosen:
            problems.append(f"{e.name}: given twice; the first one is used")
            continue
        chosen[e.name] = (vals, e)
    if not chosen and len(unnamed) == 3:
        # Labels like "woman" instead of shot names: the largest box is the establishing shot.
        unnamed.sort(key=lambda p: -abs((p[0][2] - p[0][0]) * (p[0][3] - p[0][1])))
        chosen = dict(zip(SHOT_NAMES, unnamed))
        problems.append("shots were not named; assigned by size")
    return chosen


def parse_answer(text: str, width: int, height: int, family: str,
                 resized: tuple[int, int] | None = None) -> ParsedShots:
    """Three source-pixel boxes and descriptions from a model's raw answer, or AnswerError.

    `width`/`height` are the photo's size; `resized` is the (w, h) the processor resized it to,
    which Qwen2.5-VL pixel boxes refer to (None: the photo's own size).
    """
    fam = normalize_family(family)
    W, H = int(width), int(height)
    if W < 1 or H < 1:
        raise ShotCropError(f"image size {width}x{height} is not valid")
    if resized is not None:
        rw, rh = (int(x) for x in resized)
        resized = (rw, rh) if rw >= 1 and rh >= 1 else None
    if not isinstance(text, str) or not text.strip():
        raise AnswerError("empty answer")
    problems: list[str] = []
    if len(text) > MAX_TEXT_CHARS:
        text = text[-MAX_TEXT_CHARS:]
        problems.append(f"answer longer than {MAX_TEXT_CHARS} characters; only its end was read")
    thinking, answer = split_thinking(_SPECIAL.sub(" ", text))
    chosen: dict = {}
    region_notes: list[str] = []
    notes: list[str] = []
    for where, region in (("answer", answer), ("think block", thinking)):
        if not region.strip():
            continue
        notes = []
        picked = _pick(_region_entries(region, notes), notes)
        if len(picked) > len(chosen):
            chosen, region_notes = picked, notes + (
                ["the answer was taken from inside the think block"] if where != "answer"
                else [])
        if len(chosen) == 3:
            break
    bad_box = next((p for p in region_notes + notes if "not 4 numbers" in p), None)
    if not chosen:
        raise AnswerError(bad_box or "no shots found: expected JSON with establishing, "
                          "medium and close_up")
    problems += region_notes
    missing = [n for n in SHOT_NAMES if n not in chosen]
    if missing:
        raise AnswerError(f"missing {', '.join(missing)} (need establishing, medium and "
                          f"close_up with bbox_2d)" + (f"; {bad_box}" if bad_box else ""))
    conv = _convention([chosen[n][0] for n in SHOT_NAMES], fam, W, H, resized)
    native = "grid" if fam == "qwen3_vl" else "resized" if resized else "source"
    if conv != native:
        problems.append(f"coordinates read as {conv} "
                        f"{'pixels' if conv in ('resized', 'source') else 'values'}")
    boxes = {n: _to_box(chosen[n][0], conv, W, H, resized, n, problems) for n in SHOT_NAMES}
    descs: dict[str, str] = {}
    for n in SHOT_NAMES:
        descs[n] = clean_description(chosen[n][1].desc)
        if not descs[n]:
            problems.append(f"{n}: no description")
    return ParsedShots(boxes, descs, tuple(problems), conv, thinking[:MAX_THINKING])


def to_shotset(parsed: ParsedShots, width: int, height: int,
               subject: Subject | Box | None = None, source: str = "vlm") -> ShotSet:
    """The parsed proposal as a ShotSet (aspect "free"); grammar repair is `refine`'s job."""
    if isinstance(subject, Box):
        subject = Subject(subject)
    shots = {n: Shot(n, parsed.boxes[n], parsed.descriptions.get(n, ""), "free")
             for n in SHOT_NAMES}
    return ShotSet(int(width), int(height), **shots, subject=subject, source=source,
                   warnings=tuple(f"vlm answer: {p}" for p in parsed.problems if p != REPAIRED))


__all__ = ["AnswerError", "ParsedShots", "clean_description", "parse_answer", "answer_shot_name",
           "split_thinking", "to_shotset"]
