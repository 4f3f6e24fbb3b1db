"""`shotcrop bench --engine vlm`: a checkpoint scored on a TSC file (IoU, BDE) and, with human
keypoints, on shot validity; a tiny random-weight Qwen3-VL on the photos in tests/data, against
expert triples written by hand (test_bench.EXPERT), offline."""

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from shotcrop_core import pipeline  # noqa: E402
from shotcrop_core.cli import main  # noqa: E402
from shotcrop_core.vlm.backend import GenerationOptions, VLMEngine  # noqa: E402
from test_bench import EXPERT, write_expert_tsc  # noqa: E402
from tiny_vlm import build_tiny_qwen3_vl  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
KEYPOINTS = DATA / "person_keypoints.json"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_vlm")
    tsc = write_expert_tsc(root / "tsc.json")
    return {"model": build_tiny_qwen3_vl(root / "vlm"), "tsc": tsc, "photos": list(EXPERT)}


def _bench(tiny, *extra):
    return main(["bench", "--images", str(DATA), "--tsc", str(tiny["tsc"]), "--engine", "vlm",
                 "--model", str(tiny["model"]), "--device", "cpu", "--max-new-tokens", "4",
                 "--batch-size", "2", *extra])


def _tsc_rows(out):
    """{shot or "mean": (IoU, BDE)} from the printed TSC table."""
    table = out.split("TSC: IoU and BDE")[1].splitlines()[3:7]
    return {line.split()[0]: tuple(map(float, line.split()[1:3])) for line in table}


def test_bench_scores_a_checkpoint_with_keypoints(tiny, tmp_path, capsys, monkeypatch,
                                                 one_torch_thread):
    made, make = [], pipeline.load_engine  # compose's engine loader, watched
    monkeypatch.setattr(pipeline, "load_engine",
                        lambda *a, **k: made.append(make(*a, **k)) or made[-1])
    report = tmp_path / "r.md"
    assert _bench(tiny, "--keypoints", str(KEYPOINTS), "--report", str(report)) == 0
    out = capsys.readouterr().out
    options = made[0].options
    assert (options.max_new_tokens, options.batch_size, options.sampling) == (4, 2, False)
    assert f"shots from vlm model {tiny['model']}" in out
    assert "Shot validity against human keypoints" in out and "all valid + coherent" in out
    assert "TSC: IoU and BDE against expert boxes (2/2 scored)" in out
    # Four new tokens of a random model never make an answer: every photo gets the framing
    # engine's shots on the same human keypoints, so the scores are the framing engine's own.
    assert "2 of 2 photo(s) fell back to the framing engine" in out
    assert all(name in out for name in tiny["photos"])
    assert main(["bench", "--images", str(DATA), "--tsc", str(tiny["tsc"]),
                 "--keypoints", str(KEYPOINTS)]) == 0
    framing = capsys.readouterr().out
    assert _tsc_rows(out) == _tsc_rows(framing) and 0.3 < _tsc_rows(out)["mean"][0] < 0.95
    text = report.read_text()
    assert "## Engine" in text and "2 of 2 photo(s) fell back" in text and "## TSC" in text


def test_bench_scores_a_checkpoint_on_tsc_alone(tiny, capsys, one_torch_thread):
    # No keypoints: the landmarks for the grammar repair come from BlazePose, as in compose.
    assert _bench(tiny) == 0
    out = capsys.readouterr().out
    assert "landmarks from movenet perception" in out and "Shot validity" not in out
    assert "TSC: IoU and BDE against expert boxes (2/2 scored)" in out
    assert "2 of 2 photo(s) fell back" in out
    rows = _tsc_rows(out)
    assert set(rows) == {"establishing", "medium", "close_up", "mean"}
    assert all(0.0 <= iou <= 1.0 and 0.0 <= bde <= 1.0 for iou, bde in rows.values())


class _Recorded(VLMEngine):
    """The real engine after `generate`: answers come from a list instead of a model."""

    def __init__(self, answers):
        super().__init__(type("L", (), {"family": "qwen3_vl"})(), GenerationOptions())
        self.answers_left = list(answers)

    def _generate(self, images, conversations):
        return [(self.answers_left.pop(0), im.size) for im in images]


GOOD = ('{"shots": [{"shot": "establishing", "bbox_2d": [0, 0, 1000, 1000], "description": '
        '"The whole scene."}, {"shot": "medium", "bbox_2d": [300, 200, 700, 800], "description": '
        '"The subject from the waist up."}, {"shot": "close_up", "bbox_2d": [400, 200, 600, '
        '450], "description": "The face."}]}')


def test_bench_counts_only_the_photos_the_model_failed(tiny, monkeypatch, capsys):
    # First photo: a usable answer; second: garbage, then garbage again on the retry.
    engine = _Recorded([GOOD, "no idea", "still no idea"])
    monkeypatch.setattr(pipeline, "load_engine", lambda *a, **k: engine)
    assert _bench(tiny, "--keypoints", str(KEYPOINTS)) == 0
    out = capsys.readouterr().out
    assert engine.answers_left == []
    second = sorted(tiny["photos"])[1]  # bench goes through the COCO file's names in order
    assert ("1 of 2 photo(s) fell back to the framing engine (the model's answer was unusable "
            f"twice): {second}\n") in out
    # The model's own (repaired) shots for the first photo are scored, not the framing engine's.
    assert main(["bench", "--images", str(DATA), "--tsc", str(tiny["tsc"]),
                 "--keypoints", str(KEYPOINTS)]) == 0
    assert _tsc_rows(out) != _tsc_rows(capsys.readouterr().out)
