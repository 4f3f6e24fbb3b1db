"""Composing a catalogue on Ray (the `shotcrop[scale]` extra): many machines, many GPUs.

Ray Data does the scheduling, streaming, retries and progress; this package gives it our one
pipeline as an actor that loads its models once (`stage`), reads photo listings (`listing`),
keeps the run's record of shot sets that `--resume` reads back (`journal`), and drives a
`shotcrop compose --ray` run (`driver`). With the vLLM engine, generation goes through
`ray.data.llm` where it is installed (`llm`).

Ray is imported only by these modules, never by the rest of shotcrop_core.
"""

from __future__ import annotations

from .ray_module import require_ray
from .stage import compose_dataset  # Ray itself is imported on call

__all__ = ["compose_dataset", "require_ray"]
