"""Photos named by URI (s3://, gs://, hdfs://, abfs://, http(s)://, file://) as well as by path.

A catalogue on a cluster lists its photos where they live, in object storage more often than on
a disk every node mounts. Object stores are read through pyarrow's filesystems (installed with
the `shotcrop[scale]` extra; credentials from the usual environment); http(s) by
`http_photos`, which the library has and the ComfyUI pack leaves out (nodes take images, not
addresses). A `file://` URI is a local path.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import ShotCropError

#: Schemes read through pyarrow.fs.
ARROW_SCHEMES = frozenset({"s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")


def is_uri(name: str | Path) -> bool:
    """A string with a scheme of two or more letters (a Windows drive 'C:/' is a path)."""
    return isinstance(name, str) and _SCHEME.match(name) is not None


def _parts(uri: str) -> tuple[str, str]:
    """(scheme, the path after the host), the query and fragment left out, %XX decoded."""
    scheme, rest = uri.split("://", 1)
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    raw = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), path.encode())
    return scheme.lower(), raw.decode("utf-8", "replace")


def local_path(uri: str) -> Path | None:
    """The path of a file:// URI; None for any other scheme."""
    scheme, path = _parts(uri)
    return Path(path) if scheme == "file" else None


def name_path(uri: str) -> Path:
    """A path whose name and stem are the photo's (for its output files' names)."""
    path = _parts(uri)[1]
    return Path(path if path.strip("/") else "/photo")


def photo_path(photo: str | Path) -> Path:
    """The path a photo's output files are named after: its own, a file:// URI's, or another
    URI's path part."""
    if not is_uri(photo):
        return Path(photo)
    return local_path(photo) or name_path(photo)


def read_uri(uri: str) -> bytes:
    """The bytes of a photo named by URI; a failure is one ShotCropError naming it."""
    scheme = _parts(uri)[0]
    try:
        if scheme in ("http", "https"):
            try:
                from .http_photos import fetch
            except ImportError:
                raise ShotCropError(f"{uri}: http(s) photos are read by the shotcrop library "
                                    "(PyPI), not by the ComfyUI pack: load the image first") \
                    from None
            return fetch(uri)
        if scheme not in ARROW_SCHEMES:
            raise ShotCropError(f"{uri}: unknown URI scheme {scheme!r}: use a path, file://, "
                                f"http(s):// or one of {', '.join(sorted(ARROW_SCHEMES))}://")
        try:
            from pyarrow import fs
        except ImportError:
            raise ShotCropError(f"{uri}: reading {scheme}:// photos needs pyarrow, which the "
                                "scale extra brings: shotcrop[scale]") from None
        filesystem, path = fs.FileSystem.from_uri(uri)
        with filesystem.open_input_stream(path) as f:
            return f.read()
    except ShotCropError:
        raise
    except Exception as e:  # noqa: BLE001  network and store errors come in many types
        raise ShotCropError(f"{uri}: cannot read it ({type(e).__name__}: {e})") from None


__all__ = ["is_uri", "local_path", "name_path", "photo_path", "read_uri"]
