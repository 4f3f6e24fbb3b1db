"""Typed configs of the training stages, read from JSON or YAML files.

A config file is a mapping whose keys are the fields of one dataclass (`SftConfig`, `GrpoConfig`,
`PseudoConfig`, or any other dataclass); nested dataclasses (`lora:`, `thresholds:`) are
mappings too. Unknown keys, wrong types and missing required fields are `ShotCropError`s that
name the file and the key. `--set key=value` overrides (dotted keys for nested fields) are parsed
as JSON when they can be, else taken as strings. YAML needs PyYAML (a dependency of transformers,
so normally present); JSON always works.

Relative paths in a config are relative to the current directory, like paths on the command line.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

from ..errors import ShotCropError
from ..models import (DEFAULT_AESTHETIC_HEAD, DEFAULT_AESTHETIC_HEAD_FILE, DEFAULT_CLIP,
                      DEFAULT_JUDGE, DEFAULT_VLM)
from ..perception import PERCEPTIONS_OR_NONE
from .lora import LoraSettings

T = TypeVar("T")

#: Marks a field that the file must set (dataclasses need a default after defaulted fields).
REQUIRED = "<required>"


@dataclass
class TrainerSettings:
    """What every stage shares: model, device, optimiser schedule, logging and saving."""

    #: Base model: Hub id or folder (for stage 2 / 3: the previous stage's ``merged`` folder).
    model: str = DEFAULT_VLM
    #: Continue from this LoRA adapter (a stage's output folder or its ``adapter`` folder).
    adapter: str | None = None
    revision: str | None = None
    #: TSC file (docs/tsc-format.md) and which split of it to train on (null: every sample).
    train_tsc: str = REQUIRED
    split: str | None = "train"
    images_root: str | None = None
    output_dir: str = REQUIRED
    #: Overwrite a non-empty output_dir.
    force: bool = False
    #: Think-then-answer examples / prompts (the backend's --reasoning).
    reasoning: bool = False
    #: Aspect spec told to the model, as `shotcrop compose --aspect` takes it (null: none).
    aspects: str | None = None
    #: Upper bound on the pixels the processor gives the model per photo (saved with the
    #: checkpoint, so inference sees photos at the size training did). 1024 x 1024 by default:
    #: a 12 MP photo would otherwise become ~12k image tokens and run out of memory mid-run.
    #: null: the model's own limit. Never raises a processor's own (smaller) limit.
    image_max_pixels: int | None = 1048576
    #: auto, cpu, cuda or mps. No GPU index: the trainer always trains on the first visible
    #: GPU, so pick one with CUDA_VISIBLE_DEVICES=N instead of cuda:N.
    device: str = "auto"
    dtype: str = "auto"  # auto: bf16 on CUDA where supported (else fp16), fp32 on CPU
    attention: str = "sdpa"
    lora: LoraSettings = field(default_factory=LoraSettings)
    learning_rate: float = 1e-4
    epochs: float = 1.0
    #: > 0: stop after this many optimiser steps (overrides epochs).
    max_steps: int = -1
    batch_size: int = 1
    grad_accum: int = 8
    #: Linear warm-up: a fraction of all steps (< 1) or a number of steps (>= 1).
    warmup: float = 0.03
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool = True
    logging_steps: int = 10
    #: Intermediate checkpoints every N steps (0: only the final one).
    save_steps: int = 0
    seed: int = 0
    #: Where TRL reports metrics: "none", "tensorboard", "wandb", ...
    report_to: str = "none"
    #: Write out_dir/merged next to out_dir/adapter at the end.
    merge: bool = True
    #: Extra arguments for TRL's SFTConfig / GRPOConfig, passed as is (advanced).
    trainer_args: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Settings a run would otherwise only trip over after the model has loaded."""
        problems = []

        def need(ok: bool, message: str) -> None:
            if not ok:
                problems.append(message)

        need(self.batch_size >= 1, f"batch_size must be at least 1 (got {self.batch_size})")
        need(self.grad_accum >= 1, f"grad_accum must be at least 1 (got {self.grad_accum})")
        need(math.isfinite(self.learning_rate) and self.learning_rate > 0,
             f"learning_rate must be a number > 0 (got {self.learning_rate})")
        need(self.max_steps > 0 or (math.isfinite(self.epochs) and self.epochs > 0),
             f"epochs must be > 0 (got {self.epochs}), or set max_steps > 0")
        need(math.isfinite(self.warmup) and self.warmup >= 0,
             f"warmup must be >= 0 (got {self.warmup})")
        need(self.logging_steps >= 1,
             f"logging_steps must be at least 1 (got {self.logging_steps})")
        need(self.save_steps >= 0, f"save_steps must be >= 0 (got {self.save_steps})")
        need(self.image_max_pixels is None or self.image_max_pixels > 0,
             f"image_max_pixels must be > 0 or null (got {self.image_max_pixels})")
        index = re.fullmatch(r"cuda:(\d+)", str(self.device).strip().lower())
        if index and int(index.group(1)) != 0:
            problems.append(f"device {self.device}: the trainer always trains on the first visible "
                            "GPU (cuda:0), so a GPU index here would be ignored. Set device: cuda "
                            f"and choose the GPU with CUDA_VISIBLE_DEVICES={index.group(1)}")
        self.lora.check()
        problems += self._stage_problems()
        if problems:
            raise ShotCropError("Training config: " + "; ".join(problems))

    def _stage_problems(self) -> list[str]:
        return []


