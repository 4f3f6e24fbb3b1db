"""Stage-2 pseudo-labels (train/pseudo.py): candidate proposal, selection on hand-made score tables,
and whole runs over the photos in tests/data with a tiny VLM, CLIP and aesthetic head, offline."""

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from shotcrop_core.bench.tsc import load_tsc  # noqa: E402
from shotcrop_core.errors import ShotCropError  # noqa: E402
from shotcrop_core.framing import compose  # noqa: E402
from shotcrop_core.models import DEFAULT_AESTHETIC_HEAD, DEFAULT_CLIP  # noqa: E402
from shotcrop_core.perception.given import load_keypoints  # noqa: E402
from shotcrop_core.shots import Box, Shot, ShotSet  # noqa: E402
from shotcrop_core.train.config import PseudoConfig, Thresholds, load_config  # noqa: E402
from shotcrop_core.train.pseudo import (Candidate, Scorers, Scores, propose_candidates,  # noqa: E402
                                        run_pseudo, select)
from shotcrop_core.train.scorers import AestheticScorer, ClipScorer, JudgeScorer  # noqa: E402
from shotcrop_core.vlm.backend import GenerationOptions, VLMEngine  # noqa: E402
from tiny_clip import build_tiny_aesthetic_head, build_tiny_clip  # noqa: E402
from tiny_models import save_to_hub_cache  # noqa: E402
from tiny_vlm import build_tiny_qwen3_vl  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
KEYPOINTS = DATA / "person_keypoints.json"
PHOTOS = sorted(DATA.glob("*.jpg"))


# -- select() on hand-made score tables ------------------------------------------------------
_SHOTS = ShotSet(100, 100, Shot("establishing", Box(0, 0, 100, 100), "wide"),
                 Shot("medium", Box(20, 10, 80, 90), "mid"),
                 Shot("close_up", Box(35, 10, 65, 50), "cu"))


def _cand(source, clip, aesthetic, judge):
    return Candidate(_SHOTS, source, Scores(clip, aesthetic, judge))


HIGH = Thresholds(clip=0.7, aesthetic=0.5, judge=0.7)


def test_select_keeps_the_candidate_best_on_all_three_above_thresholds():
    table = [_cand("vlm:0:0", 0.80, 0.60, 0.80), _cand("vlm:0:1", 0.90, 0.62, 0.85),
             _cand("framing", 0.75, 0.55, 0.90 - 0.1)]
    sel = select(table, HIGH)
    assert sel.kept is table[1] and not sel.hard and "vlm:0:1" in sel.reason


def test_select_keeps_nothing_when_the_best_differs_between_scorers():
    table = [_cand("vlm:0:0", 0.95, 0.60, 0.80), _cand("framing", 0.90, 0.70, 0.90)]
    sel = select(table, HIGH)
    assert sel.kept is None and not sel.hard
    assert "best on all three" in sel.reason and "clip: vlm:0:0" in sel.reason


def test_select_keeps_nothing_when_the_best_is_below_a_threshold():
    table = [_cand("vlm:0:0", 0.95, 0.45, 0.90), _cand("framing", 0.80, 0.40, 0.85)]
    sel = select(table, HIGH)
    assert sel.kept is None and not sel.hard and "aesthetic 0.450 < 0.500" in sel.reason
    assert select(table, Thresholds(0.7, 0.45, 0.7)).kept is table[0]  # ">=" clears


def test_select_marks_hard_when_every_candidate_is_low_on_every_score():
    table = [_cand("vlm:0:0", 0.30, 0.20, 0.10), _cand("framing", 0.69, 0.49, None)]
    sel = select(table, HIGH)
    assert sel.kept is None and sel.hard
    # One score above its threshold anywhere: not hard (just not kept).
    assert not select(table + [_cand("vlm:0:1", 0.1, 0.1, 0.75)], HIGH).hard
    assert select([], HIGH).hard


def test_select_unreadable_judge_is_never_best():
    table = [_cand("vlm:0:0", 0.95, 0.80, None), _cand("framing", 0.90, 0.70, 0.80)]
    assert select(table, HIGH).kept is None
    assert "judge: framing" in select(table, HIGH).reason
    only = [_cand("vlm:0:0", 0.95, 0.80, None)]
    assert select(only, Thresholds(0, 0, 0)).kept is None


