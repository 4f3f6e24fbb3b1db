"""Writing a text file the user asked for without ever replacing one by accident."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ShotCropError


def write_new_text(path: str | os.PathLike[str], text: str, force: bool = False,
                   what: str = "file") -> Path:
    """Write `text` to `path` (parents created); an existing file is an error unless `force`.

    `what` names the file in messages ("report", "TSC file")."""
    p = Path(path)
    if p.is_dir():
        raise ShotCropError(f"{what} path {p} is a folder; give a file name")
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        # Mode "x" makes the existence check and the creation one step, so two runs cannot race.
        with open(p, "w" if force else "x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise ShotCropError(f"{what} {p} already exists; pass force=True (or --force) to "
                            "overwrite it, or choose another path") from None
    except OSError as e:
        raise ShotCropError(f"cannot write {what} {p}: {e}") from None
    return p
