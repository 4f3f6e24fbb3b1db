"""Pseudo-label scorers (train/scorers.py) on a tiny random-weight CLIP, aesthetic head and VLM,
offline: loading from the Hub cache layout and from folders, refusals, score ranges and mappings,
the pickle converter, and the judge's answer parsing."""

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from shotcrop_core.errors import ModelUnavailableError, ShotCropError  # noqa: E402
from shotcrop_core.framing import compose  # noqa: E402
from shotcrop_core.models import DEFAULT_AESTHETIC_HEAD, DEFAULT_CLIP  # noqa: E402
from shotcrop_core.train.scorers import (AestheticScorer, ClipScorer, JudgeScorer,  # noqa: E402
                                         head_layers, judge_messages, parse_judge, to_unit)
from tiny_clip import (TINY_CLIP_DIM, build_tiny_aesthetic_head, build_tiny_clip,  # noqa: E402
                       tiny_head_state)
from tiny_models import save_to_hub_cache  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
PHOTOS = sorted(DATA.glob("*.jpg"))
TEXTS = ["A man leans on a post beside a parked car on a quiet street.",
         "A woman in a red coat, from the knees up.", "Her face, eyes to the left."]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_scorers")
    return {"clip": build_tiny_clip(root / "clip"),
            "head": build_tiny_aesthetic_head(root / "head")}


@pytest.fixture(scope="module")
def photos():
    return [Image.open(p).convert("RGB") for p in PHOTOS]


@pytest.fixture(scope="module")
def clip(tiny):
    return ClipScorer(str(tiny["clip"]), device="cpu")


def test_clip_similarity_is_clipscore_in_unit_range_and_deterministic(clip, photos):
    sims = clip.similarity(photos, TEXTS)
    assert len(sims) == 3 and all(0.0 <= s <= 1.0 for s in sims)
    assert clip.similarity(photos, TEXTS) == sims  # same input, same scores
    img, txt = clip.image_embeddings(photos), clip.text_embeddings(TEXTS)
    assert torch.allclose(img.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert img.shape == (3, TINY_CLIP_DIM) and clip.dim == TINY_CLIP_DIM
    expected = [min(1.0, max(0.0, 2.5 * c)) for c in (img * txt).sum(-1).tolist()]
    assert sims == pytest.approx(expected, abs=1e-6)
    assert any(0.0 < s < 1.0 for s in sims)  # the mapping is exercised, not only its clamps
    # Pairs are positional: swapping the texts changes the scores.
    assert clip.similarity(photos, TEXTS[::-1]) != sims
    # No description: nothing to match.
    assert clip.similarity(photos[:2], ["", TEXTS[1]])[0] == 0.0
    with pytest.raises(ShotCropError, match="one text per image"):
        clip.similarity(photos, TEXTS[:2])


def test_scorers_load_offline_from_hub_cache_same_as_folder(tiny, photos, clip, offline_hub):
    save_to_hub_cache(tiny["clip"], offline_hub, DEFAULT_CLIP)
    save_to_hub_cache(tiny["head"], offline_hub, DEFAULT_AESTHETIC_HEAD)
    hub_clip = ClipScorer(device="cpu")  # the defaults: DEFAULT_CLIP, DEFAULT_AESTHETIC_HEAD
    hub_aes = AestheticScorer(clip=hub_clip)
    assert hub_clip.similarity(photos, TEXTS) == clip.similarity(photos, TEXTS)
    folder_aes = AestheticScorer(str(tiny["head"]), clip)
    scores = hub_aes.score(photos)
    assert scores == folder_aes.score(photos)
    assert all(0.0 <= s <= 1.0 for s in scores) and len(set(scores)) == 3
    ratings = folder_aes.ratings(photos)
    assert scores == pytest.approx([min(1, max(0, (r - 1) / 9)) for r in ratings])
    # The head file itself works too.
    assert AestheticScorer(str(tiny["head"] / "model.safetensors"), clip).score(photos) == scores


def test_nothing_cached_offline_is_model_unavailable(offline_hub):
    with pytest.raises(ModelUnavailableError, match="hf download openai/clip-vit-large-patch14"):
        ClipScorer(device="cpu").load()
    with pytest.raises(ModelUnavailableError, match=DEFAULT_AESTHETIC_HEAD):
        AestheticScorer(clip=ClipScorer("/nowhere")).load()
    with pytest.raises(ShotCropError, match="folder not found"):
        ClipScorer("./no/such/clip").load()


def test_offline_message_is_the_shared_one(offline_hub, tmp_path):
    # model_files.model_unavailable: the cache, HF_HOME and the way out, as for every loader.
    with pytest.raises(ModelUnavailableError) as info:
        ClipScorer(device="cpu").load()
    msg = str(info.value)
    assert msg.startswith(f"CLIP model '{DEFAULT_CLIP}' is not available")
    assert str(offline_hub) in msg and f"HF_HOME, now {offline_hub.parent}" in msg
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"")
    with pytest.raises(ShotCropError, match="is a file; give the model's folder"):
        ClipScorer(str(weights)).load()