@dataclass
class SftConfig(TrainerSettings):
    """Stage 1 (CoT-SFT on expert triples) and stage 2 (SFT on kept pseudo-labels)."""

    reasoning: bool = True
    #: Tokens per example (prompt with image tokens + answer); longer ones are cut at the end.
    max_length: int | None = 4096
    #: Train on every annotator's triple of a sample (one example each), not only the first.
    all_annotations: bool = True

    def _stage_problems(self) -> list[str]:
        if self.max_length is not None and self.max_length < 1:
            return [f"max_length must be at least 1, or null (got {self.max_length})"]
        return []


@dataclass
class GrpoConfig(TrainerSettings):
    """Stage 3: GRPO with the shot-localisation rewards (train/rewards.py)."""

    learning_rate: float = 1e-5
    #: Reward names (train/rewards.py); null: all of DEFAULT_WEIGHTS.
    rewards: list[str] | None = None
    #: Weight per reward name, over DEFAULT_WEIGHTS (docs/training.md).
    reward_weights: dict[str, float] | None = None
    #: COCO keypoints of the training photos (matched by file name), for the joint-safety reward.
    keypoints: str | None = None
    #: Landmarks of the photos the keypoints file does not name (all photos without one):
    #: auto (the built-in default, movenet), movenet, blazepose, vitpose, keypoints (the file only)
    #: or none (no pose model: those photos score 1 on joint safety).
    perception: str = "auto"
    #: Aesthetic predictor for the aesthetic reward: "default" (models.py), a Hub id or folder,
    #: or null to leave that reward out.
    aesthetic: str | None = None
    #: The head's file inside that repo / folder.
    aesthetic_file: str = DEFAULT_AESTHETIC_HEAD_FILE
    #: CLIP model under the aesthetic head: "default" (models.py), a Hub id or folder.
    clip: str | None = "default"
    num_generations: int = 8
    max_completion_length: int = 384
    temperature: float = 1.0
    top_p: float = 1.0
    #: KL coefficient against the reference (the starting model); 0 drops the reference pass.
    beta: float = 0.04
    #: PPO clip range.
    epsilon: float = 0.2
    #: Policy updates per generation batch.
    num_iterations: int = 1
    loss_type: str = "dapo"
    #: "group" (GRPO's std normalisation), "batch" or "none" (Dr. GRPO).
    scale_rewards: str = "group"
    log_completions: bool = False

    def _stage_problems(self) -> list[str]:
        out = []
        if self.perception not in PERCEPTIONS_OR_NONE:
            out.append(f"perception must be one of {', '.join(PERCEPTIONS_OR_NONE)} "
                       f"(got {self.perception!r})")
        elif self.perception == "keypoints" and not self.keypoints:
            out.append("perception: keypoints needs a keypoints file (keypoints: "
                       "person_keypoints.json); or use perception: auto to estimate landmarks")
        if self.num_generations < 2:
            out.append(f"num_generations must be at least 2: GRPO compares the answers of one "
                       f"photo with each other (got {self.num_generations})")
        elif not {"generation_batch_size", "steps_per_generation"} & set(self.trainer_args):
            # TRL samples batch_size x grad_accum completions per generation round, in whole
            # groups of num_generations.
            per_round = self.batch_size * self.grad_accum
            if per_round % self.num_generations:
                out.append(f"batch_size x grad_accum ({self.batch_size} x {self.grad_accum} = "
                           f"{per_round}) must be a multiple of num_generations "
                           f"({self.num_generations}), as TRL's GRPOTrainer requires")
        if self.max_completion_length < 1:
            out.append("max_completion_length must be at least 1 "
                       f"(got {self.max_completion_length})")
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            out.append(f"temperature must be > 0 (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            out.append(f"top_p must be in (0, 1] (got {self.top_p})")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            out.append(f"beta must be >= 0 (got {self.beta})")
        if self.num_iterations < 1:
            out.append(f"num_iterations must be at least 1 (got {self.num_iterations})")
        if self.scale_rewards not in ("group", "batch", "none"):
            out.append(f"scale_rewards must be group, batch or none (got {self.scale_rewards!r})")
        return out


# -- stage 2a: pseudo-labels (train/pseudo.py) -------------------------------------------------
#: What a pseudo-label candidate is scored on (train/scorers.py), in this order.
CRITERIA: tuple[str, ...] = ("clip", "aesthetic", "judge")


@dataclass(frozen=True)
class Thresholds:
    """Minimum candidate score per criterion, each in [0, 1] (see docs/training_pseudo.md).

    clip 0.70 = CLIPScore 0.70 (cosine 0.28 under ViT-L/14: a clearly matching caption);
    aesthetic 0.50 = a LAION rating of 5.5 (LAION-Aesthetics V2's subsets cut at 4.5 to 6.5);
    judge 7/9 = a judge grade of 8 out of 10.
    """

    clip: float = 0.70
    aesthetic: float = 0.50
    judge: float = 7 / 9

    def __post_init__(self) -> None:
        for name in CRITERIA:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise ShotCropError(f"threshold {name} must be a number in [0, 1], got {v!r}")


@dataclass
class PseudoConfig:
    """One pseudo-labelling run. Models are Hub ids or folders (defaults: shotcrop_core.models)."""

    images: Path | None = None  # folder of unlabelled photos (required)
    out: Path | None = None  # TSC file to write: kept samples, split "train" (required)
    hard_out: Path | None = None  # JSON list of hard photos; default <out stem>.hard.json
    model: str | None = None  # stage-1 checkpoint (merged folder or Hub id); None: framing only
    samples: int = 4  # draws from the stage-1 model per photo
    seed: int = 0
    temperature: float = 0.7
    reasoning: bool = True  # the stage-1 model is CoT-trained: let it think as in training
    max_new_tokens: int | None = None  # None: the backend's budget
    clip: str = DEFAULT_CLIP
    aesthetic_head: str = DEFAULT_AESTHETIC_HEAD
    aesthetic_file: str = DEFAULT_AESTHETIC_HEAD_FILE
    judge: str = DEFAULT_JUDGE  # "model" reuses the stage-1 model as its own judge
    judge_batch_size: int = 4
    thresholds: Thresholds = field(default_factory=Thresholds)
    keypoints: Path | None = None  # COCO keypoints JSON matched by file name
    #: Landmarks of the photos the keypoints file does not name (all photos without one), as
    #: pipeline.people_source: auto (the built-in movenet) | movenet | blazepose | vitpose | keypoints
    #: (the file only: such a photo is skipped) | none (nobody)
    perception: str = "auto"
    device: str = "auto"
    dtype: str = "auto"
    limit: int | None = None  # only the first N photos (sorted by name)
    force: bool = False

    def __post_init__(self) -> None:
        # Python callers pass strings and a plain thresholds mapping, as a config file does.
        self.images = Path(self.images) if self.images else None
        self.out = Path(self.out) if self.out else None
        if self.hard_out:
            self.hard_out = Path(self.hard_out)
        elif self.out:
            self.hard_out = self.out.with_name(self.out.stem + ".hard.json")
        self.keypoints = Path(self.keypoints) if self.keypoints else None
        if isinstance(self.thresholds, Mapping):
            unknown = set(self.thresholds) - set(CRITERIA)
            if unknown:
                raise ShotCropError(f"unknown threshold(s) {sorted(unknown)}: "
                                    f"use {', '.join(CRITERIA)}")
            self.thresholds = Thresholds(**self.thresholds)
        # Checked when built: run_pseudo takes the config as it is given.
        self.check()

    def check(self) -> None:
        """Settings a run would otherwise trip over; one ShotCropError naming each bad field."""
        problems = []
        what = {"images": "images (the folder of unlabelled photos)",
                "out": "out (the TSC file to write)"}
        missing = [what[k] for k in what if not getattr(self, k)]
        if missing:
            problems.append(f"set {' and '.join(missing)}")
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 0:
            problems.append(f"samples must be an integer >= 0 (got {self.samples!r})")
        if self.out and self.hard_out and self.hard_out.resolve() == self.out.resolve():
            problems.append(f"hard_out and out are the same file ({self.out})")
        if problems:
            raise ShotCropError("pseudo-label config: " + "; ".join(problems))


# -- loading -----------------------------------------------------------------------------------
def read_mapping(path: str | os.PathLike) -> dict:
    """The top-level mapping of a .json / .yaml / .yml file."""
    path = Path(path)
    if not path.is_file():
        raise ShotCropError(f"Config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ShotCropError(f"{path} is not valid JSON: {e}") from e
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as e:
            raise ShotCropError(f"Reading {path} needs PyYAML (the pyyaml package), or write the "
                                "config as .json") from e
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ShotCropError(f"{path} is not valid YAML: {e}") from e
    else:
        raise ShotCropError(f"Config {path}: use a .json, .yaml or .yml file")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ShotCropError(f"Config {path} must be a mapping of settings, not {type(data).__name__}")
    return data


def parse_overrides(items: Sequence[str] | None) -> dict:
    """`["lora.r=8", "max_steps=3"]` -> nested dict, values as JSON where they parse."""
    out: dict = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ShotCropError(f"--set {item!r}: use --set key=value (e.g. --set max_steps=10)")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ShotCropError(f"--set {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return out


def _merge(base: dict, extra: Mapping) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | os.PathLike | None, cls: type[T], overrides: Sequence[str] | Mapping
                | None = None) -> T:
    """An instance of dataclass `cls` from a config file plus overrides (either may be empty)."""
    data = read_mapping(path) if path is not None else {}
    extra = overrides if isinstance(overrides, Mapping) else parse_overrides(overrides)
    where = str(path) if path is not None else "config"
    return from_mapping(cls, _merge(data, extra), where)


def from_mapping(cls: type[T], data: Mapping, where: str = "config") -> T:
    """Build dataclass `cls` from `data`, checking keys and types; errors name `where` and the key."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ShotCropError(f"{where}: unknown setting(s) {', '.join(unknown)}; known: "
                            f"{', '.join(sorted(fields))}")
    kwargs = {name: _coerce(value, hints[name], f"{where}: {name}") for name, value in data.items()}
    obj = cls(**kwargs)
    missing = [f for f in fields if getattr(obj, f) == REQUIRED]
    if missing:
        raise ShotCropError(f"{where}: required setting(s) missing: {', '.join(missing)}")
    return obj


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ShotCropError(f"{where} cannot be null")
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ShotCropError as e:
                errors.append(str(e))
        raise ShotCropError(errors[0] if len(errors) == 1 else f"{where}: unexpected value {value!r}")
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise ShotCropError(f"{where} must be a section (mapping), not {value!r}")
        return from_mapping(hint, value, where)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]  # --set names=a,b
        if not isinstance(value, (list, tuple)):
            raise ShotCropError(f"{where} must be a list, not {value!r}")
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or hint is tuple else items
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise ShotCropError(f"{where} must be a mapping, not {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        raise ShotCropError(f"{where} must be true or false, not {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ShotCropError(f"{where} must be an integer, not {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ShotCropError(f"{where} must be a number, not {value!r}")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ShotCropError(f"{where} must be a string, not {value!r}")
    if hint is Path:
        if isinstance(value, (str, os.PathLike)):
            return Path(value)
        raise ShotCropError(f"{where} must be a path, not {value!r}")
    return value


def to_dict(config: Any) -> dict:
    """The config as plain JSON-able data (saved next to each checkpoint)."""
    def plain(v):
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, Path):
            return str(v)
        return v
    return plain(config)


__all__ = ["CRITERIA", "GrpoConfig", "PseudoConfig", "REQUIRED", "SftConfig",
           "Thresholds", "TrainerSettings", "from_mapping", "load_config", "parse_overrides",
           "read_mapping", "to_dict"]
