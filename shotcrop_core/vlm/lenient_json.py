"""Finding and reading JSON in a model's answer, tolerant of how models write it, never run.

Models wrap their JSON in code fences and chatter, and write single quotes, trailing or missing
commas, bare keys, Python's True/None and // comments. Reading goes:

1. `find_spans`: balanced `{...}` / `[...]` spans in one linear pass (strings skipped), so
   fences and chatter around them are simply not part of any span;
2. `decode`: one span with `json`, else with a small hand-written tolerant reader (depth- and
   size-limited; no eval, no ast), which builds only dicts, lists, str, int, float, bool, None.

A span that neither reads raises `LenientJSONError`. Which span holds what a caller wants is the
caller's business (`vlm/parse.py`: a shot plan; `train/scorers.py`: the judge's grades).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ShotCropError


class LenientJSONError(ShotCropError, ValueError):
    """The text holds no JSON (not even JSON-ish) that can be read."""


#: Nesting the tolerant reader follows (a shot plan needs 4); deeper input is refused.
MAX_DEPTH = 16
#: A number as the reader takes it: JSON's, plus a leading "+" or "." that models write.
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

# -- balanced spans -------------------------------------------------------------------------------
_CLOSERS = ",:}]"


def _prev_char(s: str, i: int) -> str:
    j = i - 1
    while j >= 0 and s[j] in " \t\r\n":
        j -= 1
    return s[j] if j >= 0 else ""


def _string_end(s: str, i: int) -> int:
    """Index after the string opened at s[i], -1 if it never closes. A quote closes it only
    when followed by a delimiter, a line end or the end, so 'the woman's hand' and
    "a "quoted" word" survive."""
    q, n, j = s[i], len(s), i + 1
    while j < n:
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == q:
            k = j + 1
            while k < n and s[k] in " \t\r":
                k += 1
            if k >= n or s[k] in _CLOSERS or s[k] == "\n":
                return j + 1
        j += 1
    return -1


def _opens_string(s: str, i: int) -> bool:
    # A double quote always opens a string inside brackets; a single quote only where a key or
    # value may start, so apostrophes in unquoted text do not swallow the rest.
    return s[i] == '"' or _prev_char(s, i) in "{[,:"


def find_spans(s: str) -> list[tuple[int, int]]:
    """Matched `{...}` / `[...]` spans (start, end exclusive), outermost first, in one pass."""
    stack: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in "{[":
            stack.append((c, i))
        elif c in "}]":
            want = "{" if c == "}" else "["
            if stack and stack[-1][0] == want:
                spans.append((stack.pop()[1], i + 1))
            elif len(stack) >= 2 and stack[-2][0] == want:  # one unclosed bracket inside
                stack.pop()
                spans.append((stack.pop()[1], i + 1))
        elif c in "\"'" and stack and _opens_string(s, i):
            end = _string_end(s, i)
            if end < 0:  # unclosed: nothing after it can close a span
                break
            i = end
            continue
        i += 1
    spans.sort(key=lambda p: (p[0], -p[1]))
    return spans


# -- decoding -------------------------------------------------------------------------------------
_WORDS = {"true": True, "false": False, "null": None, "none": None}
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "", "f": ""}


def _unescape(m: re.Match) -> str:
    e = m.group(1)
    return chr(int(e[1:], 16)) if len(e) == 5 else _ESCAPES.get(e, e)


class _Reader:
    """A tiny tolerant JSON-ish reader: single quotes, trailing or missing commas, bare words,
    Python True/None, // comments. Builds only dicts, lists, str, int, float, bool, None."""

    def __init__(self, s: str) -> None:
        self.s, self.i, self.n = s, 0, len(s)

    def ws(self) -> None:
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif s.startswith("//", self.i):
                j = s.find("\n", self.i)
                self.i = n if j < 0 else j + 1
            else:
                break

    def peek(self) -> str:
        self.ws()
        if self.i >= self.n:
            raise LenientJSONError("unexpected end")
        return self.s[self.i]

    def value(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise LenientJSONError("too deep")
        c = self.peek()
        if c == "{":
            return self.obj(depth)
        if c == "[":
            return self.arr(depth)
        if c in "\"'":
            return self.string()
        m = NUMBER.match(self.s, self.i)
        if m and len(m.group()) <= 40:
            self.i = m.end()
            t = m.group()
            return float(t) if any(ch in t for ch in ".eE") else int(t)
        return self.bare()

    def string(self) -> str:
        end = _string_end(self.s, self.i)
        if end < 0:
            raise LenientJSONError("unclosed string")
        raw, self.i = self.s[self.i + 1:end - 1], end
        return _ESCAPE.sub(_unescape, raw) if "\\" in raw else raw

    def bare(self) -> Any:
        # Unquoted word(s) up to a delimiter: keys like {shot: medium}, or True/None.
        j = self.i
        while j < self.n and self.s[j] not in ",:}]\n{[":
            j += 1
        word = self.s[self.i:j].strip()
        if not word:
            raise LenientJSONError(f"unexpected {self.s[self.i]!r}")
        self.i = j
        return _WORDS.get(word.lower(), word)

    def obj(self, depth: int) -> dict:
        self.i += 1
        out: dict = {}
        while True:
            c = self.peek()
            if c == "}":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                continue
            key = self.value(depth + 1)
            if isinstance(key, (dict, list)):
                raise LenientJSONError("object key is not a string")
            if self.peek() not in ":=":
                raise LenientJSONError("expected ':'")
            self.i += 1
            out[str(key)] = self.value(depth + 1)

    def arr(self, depth: int) -> list:
        self.i += 1
        out: list = []
        while True:
            c = self.peek()
            if c == "]":
                self.i += 1
                return out
            if c == ",":
                self.i += 1
                continue
            out.append(self.value(depth + 1))


def decode(span: str) -> tuple[Any, bool]:
    """(value, strict) of one span: `json` first (strict True), else the tolerant reader for an
    object or array (strict False). LenientJSONError when neither reads it."""
    try:
        return json.loads(span), True
    except (ValueError, RecursionError):  # JSONDecodeError, huge ints, deep nesting
        pass
    # Only brackets are read tolerantly: any bare sentence would otherwise "read" as a word.
    if not span.lstrip().startswith(("{", "[")):
        raise LenientJSONError("no JSON object or array")
    try:
        return _Reader(span).value(), False
    except (ValueError, OverflowError, RecursionError) as e:  # LenientJSONError is a ValueError
        raise LenientJSONError(str(e)) from None


__all__ = ["LenientJSONError", "MAX_DEPTH", "NUMBER", "decode", "find_spans"]
