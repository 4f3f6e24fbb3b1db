"""Training ShotCrop's VLM (issue #6): data, chat examples, rewards, evaluation, and the three
stages (CoT-SFT, semi-supervised SFT on pseudo-labels, GRPO) on TRL + peft.

Importing this package stays light (no torch, transformers, trl or peft): names resolve lazily
from their modules on first use, and those modules import the heavy libraries only inside the
functions that run a model.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule that defines it
_EXPORTS = {
    # chat.py: the backend's prompt / answer contract as training examples
    "answer_text": "chat", "completion_text": "chat", "draft_reasoning": "chat",
    "example_messages": "chat", "prompt_messages": "chat", "resized_size": "chat",
    # data.py: TSC training sets and the COCO converter
    "TrainExample": "data", "draft_from_coco": "data", "load_training_set": "data",
    "people_for": "data",
    # rewards.py: GRPO reward functions
    "DEFAULT_WEIGHTS": "rewards", "reward_columns": "rewards", "reward_functions": "rewards",
    # evaluate.py: checkpoints on a TSC file
    "EvalReport": "evaluate", "evaluate_checkpoints": "evaluate",
    # the stages: configs, LoRA, SFT (stages 1-2), pseudo-labels (stage 2), GRPO (stage 3)
    "SftConfig": "config", "GrpoConfig": "config", "PseudoConfig": "config",
    "load_config": "config",
    "LoraSettings": "lora", "prepare_model": "lora", "save_checkpoint": "lora",
    "run_sft": "sft", "run_grpo": "grpo",
    "run_pseudo": "pseudo", "select": "pseudo",
    "ClipScorer": "scorers", "AestheticScorer": "scorers", "JudgeScorer": "scorers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # resolve once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
