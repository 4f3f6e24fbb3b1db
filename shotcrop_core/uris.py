"""Photos named by URI (s3://, gs://, hdfs://, abfs://, http(s)://, file://) as well as by path.

A catalogue on a cluster lists its photos where they live, in object storage more often than on
a disk every node mounts. Object stores are read through pyarrow's filesystems (installed with
`shotcrop[scale]`; credentials from the usual environment), http(s) through the standard
library. A `file://` URI is a local path.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from .errors import ShotCropError

#: Seconds to wait for an http(s) photo.
HTTP_TIMEOUT = 60
#: Schemes read through pyarrow.fs.
ARROW_SCHEMES = frozenset({"s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss"})


def is_uri(name: str | Path) -> bool:
    """A string with a scheme of two or more letters (a Windows drive 'C:/' is a path)."""
    if not isinstance(name, str) or "://" not in name:
        return False
    scheme = name.split("://", 1)[0]
    return len(scheme) > 1 and scheme.replace("+", "").replace("-", "").isalnum()


def local_path(uri: str) -> Path | None:
    """The path of a file:// URI; None for any other scheme."""
    u = urlparse(uri)
    return Path(unquote(u.path)) if u.scheme == "file" else None


def name_path(uri: str) -> Path:
    """A path whose name and stem are the photo's (for its output files' names)."""
    return Path(unquote(urlparse(uri).path) or "photo")


def read_uri(uri: str) -> bytes:
    """The bytes of a photo named by URI; a failure is one ShotCropError naming it."""
    scheme = urlparse(uri).scheme.lower()
    try:
        if scheme in ("http", "https"):
            from urllib.request import urlopen

            with urlopen(uri, timeout=HTTP_TIMEOUT) as r:  # noqa: S310  the scheme is checked
                return r.read()
        if scheme not in ARROW_SCHEMES:
            raise ShotCropError(f"{uri}: unknown URI scheme {scheme!r}: use a path, file://, "
                                f"http(s):// or one of {', '.join(sorted(ARROW_SCHEMES))}://")
        try:
            from pyarrow import fs
        except ImportError:
            raise ShotCropError(f"{uri}: reading {scheme}:// photos needs pyarrow: pip install "
                                "'shotcrop[scale]'") from None
        filesystem, path = fs.FileSystem.from_uri(uri)
        with filesystem.open_input_stream(path) as f:
            return f.read()
    except ShotCropError:
        raise
    except Exception as e:  # noqa: BLE001  network and store errors come in many types
        raise ShotCropError(f"{uri}: cannot read it ({type(e).__name__}: {e})") from None


__all__ = ["is_uri", "local_path", "name_path", "read_uri"]
