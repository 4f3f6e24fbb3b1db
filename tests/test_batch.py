"""Composing many photos (issue #15): inputs, order, workers, resume, previews, flat memory.

Runs on tests/data (three photos, two with human keypoints) through the real CLI; the
expected outputs are the one-worker run's files and the inputs' own order.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from photo_sets import copies
from shotcrop_core.batch import ComposeRun, compose_many, count_inputs, expand_inputs
from shotcrop_core.cli import main
from shotcrop_core.errors import ShotCropError

DATA = Path(__file__).parent / "data"
KEYPOINTS = DATA / "person_keypoints.json"
COVERED = ["000000000790.jpg", "000000234748.jpg"]   # the photos the keypoint file names


@pytest.fixture
def shoot(tmp_path) -> Path:
    """A folder of 6 photos (the two covered ones, three copies each) plus a keypoint file
    naming every copy, a text file and a non-image."""
    d = tmp_path / "shoot"
    copies(d, 3)  # and tmp_path / "kp.json"
    (d / "notes.txt").write_text("not a photo")
    return d


def _compose(*args: str) -> int:
    return main(["compose", *args])


def test_folders_globs_and_lists_expand_in_order(shoot, tmp_path):
    names = sorted(p.name for p in shoot.glob("*.jpg"))
    assert [Path(p).name for p in expand_inputs([str(shoot)])] == names    # no notes.txt
    assert [Path(p).name for p in expand_inputs([str(shoot / "c1_*.jpg")])] == \
        [n for n in names if n.startswith("c1_")]
    lst = tmp_path / "list.txt"
    lst.write_text(f"# photos\n{shoot / names[3]}\n\n{shoot / names[0]}\n")
    assert [Path(p).name for p in expand_inputs([], str(lst))] == [names[3], names[0]]
    assert count_inputs([str(shoot)], str(lst)) == len(names) + 2
    with pytest.raises(ShotCropError, match="no image file matches"):
        list(expand_inputs([str(shoot / "none_*.jpg")]))
    assert [Path(p).name for p in expand_inputs([str(shoot / "c0_*")])] == \
        [n for n in names if n.startswith("c0_")]                   # a glob keeps images only
    with pytest.raises(ShotCropError, match="cannot read the list"):
        list(expand_inputs([], str(tmp_path / "missing.txt")))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9.jpg\n".encode("latin-1"))
    with pytest.raises(ShotCropError, match="not UTF-8 text"):
        list(expand_inputs([], str(latin)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ShotCropError, match="no photos to compose"):
        count_inputs([str(empty)])


def test_two_workers_write_the_same_files_in_the_same_order(shoot, tmp_path, capsys):
    kp = str(tmp_path / "kp.json")
    outs = {}
    for w in (1, 2):
        out = tmp_path / f"out{w}"
        assert _compose(str(shoot), "--keypoints", kp, "--out", str(out), "--json",
                        "--workers", str(w)) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [Path(x["image"]).name for x in lines] == sorted(p.name for p in shoot.glob("*.jpg"))
        outs[w] = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(outs[1]) == 6 * 5 and outs[1] == outs[2]     # 3 crops, preview, JSON each


def test_a_bad_photo_in_the_middle_does_not_stop_the_workers(shoot, tmp_path, capsys):
    bad = shoot / "c0_zz_broken.jpg"
    bad.write_bytes(b"not a jpeg")
    rc = _compose(str(shoot), "--keypoints", str(tmp_path / "kp.json"), "--out",
                  str(tmp_path / "o"), "--json", "--workers", "2")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 1 and len(lines) == 7
    names = [Path(x["image"]).name for x in lines]
    assert names == sorted(p.name for p in shoot.glob("*.jpg"))        # in input order
    assert "error" in lines[names.index(bad.name)]
    assert sum("shots" in x for x in lines) == 6


def test_resume_skips_finished_photos_and_keeps_their_files(shoot, tmp_path, capsys):
    kp, out = str(tmp_path / "kp.json"), tmp_path / "o"
    assert _compose(str(shoot / "c0_*.jpg"), "--keypoints", kp, "--out", str(out)) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert len(before) == 10
    # Again without --resume: the existing files are refused, nothing is overwritten.
    assert _compose(str(shoot / "c0_*.jpg"), "--keypoints", kp, "--out", str(out)) == 1
    capsys.readouterr()
    assert _compose(str(shoot), "--keypoints", kp, "--out", str(out), "--resume", "--json") == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 4                                          # the 4 not done before
    assert all(not Path(x["image"]).name.startswith("c0_") for x in lines)
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert len(after) == 30 and all(after[k] == v for k, v in before.items())


def test_preview_formats(tmp_path):
    photo = str(DATA / COVERED[1])
    for fmt, want in (("jpg", "000000234748_preview.jpg"), ("png", "000000234748_preview.png")):
        out = tmp_path / fmt
        assert _compose(photo, "--keypoints", str(KEYPOINTS), "--out", str(out),
                        "--preview", fmt) == 0
        files = sorted(p.name for p in out.iterdir())
        assert want in files and len(files) == 5
    out = tmp_path / "none"
    assert _compose(photo, "--keypoints", str(KEYPOINTS), "--out", str(out), "--preview", "none") == 0
    assert not [p for p in out.iterdir() if "preview" in p.name] and len(list(out.iterdir())) == 4
    from PIL import Image

    with Image.open(tmp_path / "jpg" / "000000234748_preview.jpg") as im:
        assert im.format == "JPEG" and max(im.size) <= 1600


def test_bad_arguments_are_one_clear_error(tmp_path, capsys):
    assert _compose("--out", str(tmp_path / "o")) == 2
    assert "give photos, a folder or a glob, or --list FILE" in capsys.readouterr().err
    assert _compose(str(DATA / COVERED[0]), "--workers", "0") == 2
    assert "--workers 0: give 1 or more" in capsys.readouterr().err


def test_memory_stays_flat_over_a_stream(tmp_path):
    """After 10 photos and after 40 (one worker, framing engine, writing files) the Python heap
    holds the same (nothing accumulates per photo), and the peak stays within the garbage the
    cyclic collector leaves between its passes."""
    import gc
    import tracemalloc

    photos = [str(DATA / COVERED[k % 2]) for k in range(40)]
    kept, peaks = [], []
    for n in (4, 10, 40):  # the first run warms caches (fonts, the keypoint file's parse)
        out = tmp_path / f"m{n}"
        run = ComposeRun(out=str(out), perception="keypoints", keypoints=str(KEYPOINTS),
                         force=True)
        gc.collect()
        tracemalloc.start()
        outcomes = sum(o.ok for o in compose_many(run, iter(photos[:n]), workers=1))
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert outcomes == n
        kept.append(current)
        peaks.append(peak)
    assert kept[2] <= kept[1] + 16_384, kept      # 30 more photos: not one more record held
    assert peaks[2] <= 1.3 * peaks[1], peaks


def test_ctrl_c_is_a_message_not_a_traceback(monkeypatch, tmp_path, capsys):
    import shotcrop_core.batch as batch

    def interrupted(*a, **k):
        raise KeyboardInterrupt
        yield  # a generator, like the real one

    monkeypatch.setattr(batch, "compose_many", interrupted)
    assert _compose(str(DATA / COVERED[0]), "--out", str(tmp_path / "o")) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err


def test_a_worker_that_cannot_load_its_model_stops_the_run_with_its_reason(tmp_path, capsys):
    """Two workers asked for a GPU this machine lacks: one clear error from the workers (the
    caller loaded no model of its own), no traceback, nothing written."""
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has the GPU the test asks for")
    out = tmp_path / "o"
    photos = [str(DATA / COVERED[k % 2]) for k in range(4)]
    assert _compose(*photos, "--workers", "2", "--device", "cuda:0", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "device 'cuda:0' is not available here" in err and "Traceback" not in err
    assert not out.exists() or not list(out.iterdir())


def test_a_list_that_can_be_read_once_is_read_once(shoot, tmp_path, capsys):
    """A named pipe (as from `--list <(ls ...)`) is not counted first: its photos are all
    composed."""
    import os
    import threading

    fifo = tmp_path / "photos.fifo"
    os.mkfifo(fifo)
    names = sorted(str(p) for p in shoot.glob("c1_*.jpg"))

    def feed():
        with open(fifo, "w") as f:
            f.write("\n".join(names) + "\n")

    t = threading.Thread(target=feed)
    t.start()
    rc = _compose("--list", str(fifo), "--keypoints", str(tmp_path / "kp.json"), "--out",
                  str(tmp_path / "o"), "--json")
    t.join()
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 0 and [x["image"] for x in lines] == names


def test_resume_tells_photos_of_the_same_name_apart(tmp_path, capsys):
    """a/x.jpg done, b/x.jpg not: --resume must not take b's place as done (it fails on the
    name clash, as without --resume, and says so)."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        shutil.copy(DATA / COVERED[1], tmp_path / d / COVERED[1])
    out = str(tmp_path / "o")
    assert _compose(str(tmp_path / "a" / COVERED[1]), "--keypoints", str(KEYPOINTS),
                    "--out", out) == 0
    rc = _compose(str(tmp_path / "a" / COVERED[1]), str(tmp_path / "b" / COVERED[1]),
                  "--keypoints", str(KEYPOINTS), "--out", out, "--resume", "--json")
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rc == 1 and len(lines) == 1 and "already exists" in lines[0]["error"]
    assert lines[0]["image"].endswith(f"b/{COVERED[1]}")


