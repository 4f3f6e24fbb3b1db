"""The run's record of shot sets: `DEST/shots.jsonl`, one line per photo, as `compose --json`
prints them (a shot set, or {"image": ..., "error": ...}), and `shots.parquet` on request.

The driver appends each photo's line as its result arrives, so a run killed halfway keeps what it
did. `--resume` reads the record back: photos with a shot set are done (not composed, not written
again); error lines and a last line cut short by the kill are dropped, so those photos are tried
again and every photo ends with exactly one line. Parquet cannot grow a line at a time, so
`shots.parquet` is written whole from the record when a run ends.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from ..errors import ShotCropError
from ..shots import SHOT_NAMES

RECORD = "shots.jsonl"
TABLE = "shots.parquet"
FORMATS = ("jsonl", "parquet")


class Journal:
    """`DEST/shots.jsonl`, opened for a run (see the module doc)."""

    def __init__(self, out: str | Path, records: str = "jsonl") -> None:
        if records not in FORMATS:
            raise ShotCropError(f"records {records!r}: use one of {', '.join(FORMATS)}")
        self.out, self.records = Path(out), records
        self.path = self.out / RECORD
        self._file = None
        self._mode = "w"

    def open(self, resume: bool = False, force: bool = False) -> set[str]:
        """Start the record; the photos an earlier run finished (with `resume`)."""
        earlier = [p for p in (self.path, self.out / TABLE) if p.exists()]
        if earlier and not (resume or force):
            raise ShotCropError(f"{earlier[0]} is there from an earlier run: add --resume to "
                                "carry it on, --force to start again (it is rewritten), or "
                                "choose another --out folder")
        done: set[str] = set()
        if resume and self.path.exists():
            done = self._compact()
        self._mode = "a" if resume else "w"  # the file is opened by the first line written
        return done

    def _compact(self) -> set[str]:
        """Keep the finished photos' lines (the first of each); say which they are."""
        keep, done, dropped = [], set(), 0  # dropped: lines left out or mended
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    d = json.loads(line)
                    image = d["image"]
                    finished = "error" not in d and isinstance(image, str)
                except (ValueError, KeyError, TypeError):
                    finished = False
                if finished and image not in done:
                    done.add(image)
                    if not line.endswith("\n"):  # whole, but its newline was cut off
                        line, dropped = line + "\n", dropped + 1
                    keep.append(line)
                else:
                    dropped += 1
        if dropped:  # rewritten whole, then swapped in: a second kill cannot lose it
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(keep), encoding="utf-8")
            os.replace(tmp, self.path)
        return done

    def write(self, lines: Iterable[str]) -> None:
        """Append photos' lines (one JSON object each), flushed: a kill keeps them."""
        text = "".join(line + "\n" for line in lines)
        if self._file is None:
            self.out.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, self._mode, encoding="utf-8")
        self._file.write(text)
        self._file.flush()

    def close(self) -> None:
        """End the record; with Parquet, write `shots.parquet` from it (when it has lines)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.records == "parquet" and self.path.exists():
            write_parquet(self.path, self.out / TABLE)


def write_parquet(record: Path, dest: Path) -> None:
    """`shots.parquet`: a row per photo, the boxes and descriptions as columns, and the whole
    line in `shots` (what `ShotSet.from_json` reads)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, list] = {k: [] for k in ("image", "error", "width", "height", "shots",
                                             "subject_box", "warnings")}
    for name in SHOT_NAMES:
        cols[f"{name}_box"], cols[f"{name}_description"] = [], []
    with open(record, encoding="utf-8") as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:  # a line a kill cut short: --resume drops it and redoes it
                continue
            ok = "error" not in d
            shots = {s["shot"]: s for s in d.get("shots", [])}
            cols["image"].append(d.get("image"))
            cols["error"].append(d.get("error"))
            cols["width"].append(d.get("width"))
            cols["height"].append(d.get("height"))
            cols["shots"].append(line.rstrip("\n") if ok else None)
            cols["subject_box"].append((d.get("subject") or {}).get("box"))
            cols["warnings"].append(d.get("warnings", []) if ok else None)
            for name in SHOT_NAMES:
                shot = shots.get(name, {})
                cols[f"{name}_box"].append(shot.get("box"))
                cols[f"{name}_description"].append(shot.get("description"))
    types = {"width": pa.int32(), "height": pa.int32(), "warnings": pa.list_(pa.string()),
             **{k: pa.list_(pa.int32()) for k in cols if k.endswith("_box")}}
    table = pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})
    tmp = dest.with_name(dest.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, dest)


__all__ = ["FORMATS", "Journal", "RECORD", "TABLE", "write_parquet"]
