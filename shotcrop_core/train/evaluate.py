"""Evaluate checkpoints on a TSC split through the VLM backend, and compare them in one report.

Each checkpoint runs exactly what `shotcrop compose --engine vlm` runs (`VLMEngine.propose`: the
model's answer, one retry, grammar repair with the landmarks when given, the framing engine when
the answer stays unusable), scored with TSC-Bench (`bench.tsc.score_tsc`: per-shot IoU and BDE)
and, with human keypoints, shot validity (`bench.validity`). The model's own answers, before any
repair, are scored too ("raw IoU"), so a gain from training is not hidden by the grammar repair
or by fallbacks to the framing engine.

A training output folder stands for its ``merged`` checkpoint, or, for a run saved with
``merge: false``, for its adapter merged in memory into the base model the adapter names. Each
checkpoint is asked the way its run trained it (think block or not, aspects), read from the
run's train_config.json.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..bench.report import format_table, markdown_table, write_report
from ..bench.tsc import TscDataset, TscResult, score_tsc
from ..bench.validity import ValidityResult, score_validity
from ..errors import ShotCropError
from ..shots import SHOT_NAMES
from ..vlm.backend import VLMEngine
from .data import load_training_set

log = logging.getLogger("shotcrop")

#: Validity metrics shown in the comparison (bench.validity.METRICS names).
VALID = "all valid + coherent"
SAFE = "eye line + no cut"


@dataclass(frozen=True)
class CheckpointResult:
    checkpoint: str
    tsc: TscResult            # the backend's shots (after repair / fallback)
    raw: TscResult            # the model's own answers; unusable ones count as IoU 0, BDE 1
    validity: ValidityResult | None
    fallbacks: int            # photos where the framing engine stood in for the model
    photos: int
    seconds: float
    reasoning: bool = False   # asked to think first
    aspects: str | None = None  # the aspect spec in the prompt
    adapter: bool = False     # an adapter-only run, merged in memory

    def prompt(self) -> str:
        """How the model was asked, for the report."""
        parts = ["think, then answer" if self.reasoning else "direct answer",
                 f"aspects {self.aspects}" if self.aspects else "no aspects"]
        if self.adapter:
            parts.append("adapter merged in memory")
        return ", ".join(parts)

    def row(self) -> list[Any]:
        v = self.validity
        rate = (lambda m: v.rate(m)) if v is not None and v.scored else (lambda m: math.nan)
        return ([self.checkpoint]
                + [self.tsc.shot_iou[n] for n in SHOT_NAMES] + [self.tsc.mean_iou]
                + [self.tsc.shot_bde[n] for n in SHOT_NAMES] + [self.tsc.mean_bde]
                + [self.raw.mean_iou, rate(VALID), rate(SAFE),
                   f"{self.fallbacks}/{self.photos}", self.seconds / max(self.photos, 1)])

    def to_dict(self) -> dict:
        return {"checkpoint": self.checkpoint, "tsc": self.tsc.to_dict(),
                "raw_mean_iou": self.raw.mean_iou, "raw_mean_bde": self.raw.mean_bde,
                "validity": ({m: self.validity.rate(m) for m in self.validity.counts}
                             if self.validity is not None else None),
                "fallbacks": self.fallbacks, "photos": self.photos, "seconds": self.seconds,
                "reasoning": self.reasoning, "aspects": self.aspects, "adapter": self.adapter}


HEADERS = (["checkpoint"] + [f"IoU {n}" for n in SHOT_NAMES] + ["IoU mean"]
           + [f"BDE {n}" for n in SHOT_NAMES] + ["BDE mean"]
           + ["raw IoU", "valid", "eye line + no cut", "fallbacks", "s / photo"])


@dataclass
class EvalReport:
    tsc_path: str
    split: str | None
    results: list[CheckpointResult] = field(default_factory=list)
    keypoints: str | None = None

    def table(self) -> tuple[list[str], list[list[Any]]]:
        return list(HEADERS), [r.row() for r in self.results]

    def text(self) -> str:
        """Aligned plain-text table for the terminal."""
        return format_table(*self.table())

    def markdown(self) -> str:
        """A markdown section comparing the checkpoints, with what each column means."""
        n = self.results[0].photos if self.results else 0
        split = f"split `{self.split}`" if self.split else "all splits"
        lines = [f"{n} photos from `{self.tsc_path}` ({split}); landmarks: "
                 + (f"`{self.keypoints}`" if self.keypoints else "none") + ".", "",
                 markdown_table(*self.table()), "",
                 "- IoU / BDE: TSC-Bench against the expert boxes (higher / lower is better), "
                 "on the backend's shots: the model's answer repaired by the shot grammar, or "
                 "the framing engine's shots where the answer was unusable.",
                 "- raw IoU: the model's own boxes before any repair; an unusable answer "
                 "counts as 0.",
                 f"- valid ('{VALID}') and eye line + no cut: shares of the photos whose shots "
                 "pass those shot-grammar checks against the human keypoints (n/a without "
                 "keypoints).",
                 "- fallbacks: photos whose answer stayed unusable after one retry.",
                 "", "How each checkpoint was asked (from its run's train_config.json unless "
                 "set for the evaluation):", ""]
        lines += [f"- `{r.checkpoint}`: {r.prompt()}" for r in self.results]
        return "\n".join(lines) + "\n"

    def write(self, path: str | os.PathLike, force: bool = False) -> Path:
        """The markdown report as a file (never overwritten unless `force`)."""
        return write_report(path, "ShotCrop checkpoint comparison",
                            [("TSC-Bench", self.markdown())], force=force)

    def to_dict(self) -> dict:
        return {"tsc": self.tsc_path, "split": self.split, "keypoints": self.keypoints,
                "results": [r.to_dict() for r in self.results]}


#: Settings of a training run that change what the model must be asked (train_config.json).
PROMPT_SETTINGS = ("reasoning", "aspects", "image_max_pixels")


@dataclass(frozen=True)
class Checkpoint:
    """What one `--checkpoint` names: the model to load, an adapter to merge into it (runs saved
    with `merge: false`), and the prompt settings its training run used."""

    ref: str
    model: str
    adapter: Path | None = None
    #: reasoning / aspects / image_max_pixels from <run>/train_config.json ({} without one)
    settings: dict = field(default_factory=dict)


def _run_settings(run: Path | None) -> dict:
    path = run / "train_config.json" if run is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ShotCropError(f"{path} is not valid JSON ({e}); fix or delete it") from e
    if not isinstance(data, dict):
        raise ShotCropError(f"{path} must hold a mapping of settings")
    return {k: data[k] for k in PROMPT_SETTINGS if k in data}


def resolve_checkpoint(ref: str | os.PathLike) -> Checkpoint:
    """A model folder, a Hub id, or a training output folder: its ``merged`` checkpoint, else
    its ``adapter`` (merged into the base it names when loaded). A training run's
    train_config.json (in the output folder, beside ``merged/`` and ``adapter/``) gives the
    prompt settings the model was trained with."""
    from .lora import adapter_folder, read_adapter_base

    p = Path(ref).expanduser()
    if not p.is_dir():
        return Checkpoint(os.fspath(ref), os.fspath(ref))
    if (p / "config.json").is_file():  # a model folder; maybe <run>/merged
        run = p.parent if p.name == "merged" else p
        return Checkpoint(os.fspath(ref), str(p), settings=_run_settings(run))
    if (p / "merged" / "config.json").is_file():
        return Checkpoint(os.fspath(ref), str(p / "merged"), settings=_run_settings(p))
    if any((q / "adapter_config.json").is_file() for q in (p, p / "adapter")):
        folder = adapter_folder(p)
        base = read_adapter_base(folder)
        if not base:
            raise ShotCropError(f"{folder}/adapter_config.json names no base model "
                                "(base_model_name_or_path); evaluate a merged checkpoint instead")
        run = folder.parent if folder.name == "adapter" else folder
        return Checkpoint(os.fspath(ref), base, adapter=folder, settings=_run_settings(run))
    return Checkpoint(os.fspath(ref), os.fspath(ref))


def load_checkpoint(checkpoint: Checkpoint, device: Any = "auto", dtype: Any = "auto") -> Any:
    """The checkpoint as a `LoadedVLM` for the VLM backend; an adapter is merged in memory."""
    from ..vlm.loading import load_vlm
    from .trainer import limit_image_pixels

    try:
        loaded = load_vlm(checkpoint.model, device=device, dtype=dtype)
    except ShotCropError as e:
        if checkpoint.adapter is None:
            raise
        raise ShotCropError(f"{checkpoint.ref} holds a LoRA adapter only, trained on "
                            f"{checkpoint.model}, which cannot be loaded here: {e}") from e
    if checkpoint.adapter is not None:
        try:
            from peft import PeftModel
        except ImportError as e:
            raise ShotCropError(f"{checkpoint.ref} holds a LoRA adapter only; applying it needs "
                                "peft: install ShotCrop's train extra, shotcrop[train] (or "
                                "evaluate its merged checkpoint)") from e
        try:
            model = PeftModel.from_pretrained(loaded.model, str(checkpoint.adapter))
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            raise ShotCropError(f"Cannot apply the LoRA adapter {checkpoint.adapter} to "
                                f"{checkpoint.model}: {e}") from e
        model = model.merge_and_unload()  # plain weights again: generation as fast as merged
        model.train(False)  # inference mode (dropout off)
        loaded = dataclasses.replace(loaded, model=model)
    limit_image_pixels(loaded.processor, checkpoint.settings.get("image_max_pixels"))
    return loaded


def _free_memory(device: Any) -> None:
    """Give back a dropped model's memory (call once nothing refers to the model any more)."""
    gc.collect()
    if getattr(device, "type", "") == "cuda":
        import torch

        torch.cuda.empty_cache()


