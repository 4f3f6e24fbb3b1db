"""Stage 3 on CPU: TRL's GRPOTrainer with ShotCrop's rewards on a tiny random-weight Qwen3-VL,
and the dataset rows that feed those rewards (a perfect answer must score top marks through
exactly the columns the trainer passes)."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("peft")

from shotcrop_core.errors import ShotCropError  # noqa: E402
from shotcrop_core.train.config import GrpoConfig, load_config  # noqa: E402
from tiny_vlm import build_tiny_qwen3_vl  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def work(tmp_path_factory, data_dir):
    from shotcrop_core.train.data import draft_from_coco

    root = tmp_path_factory.mktemp("grpo")
    tsc = draft_from_coco(data_dir / "person_keypoints.json", data_dir, root / "tsc.json")
    return {"root": root, "tsc": tsc, "model": build_tiny_qwen3_vl(root / "qwen3"),
            "keypoints": data_dir / "person_keypoints.json"}


def _config(work, out, **extra) -> GrpoConfig:
    base = {"model": str(work["model"]), "train_tsc": str(work["tsc"]), "output_dir": str(out),
            "keypoints": str(work["keypoints"]), "max_steps": 2, "batch_size": 2,
            "grad_accum": 1, "num_generations": 2, "max_completion_length": 8,
            "learning_rate": 1e-3, "warmup": 0, "logging_steps": 1,
            "gradient_checkpointing": False, "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}
    return load_config(None, GrpoConfig, {**base, **extra})


def test_grpo_runs_with_every_reward(work):
    from shotcrop_core.train.grpo import run_grpo
    from shotcrop_core.train.rewards import DEFAULT_WEIGHTS
    from shotcrop_core.vlm.loading import load_vlm

    out = work["root"] / "stage3"
    result = run_grpo(_config(work, out))
    assert result.steps == 2 and result.examples == 2
    # Every reward function ran on every logged step and gave a finite mean in [0, 1].
    names = [n for n in DEFAULT_WEIGHTS if n != "aesthetic"]
    assert sorted(result.rewards) == sorted(names)
    for name, values in result.rewards.items():
        assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values), name
    assert len(result.reward) == 2 and all(math.isfinite(v) for v in result.reward)
    assert result.losses and all(math.isfinite(v) for v in result.losses)
    log = json.loads((out / "train_result.json").read_text())["log"]
    assert any("rewards/joint_safety_reward/mean" in row and "kl" in row for row in log)
    # Only the trained adapter is saved (not TRL's frozen "ref" copy), and it reloads merged.
    assert (result.adapter / "adapter_model.safetensors").is_file()
    assert not (result.adapter / "ref").exists()
    assert load_vlm(result.merged, device="cpu").family == "qwen3_vl"


def test_rows_feed_the_rewards(work, tmp_path):
    """The trainer passes every row column to the rewards: the expert answer itself must get
    full IoU, format and nesting marks, and the aesthetic scorer must see its three crops."""
    from shotcrop_core.train.chat import answer_text, prompt_messages, sample_shots
    from shotcrop_core.train.data import load_training_set
    from shotcrop_core.train.grpo import grpo_dataset, grpo_rows, landmarks, make_aesthetic_scorer
    from shotcrop_core.train.rewards import reward_functions
    from tiny_clip import build_tiny_aesthetic_head, build_tiny_clip

    examples = load_training_set(work["tsc"])
    config = _config(work, tmp_path / "o", aesthetic=str(build_tiny_aesthetic_head(tmp_path / "h")),
                     clip=str(build_tiny_clip(tmp_path / "clip")), device="cpu")
    people = landmarks(examples, config.keypoints)
    assert all(people[str(e.image_path)] for e in examples)  # COCO landmarks per photo
    # "none" only says what to do for photos the file does not name: named ones keep theirs
    as_dicts = lambda found: {k: [p.to_dict() for p in v] for k, v in found.items()}  # noqa: E731
    assert as_dicts(landmarks(examples, config.keypoints, "none")) == as_dicts(people)
    rows = [dict(r) for r in grpo_dataset(grpo_rows(examples, None, "qwen3_vl", config, people))]
    assert rows[0]["prompt"][1]["content"][1]["text"] == \
        prompt_messages("qwen3_vl", reasoning=False)[1]["content"][1]["text"]
    assert rows[0]["image"].size == (examples[0].sample.width, examples[0].sample.height)
    funcs, weights = reward_functions(None, None, aesthetic=make_aesthetic_scorer(config))
    completions = [[{"role": "assistant", "content": answer_text(
        sample_shots(e.sample), e.sample.width, e.sample.height, "qwen3_vl")}] for e in examples]
    columns = {k: [r[k] for r in rows] for k in rows[0] if k != "prompt"}
    scores = {f.__name__: f(prompts=[r["prompt"] for r in rows], completions=completions,
                            **columns) for f in funcs}
    assert all(v > 0.97 for v in scores["iou_reward"])  # grid rounding only
    assert scores["format_reward"] == [1.0, 1.0] and scores["nesting_reward"] == [1.0, 1.0]
    assert all(0.0 < v <= 1.0 for v in scores["aesthetic_reward"])
    assert len(weights) == len(funcs) == 6
    garbage = [[{"role": "assistant", "content": "I see a photo."}]] * len(rows)
    assert all(v == [0.0, 0.0] for v in
               (f(prompts=None, completions=garbage, **columns) for f in funcs))


def test_bad_reward_settings_fail_before_any_model_loads(work, tmp_path):
    from shotcrop_core.train.grpo import run_grpo

    with pytest.raises(ShotCropError, match="unknown reward 'iuo'"):
        run_grpo(_config(work, tmp_path / "a", rewards=["iuo"], model="/nonexistent"))
    with pytest.raises(ShotCropError, match="aesthetic"):
        run_grpo(_config(work, tmp_path / "b", rewards=["iou", "aesthetic"], model="/nonexistent"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()



def test_landmarks_from_the_pose_estimator_without_keypoints(work, tmp_path):
    """No keypoints file: BlazePose (built in, CPU) finds the people, the rows carry them, and
    an answer whose edges run through a joint loses joint-safety marks."""
    from shotcrop_core.anatomy import measure
    from shotcrop_core.shots import Box
    from shotcrop_core.train.chat import answer_text, sample_shots
    from shotcrop_core.train.data import load_training_set
    from shotcrop_core.train.grpo import grpo_dataset, grpo_rows, landmarks
    from shotcrop_core.subject import subject_of_close_up
    from shotcrop_core.train.rewards import joint_safety_reward, people_from_json

    examples = load_training_set(work["tsc"])
    config = _config(work, tmp_path / "o", keypoints=None, device="cpu")
    assert config.perception == "auto"
    people = landmarks(examples, None, config.perception, "cpu")
    assert all(people[str(e.image_path)] for e in examples)
    assert landmarks(examples, None, "none") == {}
    rows = [dict(r) for r in grpo_dataset(grpo_rows(examples, None, "qwen3_vl", config, people))]
    bare = [dict(r) for r in grpo_dataset(grpo_rows(examples, None, "qwen3_vl", config, {}))]
    for ex, row, plain in zip(examples, rows, bare):
        estimated = people_from_json(row["keypoints"])
        assert estimated and plain["keypoints"] == ""
        s = ex.sample
        ref = sample_shots(s)
        # every edge of the triple's bottom runs through one of the subject's joints
        a = measure(estimated[subject_of_close_up(estimated, ref["close_up"][0])])
        jx, jy = max(a.joints, key=lambda j: j[1])
        y1 = round(jy)
        cut = {n: (Box(i * 4, i * 4, s.width - i * 4, y1), d)
               for i, (n, (_, d)) in enumerate(ref.items())}
        assert all(b.x0 <= jx <= b.x1 for b, _ in cut.values())
        answer = [[{"role": "assistant",
                    "content": answer_text(cut, s.width, s.height, "qwen3_vl")}]]

        def score(r):
            columns = {k: [v] for k, v in r.items() if k != "prompt"}
            return joint_safety_reward(prompts=None, completions=answer, **columns)[0]

        assert score(plain) == 1.0  # without landmarks the term is constant
        assert score(row) < 0.9


@pytest.mark.parametrize("extra, message", [
    ({"num_generations": 1}, "num_generations must be at least 2"),
    ({"num_generations": 3}, r"2 x 1 = 2\) must be a multiple of num_generations \(3\)"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"grad_accum": 0}, "grad_accum must be at least 1"),
    ({"learning_rate": 0}, "learning_rate must be a number > 0"),
    ({"max_steps": -1, "epochs": 0}, "epochs must be > 0"),
    ({"device": "cuda:1"}, "CUDA_VISIBLE_DEVICES=1"),
    ({"perception": "openpose"}, "perception must be one of"),
    ({"perception": "keypoints", "keypoints": None}, "perception: keypoints needs a keypoints"),
    # TRL's own checks, run on the settings before the model loads
    ({"trainer_args": {"generation_batch_size": 3}}, "GRPOConfig refused.*divisible"),
    ({"trainer_args": {"no_such_arg": 1}}, "GRPOConfig does not know"),
])
def test_bad_settings_fail_before_any_model_loads(work, tmp_path, extra, message):
    from shotcrop_core.train.grpo import run_grpo

    out = tmp_path / "o"
    with pytest.raises(ShotCropError, match=message):
        run_grpo(_config(work, out, model=str(tmp_path / "no-model"), **extra))
    assert not out.exists()


def test_no_landmarks_warns(work, tmp_path, caplog):
    from shotcrop_core.train.grpo import run_grpo

    with caplog.at_level("WARNING", logger="shotcrop"):
        with pytest.raises(ShotCropError, match="not found"):  # the model: after the warning
            run_grpo(_config(work, tmp_path / "o", keypoints=None, perception="none",
                             model=str(tmp_path / "no-model")))
    assert "joint_safety reward is 1 for every answer" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="shotcrop"):
        with pytest.raises(ShotCropError, match="not found"):
            run_grpo(_config(work, tmp_path / "p", model=str(tmp_path / "no-model")))
    assert "joint_safety" not in caplog.text


def test_aesthetic_file_names_the_head_inside_its_folder(work, tmp_path):
    from shotcrop_core.train.grpo import make_aesthetic_scorer
    from tiny_clip import build_tiny_aesthetic_head, build_tiny_clip

    head = build_tiny_aesthetic_head(tmp_path / "h", filename="head.safetensors")
    build_tiny_aesthetic_head(head, seed=1, filename="other.safetensors")  # two heads: no guessing
    clip = str(build_tiny_clip(tmp_path / "clip"))
    config = _config(work, tmp_path / "o", aesthetic=str(head), clip=clip, device="cpu",
                     aesthetic_file="head.safetensors")
    scorer = make_aesthetic_scorer(config)
    assert scorer.filename == "head.safetensors" and scorer._head is not None
    with pytest.raises(ShotCropError, match="has no model.safetensors"):
        make_aesthetic_scorer(_config(work, tmp_path / "o", aesthetic=str(head), clip=clip,
                                      device="cpu"))