def test_pickle_weights_are_refused(tiny, tmp_path):
    folder = tmp_path / "clip_pickle"
    folder.mkdir()
    (folder / "config.json").write_text((tiny["clip"] / "config.json").read_text())
    (folder / "pytorch_model.bin").write_bytes(b"not unpickled")
    with pytest.raises(ShotCropError, match="pickle"):
        ClipScorer(str(folder)).load()
    pth = tmp_path / "head.pth"
    pth.write_bytes(b"not unpickled")
    with pytest.raises(ShotCropError, match="convert_aesthetic_head"):
        AestheticScorer(str(pth), ClipScorer(str(tiny["clip"]))).load()
    only_pth = tmp_path / "head_folder"
    only_pth.mkdir()
    (only_pth / "sac+logos+ava1-l14-linearMSE.pth").write_bytes(b"not unpickled")
    with pytest.raises(ShotCropError, match="only pickle weights"):
        AestheticScorer(str(only_pth), ClipScorer(str(tiny["clip"]))).load()


def test_head_dim_mismatch_and_wrong_layers_are_clear_errors(clip, tmp_path):
    head = build_tiny_aesthetic_head(tmp_path / "head8", dim=8)
    with pytest.raises(ShotCropError, match=r"expects 8-dim CLIP image embeddings .* gives 16-dim"):
        AestheticScorer(str(head), clip).load()
    state = tiny_head_state(TINY_CLIP_DIM)
    del state["layers.6.weight"], state["layers.6.bias"]  # 64 -> 1 instead of 64 -> 16 -> 1
    with pytest.raises(ShotCropError, match="not a LAION aesthetic-predictor head"):
        head_layers(state, "x.safetensors")
    with pytest.raises(ShotCropError, match="unexpected tensor 'layers.0.scale'"):
        head_layers({**tiny_head_state(4), "layers.0.scale": torch.ones(1)}, "x.safetensors")
    # Any common prefix is fine (ports wrap the MLP in another module).
    assert len(head_layers({"mlp." + k: v for k, v in tiny_head_state(4).items()}, "x")) == 5


def test_to_unit_maps_the_1_to_10_scale():
    assert [to_unit(s) for s in (1, 5.5, 10, 0, 12)] == [0.0, 0.5, 1.0, 0.0, 1.0]


