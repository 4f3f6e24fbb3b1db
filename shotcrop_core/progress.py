"""A progress bar on stderr for batches (silent for one item or when stderr is not a terminal)."""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], desc: str = "", unit: str = "it") -> Iterable[T]:
    items = list(items)
    if len(items) < 2 or not sys.stderr.isatty():
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with huggingface_hub; a bare install still works
        return items
    return tqdm(items, desc=desc, unit=unit, file=sys.stderr, leave=False)
