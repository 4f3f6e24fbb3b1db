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


def progress_stream(items: Iterable[T], total: int | None = None, desc: str = "",
                    unit: str = "it") -> Iterable[T]:
    """A progress bar over a stream (nothing is materialised): items per second, and the time
    left when `total` is known. Silent when stderr is not a terminal."""
    if not sys.stderr.isatty() or (total is not None and total < 2):
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                smoothing=0.1)