def test_select_ties_count_as_best_and_the_first_wins():
    table = [_cand("vlm:0:0", 0.8, 0.6, 0.8), _cand("framing", 0.8, 0.6, 0.8)]
    assert select(table, HIGH).kept is table[0]


def test_thresholds_and_config_are_checked(tmp_path):
    with pytest.raises(ShotCropError, match="threshold judge"):
        Thresholds(judge=8)
    with pytest.raises(ShotCropError, match=r"set images \(.*\) and out"):
        PseudoConfig()
    cfg = PseudoConfig(images=tmp_path, out=tmp_path / "p.json", thresholds={"clip": 0.5})
    assert cfg.thresholds == Thresholds(clip=0.5) and cfg.hard_out == tmp_path / "p.hard.json"
    with pytest.raises(ShotCropError, match="unknown threshold"):
        PseudoConfig(images=tmp_path, out=tmp_path / "p.json", thresholds={"clp": 0.5})
    with pytest.raises(ShotCropError, match="scores"):
        select([Candidate(_SHOTS, "framing")])


def test_pseudo_config_names_the_bad_field(tmp_path):
    good = {"images": str(tmp_path), "out": str(tmp_path / "p.json")}
    with pytest.raises(ShotCropError, match=r"samples must be an integer >= 0 \(got -1\)"):
        PseudoConfig(images=tmp_path, out=tmp_path / "p.json", samples=-1)
    with pytest.raises(ShotCropError, match="samples must be an integer, not 'many'"):
        load_config(None, PseudoConfig, {**good, "samples": "many"})
    with pytest.raises(ShotCropError, match="threshold judge must be a number in"):
        load_config(None, PseudoConfig, {**good, "thresholds": {"judge": 8}})
    with pytest.raises(ShotCropError, match="unknown setting.*sample_count"):
        load_config(None, PseudoConfig, {**good, "sample_count": 2})
    # every problem in one error, each naming its field
    with pytest.raises(ShotCropError, match=r"samples must .*; hard_out and out are the same"):
        PseudoConfig(images=tmp_path, out=tmp_path / "p.json", hard_out=tmp_path / "p.json",
                     samples=-2)
    cfg = load_config(None, PseudoConfig, [f"images={tmp_path}", f"out={tmp_path / 'p.json'}",
                                           "samples=2", "thresholds.clip=0.5"])
    assert (cfg.images, cfg.samples, cfg.thresholds) == (tmp_path, 2, Thresholds(clip=0.5))
    cfg.samples = -3
    with pytest.raises(ShotCropError, match="samples"):
        cfg.check()


# -- candidates ------------------------------------------------------------------------------
ANSWER = ('{"shots": [{"shot": "establishing", "bbox_2d": [0, 0, 1000, 1000], "description": '
          '"A man leans on a post beside a parked car on a quiet city street."}, '
          '{"shot": "medium", '
          '"bbox_2d": [380, 250, 700, 760], "description": "The man from head to thigh, hands in '
          'his pockets."}, {"shot": "close_up", "bbox_2d": [430, 280, 590, 470], "description": '
          '"His face, calm and watchful."}]}')


class _Loaded:
    """Just what VLMEngine reads of a LoadedVLM once generation is replaced."""

    family = "qwen3_vl"

    def __init__(self, answers):
        self.answers, self.options = list(answers), []


class _RecordedEngine(VLMEngine):
    """The real engine after `generate`: answers come from a list."""

    def _generate(self, images, conversations):
        self.loaded.options.append(self.options)
        return [(self.loaded.answers.pop(0), im.size) for im in images]


def _photo(name="000000234748.jpg"):
    image = Image.open(DATA / name).convert("RGB")
    return image, load_keypoints(KEYPOINTS).people_for(DATA / name, 0, image.size)


def test_propose_candidates_samples_the_model_and_adds_the_framing_triple():
    image, people = _photo()
    loaded = _Loaded([ANSWER, ANSWER, "no idea", "still no idea"])  # 3 draws, 1 retry
    engine = _RecordedEngine(loaded, GenerationOptions(reasoning=True))
    cands = propose_candidates(image, people, engine, samples=3, seed=5)
    # The duplicate draw and the unusable one are dropped; the framing triple is always there.
    assert [c.source for c in cands] == ["vlm:5:0", "framing"]
    assert all(o.seed == 5 and o.batch_size == 3 and o.reasoning for o in loaded.options)
    assert cands[0].shots.close_up.description == "His face, calm and watchful."
    assert cands[1].shots == compose(people, *image.size, image=image)
    assert loaded.answers == []
    assert [c.source for c in propose_candidates(image, people, None, samples=3)] == ["framing"]


