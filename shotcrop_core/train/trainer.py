"""What every training stage's run shares (sft.py, grpo.py): the TRL / transformers settings, the
model with its LoRA adapter, the output folder, logging, and the run itself (`run_stage`).

A stage is a `Stage` subclass that says only what differs: TRL's config and trainer classes, its
own TRL settings and checks, its dataset, and the metrics it reports. `run_stage` does the rest,
in the order that keeps mistakes cheap: the config's own checks, the data, TRL's checks of the
settings and the stage's checks all run before the output folder is claimed and before minutes
of model loading.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ShotCropError
from .config import TrainerSettings, to_dict
from .lora import prepare_model, require_training_packages, save_checkpoint

log = logging.getLogger("shotcrop")


@dataclass
class TrainResult:
    """What a run wrote; each stage's result adds how its metrics went."""

    output_dir: Path
    adapter: Path
    merged: Path | None
    family: str
    examples: int
    steps: int


# -- settings -------------------------------------------------------------------------------------
def check_output_dir(config: TrainerSettings) -> Path:
    """The output folder, refusing to overwrite a previous run's checkpoint without force."""
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise ShotCropError(f"output_dir {out} is a file; choose a folder")
    done = [p for p in (out / "adapter", out / "merged") if p.exists()]
    if done and not config.force:
        raise ShotCropError(f"{out} already holds a checkpoint ({done[0].name}/); set force: true "
                            "(or --set force=true) to overwrite it, or choose another output_dir")
    out.mkdir(parents=True, exist_ok=True)
    return out


def limit_image_pixels(processor: Any, max_pixels: int | None) -> None:
    """Cap the processor's resize at `max_pixels` (kept in the saved checkpoint's processor).

    Only ever lowers the processor's own limit: a model that already sees fewer pixels keeps
    its size."""
    if not max_pixels:
        return
    patch = int(processor.image_processor.patch_size) * int(processor.image_processor.merge_size)
    if max_pixels < patch * patch * 4:
        raise ShotCropError(f"image_max_pixels {max_pixels} is too small; use at least "
                            f"{patch * patch * 4} (e.g. 1003520 = 1280 x 28 x 28)")

    def capped(current: Any) -> int:
        return min(int(current), int(max_pixels)) if current else int(max_pixels)

    image_processor = processor.image_processor
    size = dict(getattr(image_processor, "size", None) or {})
    if "longest_edge" in size or not size:
        size["longest_edge"] = capped(size.get("longest_edge"))
        size["shortest_edge"] = min(int(size.get("shortest_edge") or 56 * 56), size["longest_edge"])
        image_processor.size = size
    if hasattr(image_processor, "max_pixels"):  # transformers 4.x keeps the attribute too
        image_processor.max_pixels = capped(image_processor.max_pixels)


def image_feature(listed: bool = True) -> Any:
    """The `datasets` feature of an image column holding paths (a list per row if `listed`)."""
    import datasets

    image = datasets.Image(mode="RGB")
    if not listed:
        return image
    seq = getattr(datasets, "List", None) or datasets.Sequence  # datasets >= 4 names it List
    return seq(image)


def precision_args(model) -> dict:
    """Mixed-precision and device flags matching the dtype the model was loaded in."""
    import torch

    dtype = next(model.parameters()).dtype
    on_cpu = next(model.parameters()).device.type == "cpu"
    return {"bf16": dtype == torch.bfloat16 and not on_cpu,
            "fp16": dtype == torch.float16 and not on_cpu,
            "use_cpu": on_cpu}


