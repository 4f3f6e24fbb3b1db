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
from dataclasses import dataclass, field
from typing import Any

from ..errors import ShotCropError
from .config import GrpoConfig
from .trainer import Stage, TrainResult, image_feature, logged, run_stage

log = logging.getLogger("shotcrop")


@dataclass
class GrpoResult(TrainResult):
    """What a GRPO run wrote and how its rewards went."""

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
              device: str = "auto") -> dict[str, list]:
    """Landmarks per training photo (keyed by image path) for the joint-safety reward, from the
    one people source every command uses (`pipeline.people_source`): the keypoint file where it
    names the photo, else what `perception` picks (auto: the built-in BlazePose, loaded only
    when some photo needs it; "keypoints": none; "none": nobody). A photo is decoded only when
    a pose model needs its pixels. A photo whose landmarks cannot be had is logged and gets
    none (its joint-safety reward is then neutral)."""
    from ..imageio import load_image
    from ..pipeline import people_source

    source = people_source(perception, keypoints, device, by_name=True)
    out: dict[str, list] = {}
    if source.empty:
        return out
    for i, ex in enumerate(examples):
        pixels = (lambda path=ex.image_path: load_image(path).image)
        try:
            found = source.find(pixels, i, ex.sample.name,
                                size=(ex.sample.width, ex.sample.height))
        except ShotCropError as e:
            log.warning("GRPO: no landmarks for %s (%s)", ex.sample.name, e)
            continue
        out[str(ex.image_path)] = found.people
    return out


class GrpoStage(Stage):
    """TRL's GRPOTrainer with the reward functions the config names (see the module docstring)."""

    name = "GRPO"
    result_cls = GrpoResult

    def __init__(self, config: GrpoConfig) -> None:
        super().__init__(config)
        # Found by the hooks, in run order: reward names, then landmarks, then reward functions.
        self.names: list[str] | None = None
        self.wants_aesthetic = False
        self.people: dict[str, list] = {}
        self.funcs: list = []

    def trl_classes(self) -> tuple[Any, Any]:
        from trl import GRPOConfig, GRPOTrainer

        return GRPOConfig, GRPOTrainer

    def trl_settings(self) -> dict:
        from .rewards import reward_functions

        config = self.config
        # Rewards first: a bad reward name fails before any model loads.
        self.names = list(config.rewards) if config.rewards is not None else None
        self.wants_aesthetic = bool(config.aesthetic) and (self.names is None
                                                           or "aesthetic" in self.names)
        if self.names is not None and "aesthetic" in self.names and not config.aesthetic:
            raise ShotCropError("rewards lists aesthetic but no aesthetic predictor is set: set "
                                "aesthetic: default (or a Hub id / folder)")
        # (a stand-in scorer: only the names and weights are checked before the models load)
        _, weights = reward_functions(self.names, config.reward_weights,
                                      aesthetic=object() if self.wants_aesthetic else None)
        return dict(num_generations=config.num_generations,
                    max_completion_length=config.max_completion_length,
                    temperature=config.temperature, top_p=config.top_p, beta=config.beta,
                    epsilon=config.epsilon, num_iterations=config.num_iterations,
                    loss_type=config.loss_type, scale_rewards=config.scale_rewards,
                    reward_weights=weights, log_completions=config.log_completions,
                    remove_unused_columns=False)

    def check(self, examples: list, trl_args: Any) -> None:
        config = self.config
        photos = trl_args.generation_batch_size // trl_args.num_generations
        if len(examples) < photos:  # TRL's sampler drops incomplete batches: it would never step
            raise ShotCropError(f"each GRPO step samples {photos} photos (batch_size x grad_accum "
                                f"/ num_generations) but {config.train_tsc} has {len(examples)} "
                                f"in split {config.split!r}; lower batch_size or grad_accum")
        self.people = landmarks(examples, config.keypoints, config.perception, config.device)
        if (self.names is None or "joint_safety" in self.names) and not any(self.people.values()):
            log.warning("GRPO: no training photo has landmarks (keypoints: %s, perception: %s), "
                        "so the joint_safety reward is 1 for every answer and teaches nothing; "
                        "give a keypoints file or perception: auto", config.keypoints,
                        config.perception)

    def prepare(self) -> None:
        from .rewards import reward_functions

        scorer = make_aesthetic_scorer(self.config) if self.wants_aesthetic else None
        self.funcs, _ = reward_functions(self.names, self.config.reward_weights, aesthetic=scorer)

    def dataset(self, examples: list, processor: Any, family: str) -> Any:
        return grpo_dataset(grpo_rows(examples, processor, family, self.config, self.people))

    def trainer_kwargs(self) -> dict:
        return {"reward_funcs": self.funcs}

    def metrics(self, output: Any, history: list[dict]) -> dict:
        rewards = {f.__name__.removesuffix("_reward"): logged(history, f"rewards/{f.__name__}/mean")
                   for f in self.funcs}
        losses = logged(history, "loss")
        bad = [v for v in losses if not math.isfinite(v)]
        if bad:
            raise ShotCropError(f"GRPO diverged: loss {bad[0]}; lower learning_rate or raise beta")
        return {"rewards": rewards, "reward": logged(history, "reward"), "losses": losses}

    def summary(self, result: GrpoResult) -> str:
        reward = f"{result.reward[-1]:.3f}" if result.reward else "n/a"
        return f"{result.steps} steps on {result.examples} photos, reward {reward}"


def run_grpo(config: GrpoConfig, callbacks: list | None = None) -> GrpoResult:
    """GRPO on the TSC training split; saves adapter + merged checkpoint.

    `callbacks`: extra transformers TrainerCallbacks (timing, custom logging).
    """
    return run_stage(GrpoStage(config), callbacks)


__all__ = ["GrpoResult", "GrpoStage", "grpo_dataset", "grpo_rows", "landmarks",
           "make_aesthetic_scorer", "run_grpo"]
