"""The vLLM engine on Ray (`--engine vllm --ray`, issue #18): the two CPU stages around
ray.data.llm's vLLM processor, run here as plain objects (vLLM needs a GPU): the prompt stage
asks what `--engine vllm` asks, with the photo scaled to what the model sees; the answer stage
keeps a usable answer's descriptions on grammar-repaired boxes, falls back per photo to the
framing engine's shots for an unusable answer or a failed generation, and passes errors on."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray", reason="Ray is the [scale] extra: pip install -e '.[test]'")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from photo_sets import DATA, copies  # noqa: E402
from shotcrop_core.batch import ComposeRun  # noqa: E402
from shotcrop_core.cli import main  # noqa: E402
from shotcrop_core.pipeline import EngineSpec  # noqa: E402
from shotcrop_core.vlm.backend import GenerationOptions  # noqa: E402
from tiny_vlm import build_tiny_qwen3_vl  # noqa: E402

KP = DATA / "person_keypoints.json"
PHOTOS = ["000000000790.jpg", "000000234748.jpg"]  # the two the keypoint file names
DESCRIPTIONS = {"establishing": "A wide view of the whole street scene around the player.",
                "medium": "The player from the knees up, racket raised.",
                "close_up": "Her face, eyes on the ball."}
ANSWER = json.dumps({"shots": [
    {"shot": "establishing", "bbox_2d": [0, 0, 1000, 1000],
     "description": DESCRIPTIONS["establishing"]},
    {"shot": "medium", "bbox_2d": [250, 100, 750, 800], "description": DESCRIPTIONS["medium"]},
    {"shot": "close_up", "bbox_2d": [400, 100, 600, 400],
     "description": DESCRIPTIONS["close_up"]}]})


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = build_tiny_qwen3_vl(tmp_path_factory.mktemp("vllm_ray") / "vlm")
    return EngineSpec("vllm", str(folder), GenerationOptions(intent="the racket",
                                                             max_new_tokens=64))


def _batch(*names: str, folder: Path = DATA) -> dict:
    return {"image": np.array([str(folder / n) for n in names], dtype=object),
            "index": np.arange(len(names), dtype=np.int64)}


def test_prompt_stage_asks_what_engine_vllm_asks(engine):
    from transformers import AutoProcessor

    from shotcrop_core.scale.llm import PromptActor
    from shotcrop_core.vlm.prompt import task_text

    run = ComposeRun(perception="keypoints", keypoints=str(KP), write=False)
    rows = PromptActor(run, engine)(_batch(PHOTOS[0], "missing.jpg"))
    assert rows["error"][0] is None and "not found" in rows["error"][1]
    system, user = rows["messages"][0]
    assert system["role"] == "system" and user["role"] == "user"
    image, text = user["content"]
    assert text == {"type": "text", "text": task_text("the racket", False, "qwen3_vl", None,
                                                      None)}
    sent = Image.open(io.BytesIO(base64.b64decode(image["image_url"]["url"].split(",", 1)[1])))
    proc = AutoProcessor.from_pretrained(engine.model)
    grid = proc.image_processor(images=[Image.open(DATA / PHOTOS[0]).convert("RGB")],
                                return_tensors="np")["image_grid_thw"][0]
    patch = proc.image_processor.patch_size
    assert sent.size == (grid[2] * patch, grid[1] * patch) == tuple(rows["resized"][0])
    assert rows["sampling_params"][0] == {"max_tokens": 64, "temperature": 0.0, "seed": None}
    assert (rows["width"][0], rows["height"][0]) == Image.open(DATA / PHOTOS[0]).size
    people = json.loads(rows["people"][0])
    assert len(people) == len([a for a in json.loads(KP.read_text())["annotations"]
                               if a["image_id"] == 790])
    assert rows["sampling_params"][1]["max_tokens"] == 1  # an error row skips the model


def test_answer_stage_repairs_or_falls_back_per_photo(engine, tmp_path, capsys):
    from shotcrop_core.scale.llm import AnswerActor, PromptActor

    shoot = tmp_path / "shoot"
    kp = copies(shoot, 2)
    names = [f"c0_{PHOTOS[0]}", f"c0_{PHOTOS[1]}", f"c1_{PHOTOS[0]}", "missing.jpg"]
    run = ComposeRun(perception="keypoints", keypoints=str(kp), out=str(tmp_path / "o"))
    rows = PromptActor(run, engine)(_batch(*names, folder=shoot))
    rows = {k: np.array(v, dtype=object) for k, v in rows.items()}
    rows["generated_text"] = np.array([ANSWER, "no boxes at all", "", ""], dtype=object)
    rows["__inference_error__"] = np.array(["", "", "CUDA out of memory", ""], dtype=object)
    (tmp_path / "o").mkdir()
    out = AnswerActor(run, engine)(rows)
    assert list(out["error"][:3]) == [None] * 3 and "not found" in out["error"][3]
    good, unusable, failed = (json.loads(s) for s in out["shots"][:3])
    assert {s["shot"]: s["description"] for s in good["shots"]} == DESCRIPTIONS
    assert good.get("source") == "vlm" and "fallback" not in good
    # The fallbacks are the framing engine's shots: what plain compose gives these photos.
    assert main(["compose", str(shoot / names[1]), str(shoot / names[2]), "--keypoints",
                 str(kp), "--no-files", "--json"]) == 0
    plain = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    for got, want, why in ((unusable, plain[0], "could not be used once"),
                           (failed, plain[1], "generation failed: CUDA out of memory")):
        assert [s["box"] for s in got["shots"]] == [s["box"] for s in want["shots"]]
        assert [s["description"] for s in got["shots"]] == \
            [s["description"] for s in want["shots"]]
        assert any(why in w for w in got["warnings"])
    # Every photo's files were written (crops, preview, JSON); a JSON holds its row's set.
    assert len(list((tmp_path / "o").iterdir())) == 3 * 5
    stem = Path(names[0]).stem
    assert json.loads((tmp_path / "o" / f"{stem}_shots.json").read_text()) == good


def test_vllm_engine_on_ray_without_vllm_says_what_to_install(engine, tmp_path, capsys):
    pytest.importorskip("ray.data")
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    rc = main(["compose", str(DATA / PHOTOS[0]), "--keypoints", str(KP), "--engine", "vllm",
               "--model", engine.model, "--ray", "local", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "needs vLLM and ray[llm]" in err and "Traceback" not in err


def test_a_photo_the_keypoint_file_does_not_name_says_its_landmarks_were_estimated(engine,
                                                                                   tmp_path):
    """As on every engine: the shots of a photo whose landmarks a pose model estimated because
    the keypoint file does not name it carry that note."""
    pytest.importorskip("torch")
    from shotcrop_core.scale.llm import AnswerActor, PromptActor

    run = ComposeRun(perception="auto", keypoints=str(KP), write=False)
    rows = PromptActor(run, engine)(_batch("000000229358.jpg", PHOTOS[0]))
    rows = {k: np.array(v, dtype=object) for k, v in rows.items()}
    rows["generated_text"] = np.array([ANSWER, ANSWER], dtype=object)
    rows["__inference_error__"] = np.array(["", ""], dtype=object)
    uncovered, covered = (json.loads(s) for s in AnswerActor(run, engine)(rows)["shots"])
    assert any(w.startswith("landmarks estimated by") for w in uncovered["warnings"])
    assert not any(w.startswith("landmarks estimated by") for w in covered.get("warnings", []))