def common_args(config: TrainerSettings, out: Path, model=None) -> dict:
    """TrainingArguments shared by SFTConfig and GRPOConfig, from our settings (the precision
    flags from `model`'s dtype and device; without a model, none: for checking the settings)."""
    import transformers
    from packaging.version import Version

    args: dict[str, Any] = dict(
        output_dir=str(out / "trainer"), learning_rate=config.learning_rate,
        num_train_epochs=config.epochs, max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum, lr_scheduler_type=config.lr_scheduler,
        weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
        gradient_checkpointing=config.gradient_checkpointing,
        logging_steps=config.logging_steps, seed=config.seed, report_to=config.report_to,
        save_strategy="steps" if config.save_steps > 0 else "no",
        save_only_model=True, dataloader_num_workers=0, disable_tqdm=True,
        # (TRL defaults to bf16, which a CPU-only machine refuses: the check runs without it)
        **(precision_args(model) if model is not None else {"bf16": False, "fp16": False}))
    if config.save_steps > 0:
        args["save_steps"] = config.save_steps
    if config.gradient_checkpointing:
        # Non-reentrant checkpointing works with frozen inputs (LoRA) and no DDP graph tricks.
        args["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
    # transformers 5 folded warmup_ratio into warmup_steps (a float < 1 is a ratio).
    warmup = config.warmup
    if warmup >= 1:
        args["warmup_steps"] = int(warmup)
    elif Version(transformers.__version__) >= Version("5.0.0"):
        args["warmup_steps"] = warmup
    else:
        args["warmup_ratio"] = warmup
    return args


def build_trl_config(cls, args: dict, extra: dict, where: str):
    """TRL's SFTConfig / GRPOConfig; a bad trainer_args key is one clear error."""
    try:
        return cls(**{**args, **extra})
    except TypeError as e:
        raise ShotCropError(f"{where}: trainer_args has a setting {cls.__name__} does not know "
                            f"({e})") from e
    except ValueError as e:
        raise ShotCropError(f"{where}: {cls.__name__} refused the settings: {e}") from e


# -- logging --------------------------------------------------------------------------------------
#: Metrics worth a log line (TRL logs many more; all of them stay in train_result.json).
LOG_KEYS = ("loss", "learning_rate", "grad_norm", "mean_token_accuracy", "reward", "reward_std",
            "kl", "completions/mean_length")


def log_callback() -> Any:
    """A TrainerCallback that writes one log line per logging step to the shotcrop logger
    (stderr), instead of transformers printing metric dicts on stdout, where the CLI prints
    its JSON result."""
    from transformers import TrainerCallback

    class LogLines(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if "loss" not in logs and "reward" not in logs:
                return
            parts = [f"{k.split('/')[-1] if k.startswith('completions') else k} {logs[k]:.4g}"
                     for k in LOG_KEYS if isinstance(logs.get(k), (int, float))]
            parts += [f"{k.split('/')[1].removesuffix('_reward')} {v:.3f}" for k, v in logs.items()
                      if k.startswith("rewards/") and k.endswith("/mean")]
            step, total = state.global_step, state.max_steps
            per = (time.perf_counter() - self.started) / max(step, 1)
            log.info("step %d/%d: %s (%.1f s/step, %.1f h left)", step, total, ", ".join(parts),
                     per, per * max(total - step, 0) / 3600)

    return LogLines()


def attach_logging(trainer) -> None:
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(log_callback())


def logged(history: list[dict], key: str) -> list[float]:
    """Values of one metric over a Trainer's log history."""
    return [float(h[key]) for h in history if key in h]


# -- model and checkpoint -------------------------------------------------------------------------
def load_for_training(config: TrainerSettings):
    """The base model with LoRA (continuing `config.adapter` if set) and its processor, capped at
    the stage's image size: (model, processor, family)."""
    model, processor, family = prepare_model(config.model, config.lora, config.device, config.dtype,
                                             adapter=config.adapter, attention=config.attention,
                                             revision=config.revision, seed=config.seed)
    limit_image_pixels(processor, config.image_max_pixels)
    return model, processor, family


def save_trained(trainer, processor, out: Path, config: TrainerSettings) -> dict:
    """Adapter (and merged checkpoint when `config.merge`) of a finished trainer's model."""
    return save_checkpoint(trainer.accelerator.unwrap_model(trainer.model), processor, out,
                           merged=config.merge)


def write_run_files(out: Path, config: Any, summary: dict) -> None:
    (out / "train_config.json").write_text(json.dumps(to_dict(config), indent=2) + "\n",
                                           encoding="utf-8")
    (out / "train_result.json").write_text(json.dumps(summary, indent=2, default=str) + "\n",
                                           encoding="utf-8")


# -- the run --------------------------------------------------------------------------------------
class Stage:
    """One stage's part of `run_stage`; the hooks are called in the order they are listed."""

    #: Name in log lines and errors ("SFT", "GRPO").
    name = ""
    #: The stage's result: a TrainResult with the fields `metrics` returns, and `seconds`.
    result_cls: type[TrainResult]

    def __init__(self, config: TrainerSettings) -> None:
        self.config = config

    def trl_classes(self) -> tuple[Any, Any]:
        """(TRL's config class, TRL's trainer class), imported here: TRL is heavy."""
        raise NotImplementedError

    def trl_settings(self) -> dict:
        """The stage's own arguments for TRL's config, over `common_args`."""
        return {}

    def check(self, examples: list, trl_args: Any) -> None:
        """Checks that need the data or TRL's checked settings, and what the dataset needs from
        the photos (GRPO's landmarks): all before the output folder is claimed."""

    def prepare(self) -> None:
        """Work after the output folder is claimed and before the model loads (scorers)."""

    def dataset(self, examples: list, processor: Any, family: str) -> Any:
        """The `datasets.Dataset` to train on, built with the loaded model's processor."""
        raise NotImplementedError

    def trainer_kwargs(self) -> dict:
        """Arguments for TRL's trainer beyond the model, settings, data and processor."""
        return {}

    def metrics(self, output: Any, history: list[dict]) -> dict:
        """The result's own fields from the finished run; raises when it diverged, so a
        diverged run saves no checkpoint."""
        return {}

    def summary(self, result: Any) -> str:
        """The end of the run's last log line, before "-> output_dir"."""
        return f"{result.steps} steps on {result.examples} examples"


def run_stage(stage: Stage, callbacks: list | None = None) -> Any:
    """Train `stage.config`'s model with LoRA under TRL; save adapter + merged checkpoint and the
    run files (train_config.json, train_result.json). `callbacks`: extra TrainerCallbacks."""
    require_training_packages()
    trl_config_cls, trainer_cls = stage.trl_classes()

    from .data import load_training_set

    config, where = stage.config, f"{stage.name} config"
    started = time.perf_counter()
    config.check()
    examples = load_training_set(config.train_tsc, split=config.split,
                                 images_root=config.images_root)
    settings = stage.trl_settings()
    # TRL's own checks of the settings, before minutes of model loading.
    trl_args = build_trl_config(trl_config_cls,
                                common_args(config, Path(config.output_dir)) | settings,
                                config.trainer_args, where)
    stage.check(examples, trl_args)
    out = check_output_dir(config)  # after the checks: a typo leaves no empty folder
    stage.prepare()
    model, processor, family = load_for_training(config)
    dataset = stage.dataset(examples, processor, family)
    trl_args = build_trl_config(trl_config_cls, common_args(config, out, model) | settings,
                                config.trainer_args, where)
    trainer = trainer_cls(model=model, args=trl_args, train_dataset=dataset,
                          processing_class=processor, callbacks=callbacks,
                          **stage.trainer_kwargs())
    attach_logging(trainer)
    output = trainer.train()
    history = trainer.state.log_history
    metrics = stage.metrics(output, history)
    paths = save_trained(trainer, processor, out, config)
    result = stage.result_cls(output_dir=out, adapter=paths["adapter"], merged=paths.get("merged"),
                              family=family, examples=len(dataset),
                              steps=int(trainer.state.global_step), **metrics,
                              seconds=time.perf_counter() - started)
    write_run_files(out, config, dict(result.__dict__) | {"log": history})
    log.info("%s: %s -> %s", stage.name, stage.summary(result), out)
    return result


__all__ = ["Stage", "TrainResult", "image_feature", "limit_image_pixels", "logged", "run_stage"]
