"""vLLM as an optional engine for catalogue-scale batches (`--engine vllm`).

Same prompt, parser, retry, fallback and grammar repair as `VLMEngine`; only generation differs:
vLLM schedules the whole batch itself (continuous batching, paged KV cache) and splits the model
across every visible GPU (tensor parallel). vLLM is imported only here, when chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ShotCropError
from ..model_options import DTYPE_NAMES
from .backend import GenerationOptions, VLMEngine
from .loading import family_of, input_sizes, resolve_vlm


@dataclass
class _VLLMModel:
    llm: Any
    processor: Any
    family: str
    path: Any


def engine_kwargs(dtype: str = "auto", seed: int = 0) -> dict:
    """vLLM's engine settings for our prompts (also `scale.llm`'s, through ray.data.llm)."""
    return {"trust_remote_code": False, "load_format": "safetensors",
            "dtype": DTYPE_NAMES.get(dtype, dtype), "limit_mm_per_prompt": {"image": 1},
            "seed": seed}


def sampling(options: GenerationOptions) -> dict:
    """vLLM's SamplingParams for `options`: greedy unless a seed asks for sampling."""
    return {"max_tokens": options.token_budget,
            "temperature": options.temperature if options.sampling else 0.0,
            "seed": options.seed}


def load_vllm(ref: str, revision: str | None = None, dtype: str = "auto",
              tensor_parallel: int | None = None, seed: int = 0) -> _VLLMModel:
    """The model folder (resolved like `load_vlm`: safetensors only, no remote code) in vLLM."""
    try:
        from vllm import LLM
    except ImportError:
        raise ShotCropError("--engine vllm needs vLLM, which is not installed: install the vllm "
                            "package on a CUDA machine, or use --engine vlm") from None
    import torch
    from transformers import AutoProcessor

    path = resolve_vlm(ref, revision=revision)
    family = family_of(path)
    gpus = tensor_parallel or max(torch.cuda.device_count(), 1)
    llm = LLM(model=str(path), tensor_parallel_size=gpus, **engine_kwargs(dtype, seed))
    processor = AutoProcessor.from_pretrained(str(path), trust_remote_code=False)
    return _VLLMModel(llm, processor, family, path)


class VLLMEngine(VLMEngine):
    """`VLMEngine` with vLLM doing the generation."""

    def __init__(self, model: _VLLMModel, options: GenerationOptions | None = None) -> None:
        super().__init__(model, options)

    def _generate(self, images: list, conversations: list[list[dict]]):
        from vllm import SamplingParams

        proc = self.loaded.processor
        texts = [proc.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                 for c in conversations]
        params = SamplingParams(**sampling(self.options))
        outs = self.loaded.llm.generate(
            [{"prompt": t, "multi_modal_data": {"image": im}} for t, im in zip(texts, images)],
            params, use_tqdm=False)
        # The size each photo is resized to, which Qwen2.5-VL pixel boxes refer to.
        grid = proc.image_processor(images=images, return_tensors="pt")["image_grid_thw"]
        return [(out.outputs[0].text, size) for out, size in zip(outs, input_sizes(proc, grid))]
