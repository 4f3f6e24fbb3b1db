"""Photos at http(s):// addresses (`uris.read_uri`). Library only: .comfyignore keeps this file
out of the ComfyUI pack, whose nodes take images, never addresses."""

from __future__ import annotations

from urllib.request import urlopen

#: Seconds to wait for an http(s) photo.
TIMEOUT = 60


def fetch(uri: str) -> bytes:
    """The body of `uri` (http or https: `uris.read_uri` checked the scheme)."""
    with urlopen(uri, timeout=TIMEOUT) as r:  # noqa: S310
        return r.read()


__all__ = ["TIMEOUT", "fetch"]