def test_resume_with_no_files_is_refused(tmp_path, capsys):
    assert _compose(str(DATA / COVERED[0]), "--no-files", "--resume") == 2
    assert "no meaning with --no-files" in capsys.readouterr().err


def test_batches_keep_order_and_skipped_photos_keep_their_place(shoot, tmp_path):
    """The batched in-process path (a VLM, or pose models on a GPU: a real pipeline with
    3-photo chunks here): outcomes in input order, photos already done (--resume) reported in
    their place, the others written."""
    from shotcrop_core.batch import compose_indexed
    from shotcrop_core.pipeline import Pipeline, people_source

    kp, out = str(tmp_path / "kp.json"), tmp_path / "o"
    photos = sorted(str(p) for p in shoot.glob("*.jpg"))
    done = {photos[1], photos[4], photos[5]}
    assert _compose(*sorted(done), "--keypoints", kp, "--out", str(out)) == 0
    run = ComposeRun(out=str(out), perception="keypoints", keypoints=kp, resume=True)
    pipe = Pipeline(people_source("keypoints", kp), keep_images=True, perception_batch=3)
    outcomes = list(compose_indexed(run, pipe, enumerate(photos)))
    assert [o.index for o in outcomes] == list(range(6))
    assert [o.skipped for o in outcomes] == [p in done for p in photos]
    assert all(o.ok for o in outcomes) and len(list(out.iterdir())) == 30


