"""Small table and report writers shared by the benchmarks (plain text for the terminal,
markdown for files), so every benchmark prints numbers the same way."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..errors import ShotCropError
from ..files import write_new_text

FLOAT_DIGITS = 4


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.{FLOAT_DIGITS}f}"
    return "" if v is None else str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _prepare(headers: Sequence[Any], rows: Iterable[Sequence[Any]]
             ) -> tuple[list[str], list[list[str]], list[bool]]:
    raw = [list(r) for r in rows]
    for i, r in enumerate(raw):
        if len(r) != len(headers):
            raise ShotCropError(f"table row {i} has {len(r)} cells but there are "
                                f"{len(headers)} headers")
    # Right-align a column when every non-empty value in it is a number, so digits line up.
    numeric = [bool(raw) and all(_is_number(r[c]) or r[c] is None for r in raw)
               for c in range(len(headers))]
    return [_cell(h) for h in headers], [[_cell(v) for v in r] for r in raw], numeric


def format_table(headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """Aligned plain-text table; floats with 4 decimals, numeric columns right-aligned."""
    head, body, numeric = _prepare(headers, rows)
    widths = [max([len(head[c])] + [len(r[c]) for r in body]) for c in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w)
                         for c, w, n in zip(cells, widths, numeric)).rstrip()

    return "\n".join([line(head), "  ".join("-" * w for w in widths)]
                     + [line(r) for r in body])


def markdown_table(headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """GitHub-flavoured markdown table; '|' in cells is escaped so it cannot split a column."""
    head, body, numeric = _prepare(headers, rows)

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    return "\n".join([line(head), rule] + [line(r) for r in body])


def write_report(path: str | os.PathLike[str], title: str,
                 sections: Mapping[str, str] | Sequence[tuple[str, str]],
                 force: bool = False) -> Path:
    """Write `# title` then one `## heading` per section; refuse to replace an existing file
    (benchmark reports are evidence, overwriting one by accident loses it) unless force=True."""
    p = Path(path)
    items = list(sections.items()) if isinstance(sections, Mapping) else list(sections)
    parts = [f"# {title}\n"] + [f"## {h}\n\n{body.rstrip()}\n" for h, body in items]
    text = "\n".join(parts)
    return write_new_text(p, text, force, "report")