def _converter():
    import importlib.util

    spec = importlib.util.spec_from_file_location("convert_aesthetic_head",
                                                  ROOT / "tools" / "convert_aesthetic_head.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_converter_turns_a_pth_state_dict_into_a_loadable_head(clip, photos, tmp_path, capsys):
    state = tiny_head_state(TINY_CLIP_DIM, seed=3)
    src, dst = tmp_path / "head.pth", tmp_path / "out" / "model.safetensors"
    torch.save({"state_dict": state}, src)
    tool = _converter()
    assert tool.main([str(src), str(dst)]) == 0
    x = clip.image_embeddings(photos)
    for i in (0, 2, 4, 6, 7):
        x = x @ state[f"layers.{i}.weight"].T + state[f"layers.{i}.bias"]
    ratings = AestheticScorer(str(dst), clip).ratings(photos)
    assert ratings == pytest.approx(x.reshape(-1).tolist(), abs=1e-4)
    assert tool.main([str(src), str(dst)]) == 1  # never overwrites without --force
    assert "exists" in capsys.readouterr().err
    # weights_only=True: a pickle that would build an arbitrary object is refused, not run.
    evil = tmp_path / "evil.pth"
    torch.save({"layers.0.weight": torch.ones(2, 2), "x": Path("/")}, evil)
    assert tool.main([str(evil), str(tmp_path / "evil.safetensors")]) == 1
    assert "tensors-only" in capsys.readouterr().err


# -- the judge ---------------------------------------------------------------------------------
@pytest.mark.parametrize("answer, expected", [
    ('{"establishing": 7, "medium": 8, "close_up": 6}', [7, 8, 6]),
    ('```json\n{"establishing": 9, "medium": 4.5, "close-up": 10}\n```', [9, 4.5, 10]),
    ("<think>The medium cuts the knees.</think>\n{'wide': '7/10', 'medium': 3, 'CU': '8'}",
     [7, 3, 8]),
    ('{"scores": [{"shot": "establishing", "score": 6}, {"shot": "medium", "score": 7},'
     ' {"shot": "close_up", "score": 5}]}', [6, 7, 5]),
    ("establishing: 7, medium: 8, close_up: 9", [7, 8, 9]),
    ('{"establishing": 7, "medium": 85, "close_up": true}', [7, None, None]),  # not 1-10
    ('{"establishing": 7}', [7, None, None]),
    ("The crops look fine to me.", [None, None, None]),
    ('{"establishing": "great", "medium": "ok"', [None, None, None]),
    ("", [None, None, None]),
])
def test_parse_judge(answer, expected):
    assert parse_judge(answer) == expected


class _RecordedJudge(JudgeScorer):
    """The real judge after `generate`: answers come from a list."""

    def __init__(self, answers):
        super().__init__(None, batch_size=2)
        self.answers, self.seen = list(answers), []

    def _generate(self, conversations, images):
        self.seen.append([len(ims) for ims in images])
        return [self.answers.pop(0) for _ in conversations]


def _framing_shots(photo):
    from shotcrop_core.perception.given import load_keypoints

    image = Image.open(photo).convert("RGB")
    people = load_keypoints(DATA / "person_keypoints.json").people_for(photo, 0, image.size)
    return image, compose(people, *image.size, image=image)


def test_judge_maps_grades_and_marks_unreadable_answers():
    image, shots = _framing_shots(DATA / "000000234748.jpg")
    judge = _RecordedJudge(['{"establishing": 10, "medium": 1, "close_up": 5.5}', "no idea",
                            '{"medium": 8}'])
    out = judge.score_many([image] * 3, [shots] * 3)
    assert out == [[1.0, 0.0, 0.5], [None, None, None], [None, pytest.approx(7 / 9), None]]
    assert judge.seen == [[3, 3], [3]]  # three crops per triple, batches of two triples
    msgs = judge_messages(shots)
    parts = msgs[1]["content"]
    assert [p["type"] for p in parts].count("image") == 3
    assert shots.close_up.description in parts[4]["text"] and "close_up" in parts[4]["text"]


def test_judge_runs_a_tiny_vlm(tmp_path):
    from shotcrop_core.vlm.loading import load_vlm
    from tiny_vlm import build_tiny_qwen3_vl

    image, shots = _framing_shots(DATA / "000000000790.jpg")
    judge = JudgeScorer(load_vlm(build_tiny_qwen3_vl(tmp_path / "vlm"), device="cpu"),
                        max_new_tokens=8)
    scores = judge.score(image, shots)
    assert len(scores) == 3
    assert all(s is None or (0.0 <= s <= 1.0 and math.isfinite(s)) for s in scores)