def test_resume_rewrites_a_photo_a_killed_run_left_half_written(shoot, tmp_path, capsys):
    """A photo's JSON is written first as a marker naming it, then its files, then the JSON
    again with its shots. --resume writes again a photo whose JSON is still the marker (a kill
    cut it), or whose shot set is there with a file missing; files without a JSON of ours
    (the user's own, say) are not written over; finished photos are left as they are."""
    kp, out = str(tmp_path / "kp.json"), tmp_path / "o"
    assert _compose(str(shoot), "--keypoints", kp, "--out", str(out)) == 0
    photos = sorted(shoot.glob("*.jpg"))
    cut, lost, users = photos[0], photos[1], photos[2]
    (out / f"{cut.stem}_shots.json").write_text(json.dumps({"image": str(cut), "writing": True}))
    (out / f"{cut.stem}_medium.jpg").write_bytes(b"cut")
    (out / f"{lost.stem}_close_up.jpg").unlink()
    (out / f"{users.stem}_shots.json").unlink()
    (out / f"{users.stem}_medium.jpg").write_bytes(b"the user's own")
    kept = {p: p.stat().st_mtime_ns for p in out.iterdir()
            if not p.name.startswith((cut.stem, lost.stem, users.stem))}
    capsys.readouterr()
    assert _compose(str(shoot), "--keypoints", kp, "--out", str(out), "--resume", "--json") == 1
    lines = {Path(r["image"]).name: r for r in
             (json.loads(x) for x in capsys.readouterr().out.splitlines())}
    assert set(lines) == {cut.name, lost.name, users.name}
    assert "already exists" in lines[users.name]["error"]
    assert (out / f"{users.stem}_medium.jpg").read_bytes() == b"the user's own"
    for p in (cut, lost):
        assert json.loads((out / f"{p.stem}_shots.json").read_text()) == lines[p.name]
    assert (out / f"{cut.stem}_medium.jpg").stat().st_size > 1000
    assert (out / f"{lost.stem}_close_up.jpg").exists()
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
