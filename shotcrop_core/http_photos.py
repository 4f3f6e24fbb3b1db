"""Photos at http(s):// addresses (`uris.read_uri`). Library only: .comfyignore keeps this file
out of the ComfyUI pack, whose nodes take images, never addresses."""

from __future__ import annotations

from urllib.request import Request, urlopen

from . import __version__
from .errors import ShotCropError

#: Seconds to wait for an http(s) photo.
TIMEOUT = 60
#: The most bytes read for one photo: a 120 MP photo (imageio's limit) as an uncompressed TIFF
#: is about 360 MB; more is no photo ShotCrop would take.
MAX_BYTES = 400_000_000


def fetch(uri: str) -> bytes:
    """The body of `uri` (http or https: `uris.read_uri` checked the scheme)."""
    request = Request(uri, headers={"User-Agent": f"shotcrop/{__version__}"})
    with urlopen(request, timeout=TIMEOUT) as r:  # noqa: S310
        body = r.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise ShotCropError(f"{uri}: more than {MAX_BYTES // 1_000_000} MB, larger than any "
                            "photo ShotCrop takes")
    return body


__all__ = ["MAX_BYTES", "TIMEOUT", "fetch"]
