"""What a `compose --ray` run reads: photo paths or URIs from folders, globs, files and listings.

A listing is a Parquet, CSV or JSON-lines table (local or by URI) with one photo a row, in the
column `--column` names or the first of `PATH_COLUMNS` it has; a .txt listing is one path a
line, as `--list`. The whole listing is read once on the driver into one Arrow table of paths
(a million paths is about 100 MB): its order gives each photo its index (keypoint files matched
by position need it), and `--resume` filters it in one vectorised step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..batch import expand_inputs
from ..errors import ShotCropError
from ..uris import is_uri

#: Columns taken as the photo's path, in this order, when --column is not given.
PATH_COLUMNS = ("image", "path", "uri", "url", "file", "filename", "image_path")
TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "json",
                  ".ndjson": "json", ".json": "json"}
LINE_SUFFIXES = (".txt", ".lst", ".list")


def read_listing(sources: Iterable[str], list_file: str | None = None,
                 column: str | None = None):
    """One Arrow table, columns `image` (the photo's path or URI, as given) and `index`."""
    import pyarrow as pa

    paths: list[str] = []
    for source in sources:
        kind = _listing_kind(source)
        if kind == "lines":
            paths.extend(_uri_lines(source) if is_uri(source) else expand_inputs([], source))
        elif kind:
            paths.extend(_table_paths(source, kind, column))
        elif is_uri(source) and source.endswith("/"):
            paths.extend(_uri_folder(source))
        else:
            paths.extend(expand_inputs([source]))
    if list_file is not None:
        paths.extend(expand_inputs([], list_file))
    if not paths:
        raise ShotCropError("no photos to compose: the folders, listings and --list name none")
    return pa.table({"image": pa.array(paths, pa.string()),
                     "index": pa.array(range(len(paths)), pa.int64())})


def _listing_kind(source: str) -> str | None:
    suffix = Path(source.split("?", 1)[0]).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return TABLE_SUFFIXES[suffix]
    if suffix in LINE_SUFFIXES and (is_uri(source) or os.path.isfile(source)):
        return "lines"
    return None


def _table_paths(source: str, kind: str, column: str | None) -> list[str]:
    import pyarrow.compute as pc

    table = _read_table(source, kind)
    names = table.column_names
    if column is None:
        found = [c for c in PATH_COLUMNS if c in names] or (names if len(names) == 1 else [])
        if not found:
            raise ShotCropError(f"{source}: which column holds the photos? It has "
                                f"{', '.join(names) or 'none'}: name one with --column "
                                f"(by default the first of {', '.join(PATH_COLUMNS)})")
        column = found[0]
    elif column not in names:
        raise ShotCropError(f"{source} has no column {column!r}: it has {', '.join(names)}")
    values = table.column(column)
    if not (values.type == "string" or values.type == "large_string"):
        raise ShotCropError(f"{source}: column {column!r} holds {values.type}, not paths: name "
                            "the column of photo paths or URIs with --column")
    empty = pc.sum(pc.or_(pc.is_null(values), pc.equal(pc.utf8_trim_whitespace(values), "")))
    if empty.as_py():
        raise ShotCropError(f"{source}: {empty.as_py()} row(s) of column {column!r} have no "
                            "path: fill them in or drop them")
    return [v.strip() for v in values.to_pylist()]


def _uri_lines(source: str) -> list[str]:
    """A one-path-a-line listing in object storage (blank lines and # comments skipped)."""
    from ..uris import read_uri

    try:
        text = read_uri(source).decode("utf-8")
    except UnicodeDecodeError:
        raise ShotCropError(f"the list of photos {source} is not UTF-8 text: one path a "
                            "line") from None
    return [t for t in (line.strip() for line in text.splitlines())
            if t and not t.startswith("#")]


def _uri_folder(source: str) -> list[str]:
    """The image files of a folder in object storage (s3://bucket/shoot/), sorted by name."""
    from pyarrow import fs

    from ..batch import IMAGE_SUFFIXES

    try:
        filesystem, path = fs.FileSystem.from_uri(source)
        infos = filesystem.get_file_info(fs.FileSelector(path, recursive=False))
    except Exception as e:  # noqa: BLE001
        raise ShotCropError(f"cannot list {source}: {e}") from None
    names = sorted(i.base_name for i in infos if i.type == fs.FileType.File
                   and Path(i.base_name).suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise ShotCropError(f"{source}: no image files there")
    return [source + n for n in names]


def _read_table(source: str, kind: str):
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq
    from pyarrow import fs

    try:
        if is_uri(source):
            filesystem, path = fs.FileSystem.from_uri(source)
        else:
            if not os.path.isfile(source):
                raise ShotCropError(f"listing not found: {source}")
            filesystem, path = fs.LocalFileSystem(), os.path.abspath(source)
        if kind == "parquet":
            return pq.read_table(path, filesystem=filesystem)
        with filesystem.open_input_stream(path) as f:
            return pcsv.read_csv(f) if kind == "csv" else pjson.read_json(f)
    except ShotCropError:
        raise
    except Exception as e:  # noqa: BLE001  arrow's parse and I/O errors come in many types
        raise ShotCropError(f"cannot read the listing {source} as {kind}: {e}") from None


__all__ = ["PATH_COLUMNS", "read_listing"]