# -- whole runs ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_pseudo")
    return {"vlm": build_tiny_qwen3_vl(root / "vlm"), "clip": build_tiny_clip(root / "clip"),
            "head": build_tiny_aesthetic_head(root / "head")}


class _RecordedJudge(JudgeScorer):
    """The real judge after `generate`: every answer is `answer`."""

    def __init__(self, answer):
        super().__init__(None)
        self.answer = answer

    def _generate(self, conversations, images):
        return [self.answer] * len(conversations)


def test_run_pseudo_from_hub_ids_with_the_stage1_model_as_judge(tiny, tmp_path, offline_hub):
    save_to_hub_cache(tiny["clip"], offline_hub, DEFAULT_CLIP)
    save_to_hub_cache(tiny["head"], offline_hub, DEFAULT_AESTHETIC_HEAD)
    out = tmp_path / "pseudo.json"
    config = PseudoConfig(images=DATA, out=out, model=str(tiny["vlm"]), judge="model", samples=1,
                          max_new_tokens=8, keypoints=KEYPOINTS, device="cpu", limit=1,
                          thresholds=Thresholds(0.0, 0.0, 0.0))
    result = run_pseudo(config)
    # A random-weight judge writes no grades: no candidate is best on the judge, none is kept;
    # the other scores clear the zero thresholds, so the photo is not hard either.
    assert result.tsc is None and not out.exists()
    assert result.rejected == [PHOTOS[0].name] and result.hard == [] and result.errors == {}
    assert json.loads(config.hard_out.read_text()) == []


def test_run_pseudo_writes_a_tsc_file_of_kept_triples(tiny, tmp_path):
    from shotcrop_core.vlm.loading import load_vlm

    engine = VLMEngine(load_vlm(tiny["vlm"], device="cpu"), GenerationOptions(max_new_tokens=8))
    clip = ClipScorer(str(tiny["clip"]), device="cpu")
    scorers = Scorers(clip, AestheticScorer(str(tiny["head"]), clip),
                      _RecordedJudge('{"establishing": 9, "medium": 8, "close_up": 9}'))
    out = tmp_path / "out" / "pseudo.json"
    config = PseudoConfig(images=DATA, out=out, samples=1, keypoints=KEYPOINTS,
                          thresholds=Thresholds(clip=0.0, aesthetic=0.0, judge=0.8))
    result = run_pseudo(config, engine=engine, scorers=scorers)
    assert result.tsc == out and result.kept == [p.name for p in PHOTOS] and result.photos == 3
    tsc = load_tsc(out)
    assert [s.name for s in tsc.samples] == [p.name for p in PHOTOS]
    people = load_keypoints(KEYPOINTS)
    for sample, photo in zip(tsc.samples, PHOTOS):
        assert sample.split == "train" and (out.parent / sample.image).resolve() == photo.resolve()
        shots = sample.annotations[0].shots
        assert all(shots[n].description for n in shots)
        # The random-weight model's answers are unusable, so the framing triple is the one kept
        # (the photo absent from the keypoint file gets the built-in default's landmarks,
        # framed with the clearance estimated landmarks keep: pipeline.people_source's policy).
        image = Image.open(photo).convert("RGB")
        if photo.name in people.names:
            expected = compose(people.people_for(photo, 0, image.size), *image.size, image=image)
        else:
            from shotcrop_core.framing import FramingOptions
            from shotcrop_core.perception import DEFAULT_BACKEND, get_estimator

            found = get_estimator(DEFAULT_BACKEND, device="cpu").estimate(image)
            expected = compose(found, *image.size, FramingOptions(
                joint_uncertainty=FramingOptions.ESTIMATED), image=image)
        assert {n: shots[n].box for n in shots} == {s.name: s.box for s in expected}
    raw = json.loads(out.read_text())["samples"][0]["pseudo"]
    assert raw["source"] == "framing" and raw["scores"]["judge"] == pytest.approx((26 / 3 - 1) / 9,
                                                                                  abs=1e-4)
    assert json.loads(config.hard_out.read_text()) == []
    with pytest.raises(ShotCropError, match="exists; pass force"):
        run_pseudo(config, engine=engine, scorers=scorers)


