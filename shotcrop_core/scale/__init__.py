"""Composing a catalogue on Ray (`pip install "shotcrop[scale]"`): many machines, many GPUs.

Ray Data does the scheduling, streaming, retries and progress; this package gives it our one
pipeline as an actor that loads its models once (`stage`), reads photo listings (`listing`),
keeps the run's record of shot sets that `--resume` reads back (`journal`), and drives a
`shotcrop compose --ray` run (`driver`). With the vLLM engine, generation goes through
`ray.data.llm` where it is installed (`llm`).

Ray is imported only by these modules, never by the rest of shotcrop_core.
"""

from __future__ import annotations

from ..errors import ShotCropError


def require_ray():
    """The ray module, or one clear error saying how to get it."""
    try:
        import ray
        import ray.data  # noqa: F401  the part we use: also needs pyarrow and pandas
    except ImportError as e:
        raise ShotCropError(f"--ray needs Ray Data, which is not installed ({e}): pip install "
                            "'shotcrop[scale]'") from None
    return ray


def compose_dataset(*args, **kwargs):
    """See `stage.compose_dataset` (Ray imported on call)."""
    from .stage import compose_dataset as run

    return run(*args, **kwargs)


__all__ = ["compose_dataset", "require_ray"]