def evaluate_checkpoints(checkpoints: Sequence[str | os.PathLike], tsc_path: str | os.PathLike,
                         split: str | None = "test", keypoints: str | os.PathLike | None = None,
                         device: Any = "auto", batch_size: int = 8, *, dtype: Any = "auto",
                         reasoning: bool | None = None, aspects: str | None = None,
                         max_new_tokens: int | None = None,
                         images_root: str | os.PathLike | None = None,
                         perception: str = "auto") -> EvalReport:
    """Run each checkpoint through the VLM backend on the TSC split and score it.

    Each checkpoint is asked as it was trained: `reasoning` and `aspects` come from its run's
    train_config.json when there is one (stage 1 thinks, stages 2-3 do not); the arguments
    override that for every checkpoint when given (not None). Photos go through the same
    pipeline as `shotcrop bench --engine vlm` (`pipeline.Pipeline`): landmarks for the grammar
    repair from `perception` (`pipeline.people_source`: auto = `keypoints` where it names the
    photo, else the built-in BlazePose), photos decoded one batch at a time. `keypoints` (a COCO
    person_keypoints file, matched by image name) also gives the validity columns.
    `max_new_tokens` overrides the backend's budget.
    """
    from ..framing import FramingOptions
    from ..perception.given import load_keypoints
    from ..pipeline import Pipeline, people_source
    from ..vlm.backend import GenerationOptions

    if not checkpoints:
        raise ShotCropError("no checkpoint to evaluate: give at least one model folder or Hub id")
    if batch_size < 1:
        raise ShotCropError(f"batch_size must be at least 1, got {batch_size}")
    resolved = [resolve_checkpoint(ref) for ref in checkpoints]  # a bad folder fails first
    examples = load_training_set(tsc_path, split, require_descriptions=False,
                                 images_root=images_root)
    data = TscDataset(tuple(e.sample for e in examples), str(tsc_path))
    kp = load_keypoints(keypoints) if keypoints is not None else None
    source = people_source(perception, kp, device, by_name=True)

    report = EvalReport(str(tsc_path), split, keypoints=str(keypoints) if keypoints else None)
    for ck in resolved:
        think = bool(reasoning if reasoning is not None else ck.settings.get("reasoning", False))
        spec = aspects if aspects is not None else ck.settings.get("aspects")
        options = GenerationOptions(reasoning=think, batch_size=int(batch_size),
                                    max_new_tokens=max_new_tokens)
        loaded = load_checkpoint(ck, device=device, dtype=dtype)
        pipe = Pipeline(source, FramingOptions.from_spec(spec), VLMEngine(loaded, options))
        shots, raw, seconds = {}, {}, 0.0
        validity = ValidityResult() if kp is not None else None
        for e, r in zip(examples, pipe.run(e.image_path for e in examples)):
            name = e.sample.name
            if not r.ok:  # not scored: TSC counts it as missing
                log.warning("%s: %s", name, r.error)
                continue
            shots[name], seconds = r.shots, seconds + r.seconds
            if r.raw is not None:
                raw[name] = r.raw
            if validity is not None:
                # The human keypoints, where the file names the photo: the pipeline's people.
                humans = [p for p in r.people if p.n_visible >= 3] \
                    if kp.covers(e.sample.name) else []
                if humans:
                    validity.add(name, score_validity(r.shots, humans))
        report.results.append(CheckpointResult(
            ck.ref, score_tsc(shots, data), score_tsc(raw, data, missing_as_worst=True),
            validity, fallbacks=len(shots) - len(raw), photos=len(examples), seconds=seconds,
            reasoning=think, aspects=spec, adapter=ck.adapter is not None))
        # Drop every reference before the next checkpoint loads: two models never sit in memory.
        device_of = getattr(loaded, "device", None)
        del pipe, loaded
        _free_memory(device_of)
    return report


__all__ = ["Checkpoint", "CheckpointResult", "EvalReport",
           "evaluate_checkpoints", "load_checkpoint", "resolve_checkpoint"]
