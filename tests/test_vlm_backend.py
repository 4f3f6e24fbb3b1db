"""The VLM engine end to end: tiny random-weight Qwen3-VL and Qwen2.5-VL from the Hub cache,
offline, through `shotcrop compose --engine vlm` in a fresh interpreter; and the path after
generation (parse -> refine with landmarks) on recorded answers in each family's format."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")

from PIL import Image  # noqa: E402

from shotcrop_core import FramingOptions  # noqa: E402
from shotcrop_core import grammar as G  # noqa: E402
from shotcrop_core.anatomy import measure  # noqa: E402
from shotcrop_core.perception.given import load_keypoints  # noqa: E402
from shotcrop_core.vlm.backend import GenerationOptions, VLMEngine  # noqa: E402
from conftest import offline_env  # noqa: E402
from tiny_models import save_to_hub_cache  # noqa: E402
from tiny_vlm import build_tiny_qwen3_vl, build_tiny_qwen25_vl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
PHOTOS = [DATA / "000000234748.jpg", DATA / "000000000790.jpg"]
FAMILIES = {"qwen3_vl": ("Qwen/Qwen3-VL-4B-Instruct", build_tiny_qwen3_vl),
            "qwen2_5_vl": ("Qwen/Qwen2.5-VL-3B-Instruct", build_tiny_qwen25_vl)}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_cli_vlm_offline_both_families(family, tmp_path):
    repo, build = FAMILIES[family]
    save_to_hub_cache(build(tmp_path / "model"), tmp_path / "hf" / "hub", repo)
    env = offline_env(tmp_path / "hf")
    r = subprocess.run([sys.executable, "-m", "shotcrop_core", "compose", *map(str, PHOTOS),
                        "--engine", "vlm", "--model", repo, "--keypoints",
                        str(DATA / "person_keypoints.json"), "--json", "--batch-size", "2",
                        # Random weights never close a JSON answer: 8 new tokens show the
                        # fallback as well as the prompt's budget (384) would, 48x cheaper.
                        "--max-new-tokens", "8",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [Path(x["image"]).name for x in lines] == [p.name for p in PHOTOS]  # one per photo
    for line in lines:
        assert [s["shot"] for s in line["shots"]] == ["establishing", "medium", "close_up"]
        # random weights write garbage, asked once more (the retry with the model's own answer
        # and the error), garbage again: the framing engine's shots, flagged as such
        assert any("could not be used twice" in w for w in line.get("warnings", []))
    assert (tmp_path / "out" / "000000234748_preview.jpg").is_file()


class _Recorded(VLMEngine):
    """The real engine after `generate`: answers come from a list instead of a model."""

    def __init__(self, family, answers):
        loaded = type("L", (), {"family": family})()
        super().__init__(loaded, GenerationOptions(intent=None))
        self._answers = list(answers)
        self.calls = 0

    def _generate(self, images, conversations):
        self.calls += 1
        return [(self._answers.pop(0), resized) for resized in self._resized(images)]

    def _resized(self, images):
        return [(812, 532) if self.loaded.family == "qwen2_5_vl" else im.size for im in images]


QWEN3 = ('{"shots": [{"shot": "establishing", "bbox_2d": [0, 0, 1000, 1000], "description": '
         '"A man leans on a post beside a parked car on a quiet city street."}, {"shot": "medium", '
         '"bbox_2d": [380, 250, 700, 760], "description": "The man from head to thigh, hands in '
         'his pockets."}, {"shot": "close_up", "bbox_2d": [430, 280, 590, 470], "description": '
         '"His face, calm and watchful."}]}')
GARBAGE = "I cannot see the image clearly."


def test_recorded_answer_is_parsed_and_repaired_with_landmarks():
    img = Image.open(PHOTOS[0])
    people = load_keypoints(DATA / "person_keypoints.json").people_for(PHOTOS[0].name)
    eng = _Recorded("qwen3_vl", [QWEN3])
    shots = eng.propose([img], [people], FramingOptions())[0]
    assert shots.source == "vlm" and eng.calls == 1
    assert shots.close_up.description == "His face, calm and watchful."
    boxes = {s.name: tuple(map(float, s.box.to_list())) for s in shots}
    rep = G.check_set(boxes, measure(people[shots.subject.index]), img.width, img.height)
    assert rep.coherent and rep.valid["close_up"], rep.failures


def test_bad_answer_is_asked_again_then_falls_back():
    img = Image.open(PHOTOS[0])
    people = load_keypoints(DATA / "person_keypoints.json").people_for(PHOTOS[0].name)
    eng = _Recorded("qwen3_vl", [GARBAGE, QWEN3])
    shots = eng.propose([img], [people])[0]
    assert eng.calls == 2 and shots.source == "vlm"          # the retry worked
    eng = _Recorded("qwen3_vl", [GARBAGE, GARBAGE])
    shots = eng.propose([img], [people])[0]
    assert shots.source == "framing" and any("could not be used" in w for w in shots.warnings)


def test_batch_results_stay_per_photo():
    imgs = [Image.open(p) for p in PHOTOS]
    kp = load_keypoints(DATA / "person_keypoints.json")
    eng = _Recorded("qwen3_vl", [QWEN3, GARBAGE, GARBAGE])
    out = eng.propose(imgs, [kp.people_for(p.name) for p in PHOTOS])
    assert out[0].source == "vlm" and out[1].source == "framing"
    assert (out[0].width, out[1].width) == (imgs[0].width, imgs[1].width)


def test_vllm_engine_without_vllm_says_what_to_do(tmp_path, capsys):
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
        pytest.skip("vLLM is installed here: the missing-vLLM message cannot be checked")
    except ImportError:
        pass
    from shotcrop_core.cli import main
    rc = main(["compose", str(PHOTOS[0]), "--engine", "vllm", "--keypoints",
               str(DATA / "person_keypoints.json"), "--no-files"])
    err = capsys.readouterr().err
    assert rc == 2 and "install the vllm package" in err and "Traceback" not in err
