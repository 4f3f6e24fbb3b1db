"""One exception type for everything a user can get wrong.

The CLI and the ComfyUI nodes catch `ShotCropError` and show its message as is, so each message
must say what was wrong and what to do about it.
"""


class ShotCropError(Exception):
    """A user-facing error: bad input, missing model, impossible request."""


class ModelUnavailableError(ShotCropError):
    """Weights are not cached and cannot be downloaded (offline, no network, bad repo)."""
