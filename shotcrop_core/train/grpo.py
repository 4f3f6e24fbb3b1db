"""Stage 3, GRPO-S: TRL's GRPOTrainer with ShotCrop's shot-localisation rewards.

Each prompt is the backend's own (`chat.prompt_messages`, the photo attached by TRL from the
"image" column); the model samples `num_generations` answers per photo, every reward function
of `rewards.reward_functions` scores each answer from the row's columns
(`rewards.reward_columns`: expert boxes, landmarks, aspects, sizes), and GRPOConfig's
`reward_weights` weighs them. Landmarks for the joint-safety reward come from the keypoints
file for the photos it names, and from the pose estimator (`perception`) for the others. The
policy is the LoRA model; with `beta > 0` TRL keeps a frozen copy of the starting adapter as the
KL reference (the base model itself for a fresh adapter), so no second model is loaded. Start
stage 3 from the stage-2 ``merged`` folder with a fresh adapter, or continue the stage-2 adapter
with `adapter:`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ShotCropError
from .config import GrpoConfig
from .lora import require_training_packages
from .sft import (attach_logging, build_trl_config, check_output_dir, common_args,
                  image_feature, load_for_training, logged, save_trained, write_run_files)

log = logging.getLogger("shotcrop")


@dataclass
class GrpoResult:
    """What a GRPO run wrote and how its rewards went."""

    output_dir: Path
    adapter: Path
    merged: Path | None
    family: str
    examples: int
    steps: int
    #: Reward function name -> its mean at each logging step (before weighting).
    rewards: dict[str, list[float]] = field(default_factory=dict)
    #: Weighted total reward at each logging step.
    reward: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def make_aesthetic_scorer(config: GrpoConfig) -> Any:
    """The aesthetic predictor named in the config (None when the aesthetic reward is off)."""
    if not config.aesthetic:
        return None
    from .scorers import AestheticScorer, ClipScorer

    clip = ClipScorer(device=config.device) if config.clip in (None, "default") else \
        ClipScorer(config.clip, device=config.device)
    head = () if config.aesthetic == "default" else (config.aesthetic,)
    return AestheticScorer(*head, clip=clip, filename=config.aesthetic_file).load()


def grpo_rows(examples: list, processor: Any, family: str, config: GrpoConfig,
              people: dict | None = None) -> list[dict]:
    """One row per photo: the prompt, the photo (path), and the reward columns."""
    from .chat import prompt_messages, resized_size
    from .rewards import reward_columns

    rows = []
    for ex in examples:
        sample = ex.sample
        size = (resized_size(processor, (sample.width, sample.height))
                if family == "qwen2_5_vl" else None)
        prompt = prompt_messages(family, input_size=size, reasoning=config.reasoning,
                                 aspects=config.aspects)
        cols = reward_columns(ex, family, input_size=size,
                              people=(people or {}).get(str(ex.image_path)),
                              aspects=config.aspects)
        rows.append({"prompt": prompt, "image": str(ex.image_path), **cols})
    return rows


def grpo_dataset(rows: list[dict]):
    import datasets

    return datasets.Dataset.from_list(rows).cast_column("image", image_feature(listed=False))


def landmarks(examples: list, keypoints: str | None = None, perception: str = "auto",
              device: Any = "auto") -> dict[str, list]:
    """image path -> persons, for the joint-safety reward.

    The keypoints file (COCO, matched by image name) gives the photos it names; the others get
    the pose estimator `perception` picks (`perception.choose_estimator`: auto = the built-in
    BlazePose), or no landmarks with "keypoints" / "none". The estimator is loaded only when
    some photo needs it.
    """
    from ..perception import choose_estimator

    out: dict[str, list] = {}
    if keypoints:
        from ..perception.given import load_keypoints
        from .data import people_for

        source = load_keypoints(keypoints)  # read once, matched by image name per photo
        for ex in examples:
            people = people_for(ex, source)
            if people is not None:
                out[str(ex.image_path)] = people
    missing = [ex for ex in examples if str(ex.image_path) not in out]
    if not missing or perception in ("keypoints", "none"):
        return out
    from ..imageio import load_image

    estimator = choose_estimator(perception, have_keypoints=False, device=device)
    log.info("GRPO: estimating landmarks with %s on %d photo(s) the keypoints file does not "
             "name", estimator.name, len(missing))
    for ex in missing:
        out[str(ex.image_path)] = estimator.estimate(load_image(ex.image_path).image)
    return out


def run_grpo(config: GrpoConfig, callbacks: list | None = None) -> GrpoResult:
    """GRPO on the TSC training split; saves adapter + merged checkpoint.

    `callbacks`: extra transformers TrainerCallbacks (timing, custom logging).
    """
    require_training_packages()
    from trl import GRPOConfig as TrlGrpoConfig
    from trl import GRPOTrainer

    from .data import load_training_set
    from .rewards import reward_functions

    started = time.perf_counter()
    config.check()
    examples = load_training_set(config.train_tsc, split=config.split,
                                 images_root=config.images_root)
    # Rewards first: a bad reward name fails before any model loads.
    names = list(config.rewards) if config.rewards is not None else None
    wants_aesthetic = config.aesthetic and (names is None or "aesthetic" in names)
    if names is not None and "aesthetic" in names and not config.aesthetic:
        raise ShotCropError("rewards lists aesthetic but no aesthetic predictor is set: set "
                            "aesthetic: default (or a Hub id / folder)")
    # (a stand-in scorer: only the names and weights are checked before the models load)
    _, weights = reward_functions(names, config.reward_weights,
                                  aesthetic=object() if wants_aesthetic else None)
    stage = dict(num_generations=config.num_generations,
                 max_completion_length=config.max_completion_length,
                 temperature=config.temperature, top_p=config.top_p, beta=config.beta,
                 epsilon=config.epsilon, num_iterations=config.num_iterations,
                 loss_type=config.loss_type, scale_rewards=config.scale_rewards,
                 reward_weights=weights, log_completions=config.log_completions,
                 remove_unused_columns=False)
    # TRL's own checks of the settings, before minutes of model loading.
    trl_args = build_trl_config(TrlGrpoConfig, common_args(config, Path(config.output_dir)) | stage,
                                config.trainer_args, "GRPO config")
    photos = trl_args.generation_batch_size // trl_args.num_generations
    if len(examples) < photos:  # TRL's sampler drops incomplete batches: it would never step
        raise ShotCropError(f"each GRPO step samples {photos} photos (batch_size x grad_accum / "
                            f"num_generations) but {config.train_tsc} has {len(examples)} in split "
                            f"{config.split!r}; lower batch_size or grad_accum")
    people = landmarks(examples, config.keypoints, config.perception, config.device)
    if (names is None or "joint_safety" in names) and not any(people.values()):
        log.warning("GRPO: no training photo has landmarks (keypoints: %s, perception: %s), so "
                    "the joint_safety reward is 1 for every answer and teaches nothing; give a "
                    "keypoints file or perception: auto", config.keypoints, config.perception)
    out = check_output_dir(config)  # after the checks: a typo leaves no empty folder
    scorer = make_aesthetic_scorer(config) if wants_aesthetic else None
    funcs, weights = reward_functions(names, config.reward_weights, aesthetic=scorer)

    model, processor, family = load_for_training(config)
    dataset = grpo_dataset(grpo_rows(examples, processor, family, config, people))
    trl_args = build_trl_config(TrlGrpoConfig, common_args(config, out, model) | stage,
                                config.trainer_args, "GRPO config")
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=trl_args, train_dataset=dataset,
                          processing_class=processor, callbacks=callbacks)
    attach_logging(trainer)
    trainer.train()
    history = trainer.state.log_history
    rewards = {f.__name__.removesuffix("_reward"): logged(history, f"rewards/{f.__name__}/mean")
               for f in funcs}
    losses = logged(history, "loss")
    bad = [v for v in losses if not math.isfinite(v)]
    if bad:
        raise ShotCropError(f"GRPO diverged: loss {bad[0]}; lower learning_rate or raise beta")
    paths = save_trained(trainer, processor, out, config)
    result = GrpoResult(output_dir=out, adapter=paths["adapter"], merged=paths.get("merged"),
                        family=family, examples=len(dataset),
                        steps=int(trainer.state.global_step), rewards=rewards,
                        reward=logged(history, "reward"), losses=losses,
                        seconds=time.perf_counter() - started)
    write_run_files(out, config, dict(result.__dict__) | {"log": history})
    log.info("GRPO: %d steps on %d photos, reward %s -> %s", result.steps, result.examples,
             f"{result.reward[-1]:.3f}" if result.reward else "n/a", out)
    return result


__all__ = ["GrpoResult", "grpo_dataset", "grpo_rows", "landmarks", "make_aesthetic_scorer",
           "run_grpo"]
