"""Stages 1 and 2: supervised fine-tuning with TRL's SFTTrainer and a LoRA adapter.

Stage 1 (CoT-SFT) trains on expert triples with a think block before the answer; stage 2 runs
the same trainer on the TSC file of kept pseudo-labels that pseudo.py writes. Each example is
the backend's own prompt (`chat.example_messages`, image included) and the answer it parses.

Loss on the answer only. The dataset is TRL's conversational *prompt-completion* type (prompt =
system + user turn with the image, completion = the assistant turn), which TRL's own
`DataCollatorForVisionLanguageModeling` collates with `completion_only_loss`: the prompt is
rendered with `add_generation_prompt=True`, exactly as the backend renders it at inference, and
its tokens (image tokens included) get label -100. This works with any chat template. The
alternative, `assistant_only_loss` on a "messages" dataset, needs `{% generation %}` markers:
TRL swaps in marked copies of the stock Qwen2.5-VL / Qwen3-VL templates only when a model's
template equals them byte for byte, and refuses others (the tiny test models' template, a
modified Hub template), so it is not used. No custom collator is needed.

Images are a `datasets` Image column of file paths: decoded lazily per batch, upright (EXIF
orientation applied, as the TSC boxes are), RGB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ShotCropError
from .config import SftConfig
from .trainer import Stage, TrainResult, image_feature, logged, run_stage


@dataclass
class SftResult(TrainResult):
    """What a run wrote and how its loss went."""

    #: Training loss at each logging step (TRL's running average over those steps).
    losses: list[float] = field(default_factory=list)
    #: Mean training loss over the whole run (Trainer's train_loss).
    train_loss: float = float("nan")
    seconds: float = 0.0


# -- stage 1 / 2 -------------------------------------------------------------------------------
def sft_rows(examples: list, processor: Any, family: str, config: SftConfig) -> list[dict]:
    """One prompt-completion row per (example, annotation), images as paths."""
    from .chat import example_messages, resized_size

    rows = []
    for ex in examples:
        sample = ex.sample
        # Qwen2.5-VL answers in pixels of the resized image: the same resize as at inference.
        size = (resized_size(processor, (sample.width, sample.height))
                if family == "qwen2_5_vl" else None)
        count = len(sample.annotations) if config.all_annotations else 1
        for a in range(count):
            messages = example_messages(sample, family, input_size=size,
                                        reasoning=config.reasoning, annotation=a,
                                        aspects=config.aspects)
            rows.append({"prompt": messages[:-1], "completion": messages[-1:],
                         "images": [str(ex.image_path)]})
    return rows


def sft_dataset(rows: list[dict]):
    import datasets

    return datasets.Dataset.from_list(rows).cast_column("images", image_feature())


class SftStage(Stage):
    """TRL's SFTTrainer on prompt-completion rows (see the module docstring)."""

    name = "SFT"
    result_cls = SftResult

    def trl_classes(self) -> tuple[Any, Any]:
        from trl import SFTConfig, SFTTrainer

        return SFTConfig, SFTTrainer

    def trl_settings(self) -> dict:
        return dict(max_length=self.config.max_length, completion_only_loss=True, packing=False,
                    dataset_kwargs={"skip_prepare_dataset": True})

    def dataset(self, examples: list, processor: Any, family: str) -> Any:
        return sft_dataset(sft_rows(examples, processor, family, self.config))

    def metrics(self, output: Any, history: list[dict]) -> dict:
        train_loss = float(output.training_loss)
        if not math.isfinite(train_loss):
            raise ShotCropError(f"SFT diverged: training loss is {train_loss}; lower "
                                "learning_rate or check the data")
        return {"losses": logged(history, "loss"), "train_loss": train_loss}

    def summary(self, result: SftResult) -> str:
        return f"{result.steps} steps on {result.examples} examples, loss {result.train_loss:.4f}"


def run_sft(config: SftConfig, callbacks: list | None = None) -> SftResult:
    """Train a LoRA adapter with TRL's SFTTrainer; save adapter + merged checkpoint.

    `callbacks`: extra transformers TrainerCallbacks (timing, custom logging).
    """
    return run_stage(SftStage(config), callbacks)


__all__ = ["SftResult", "SftStage", "run_sft", "sft_dataset", "sft_rows"]