class _Fixed:
    """Plain-Python scorers: anything with .similarity / .score plugs in."""

    def __init__(self, value):
        self.value = value

    def similarity(self, images, texts):
        return [self.value] * len(images)

    def score(self, images):
        return [self.value] * len(images)


class _FixedJudge(_Fixed):
    def score(self, image, shots):
        return [self.value] * 3


def test_run_pseudo_lists_hard_photos_and_overwrites_only_with_force(tmp_path):
    out = tmp_path / "pseudo.json"
    out.write_text("old")
    config = PseudoConfig(images=DATA, out=out, samples=0, keypoints=KEYPOINTS, limit=2)
    scorers = Scorers(_Fixed(0.1), _Fixed(0.1), _FixedJudge(0.1))
    with pytest.raises(ShotCropError, match="exists"):
        run_pseudo(config, scorers=scorers)
    assert out.read_text() == "old"
    config.force = True
    result = run_pseudo(config, scorers=scorers)
    assert result.hard == [p.name for p in PHOTOS[:2]] and result.tsc is None
    hard = json.loads(config.hard_out.read_text())
    assert [Path(h["image"]).name for h in hard] == result.hard
    assert hard[0]["candidates"][0]["source"] == "framing"
    assert hard[0]["candidates"][0]["clip"] == pytest.approx(0.1)


def test_run_pseudo_never_replaces_a_file_that_appeared_during_the_run(tmp_path):
    out = tmp_path / "pseudo.json"

    class _Squatter(_Fixed):
        def similarity(self, images, texts):
            out.write_text("another run's")  # written after the up-front check, mid-run
            return super().similarity(images, texts)

    config = PseudoConfig(images=DATA, out=out, samples=0, keypoints=KEYPOINTS, limit=1,
                          thresholds=Thresholds(0.0, 0.0, 0.0))
    with pytest.raises(ShotCropError, match="TSC file .* already exists"):
        run_pseudo(config, scorers=Scorers(_Squatter(0.9), _Fixed(0.9), _FixedJudge(0.9)))
    assert out.read_text() == "another run's"


def test_run_pseudo_fails_fast_when_a_scorer_model_is_missing(tmp_path, offline_hub):
    from shotcrop_core.errors import ModelUnavailableError

    clip = ClipScorer(device="cpu")  # DEFAULT_CLIP: not in the empty offline cache
    scorers = Scorers(clip, AestheticScorer(clip=clip), _FixedJudge(0.5))
    config = PseudoConfig(images=DATA, out=tmp_path / "p.json", samples=0, keypoints=KEYPOINTS)
    with pytest.raises(ModelUnavailableError, match=DEFAULT_CLIP):
        run_pseudo(config, scorers=scorers)  # once, before any photo, not once per photo
    assert not config.hard_out.exists()


def test_pseudo_labels_frame_estimated_landmarks_as_compose_does(tmp_path, capsys):
    """Issue #12 drift 3: with BlazePose landmarks, the framing candidate keeps the clearance
    compose keeps for estimated landmarks (it used to be framed as if they were human labels):
    the kept triple has exactly the boxes `shotcrop compose` writes for the same photo."""
    from shotcrop_core.cli import main

    config = PseudoConfig(images=DATA, out=tmp_path / "p.json", samples=0,
                          perception="blazepose", limit=1, thresholds=Thresholds(0.0, 0.0, 0.0))
    result = run_pseudo(config, scorers=Scorers(_Fixed(0.9), _Fixed(0.9), _FixedJudge(0.9)))
    assert result.kept == [PHOTOS[0].name]
    kept = load_tsc(result.tsc).samples[0].annotations[0].shots
    capsys.readouterr()
    assert main(["compose", str(PHOTOS[0]), "--json", "--no-files", "--perception",
                 "blazepose"]) == 0
    composed = json.loads(capsys.readouterr().out)
    assert {s["shot"]: s["box"] for s in composed["shots"]} == \
        {n: kept[n].box.to_list() for n in ("establishing", "medium", "close_up")}
