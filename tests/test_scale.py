"""Composing on Ray (issue #18) on a local cluster this test starts (`ray.init(num_cpus=2)`):
the same shot sets and files as `shotcrop compose`, error records for bad photos, listings,
the run's record and --resume, the Python entry on a Ray Dataset, a VLM on the actors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is the [scale] extra: pip install -e '.[test]'")
pytest.importorskip("ray.data")

from photo_sets import DATA, by_image, copies, dev_photos, digests, lines  # noqa: E402
from shotcrop_core.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _compose(capsys, *args) -> tuple[int, list[dict], str]:
    rc = main(["compose", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, lines(out), err


def test_same_shot_sets_and_files_as_compose(tmp_path, capsys):
    folder, kp = dev_photos()
    rc, plain, _ = _compose(capsys, folder, "--keypoints", kp, "--out", tmp_path / "plain",
                            "--json")
    assert rc == 0 and len(plain) == len(list(folder.glob("*.jpg")))
    rc, on_ray, err = _compose(capsys, folder, "--keypoints", kp, "--out", tmp_path / "ray",
                               "--json", "--ray", "local")
    assert rc == 0, err
    assert by_image(on_ray) == by_image(plain)  # same lines, in whatever order they came
    record = lines((tmp_path / "ray" / "shots.jsonl").read_text())
    assert by_image(record) == by_image(plain)
    assert digests(tmp_path / "ray") == digests(tmp_path / "plain")  # crops, previews, JSON


def test_bad_photos_become_error_records(tmp_path, capsys):
    shoot = tmp_path / "shoot"
    kp = copies(shoot, 2)
    (shoot / "broken.jpg").write_bytes((DATA / "000000000790.jpg").read_bytes()[:3000])
    (shoot / "text.jpg").write_text("not a photo")
    listing = tmp_path / "listing.csv"
    names = sorted(p.name for p in shoot.iterdir()) + ["missing.jpg"]
    listing.write_text("id,path\n" + "".join(f"{k},{shoot / n}\n" for k, n in enumerate(names)))
    rc, out, err = _compose(capsys, listing, "--keypoints", kp, "--out", tmp_path / "o",
                            "--json", "--ray", "local")
    assert rc == 1 and "Traceback" not in err
    got = by_image(out)
    assert set(got) == {str(shoot / n) for n in names}
    bad = {Path(k).name: v["error"] for k, v in got.items() if "error" in v}
    assert set(bad) == {"broken.jpg", "text.jpg", "missing.jpg"}
    assert "not found" in bad["missing.jpg"] and "not an image" in bad["text.jpg"]
    assert all(len(v["shots"]) == 3 for v in got.values() if "error" not in v)
    assert by_image(lines((tmp_path / "o" / "shots.jsonl").read_text())) == got
    assert "3 of 7 image(s) failed" in err


def test_record_kept_unless_resumed_and_resume_retries_errors(tmp_path, capsys):
    shoot = tmp_path / "shoot"
    kp = copies(shoot, 2)
    out = tmp_path / "o"
    # A first run that recorded one photo, an error for another and a line cut short.
    first = sorted(shoot.glob("*.jpg"))
    rc, done, _ = _compose(capsys, first[0], "--keypoints", kp, "--out", out, "--json")
    assert rc == 0
    record = out / "shots.jsonl"
    record.write_text(json.dumps(done[0]) + "\n" + json.dumps(
        {"image": str(first[1]), "error": "a failure of an earlier run"}) + '\n{"image": "cut')
    before = record.read_bytes()
    rc, _, err = _compose(capsys, shoot, "--keypoints", kp, "--out", out, "--ray", "local")
    assert rc == 2 and "--resume" in err and record.read_bytes() == before
    kept = digests(out)
    rc, _, err = _compose(capsys, shoot, "--keypoints", kp, "--out", out, "--ray", "local",
                          "--resume", "--json")
    assert rc == 0, err
    final = lines(record.read_text())
    assert [r["image"] for r in final][0] == str(first[0])  # the earlier line stays first
    assert set(by_image(final)) == {str(p) for p in first} and "error" not in str(final)
    assert {k: v for k, v in digests(out).items() if k in kept} == kept  # nothing rewritten


def test_listings_by_format_and_column(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shotcrop_core.errors import ShotCropError
    from shotcrop_core.scale.listing import read_listing

    paths = [str(DATA / "000000000790.jpg"), "s3://bucket/x.jpg", "rel/y.png"]
    pq.write_table(pa.table({"id": [1, 2, 3], "uri": paths}), tmp_path / "l.parquet")
    (tmp_path / "l.csv").write_text("photo,n\n" + "".join(f"{p},{k}\n" for k, p in
                                                           enumerate(paths)))
    (tmp_path / "l.jsonl").write_text("".join(json.dumps({"image": p, "w": 1}) + "\n"
                                              for p in paths))
    (tmp_path / "l.txt").write_text("# a comment\n" + "\n".join(paths) + "\n")
    assert read_listing([str(tmp_path / "l.parquet")])["image"].to_pylist() == paths
    assert read_listing([str(tmp_path / "l.jsonl")])["image"].to_pylist() == paths
    assert read_listing([str(tmp_path / "l.txt")])["image"].to_pylist() == paths
    both = read_listing([str(tmp_path / "l.csv"), str(DATA)], column="photo")
    assert both["image"].to_pylist()[:3] == paths and both["index"].to_pylist() == list(range(6))
    with pytest.raises(ShotCropError, match="which column .* --column"):
        read_listing([str(tmp_path / "l.csv")])
    with pytest.raises(ShotCropError, match="has no column 'nope'"):
        read_listing([str(tmp_path / "l.csv")], column="nope")
    with pytest.raises(ShotCropError, match="holds int64, not paths"):
        read_listing([str(tmp_path / "l.csv")], column="n")
    (tmp_path / "gap.csv").write_text("image\na.jpg\n\nb.jpg\n\"\"\n")
    with pytest.raises(ShotCropError, match="1 row"):
        read_listing([str(tmp_path / "gap.csv")])
    with pytest.raises(ShotCropError, match="listing not found"):
        read_listing([str(tmp_path / "none.parquet")])
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(ShotCropError, match="cannot read the listing"):
        read_listing([str(tmp_path / "bad.parquet")])


def test_parquet_record_holds_the_shot_sets(tmp_path, capsys):
    import pyarrow.parquet as pq

    rc, out, _ = _compose(capsys, DATA, "--keypoints", DATA / "person_keypoints.json",
                          "--perception", "keypoints", "--out", tmp_path / "o", "--json",
                          "--ray", "local", "--records", "parquet")
    assert rc == 1  # the photo the keypoint file does not name
    rows = {r["image"]: r for r in pq.read_table(tmp_path / "o" / "shots.parquet").to_pylist()}
    for r in out:
        row = rows[r["image"]]
        if "error" in r:
            assert row["error"] == r["error"] and row["medium_box"] is None
            continue
        assert json.loads(row["shots"]) == r and row["error"] is None
        for shot in r["shots"]:
            assert row[f"{shot['shot']}_box"] == shot["box"]
            assert row[f"{shot['shot']}_description"] == shot["description"]


def test_python_entry_on_a_ray_dataset(tmp_path):
    """compose_dataset on decoded images (read_images, whose reads need CPUs beside the
    actors) and on paths: the same shot sets as the one-process pipeline."""
    from shotcrop_core.batch import ComposeRun, compose_many
    from shotcrop_core.scale import compose_dataset

    shoot = tmp_path / "shoot"
    kp = copies(shoot, 3)
    run = ComposeRun(perception="keypoints", keypoints=str(kp), write=False)
    want = {Path(o.name).name: o.shots.to_dict() for o in
            compose_many(run, sorted(map(str, shoot.glob("*.jpg"))))}
    images = ray.data.read_images(str(shoot), include_paths=True, mode="RGB")
    rows = compose_dataset(images, run).take_all()
    assert {r["error"] for r in rows} == {None} and len(rows) == len(want)
    got = {Path(r["image"]).name: json.loads(r["shots"]) for r in rows}
    assert {k: {**v, "image": None} for k, v in got.items()} == \
        {k: {**v, "image": None} for k, v in want.items()}
    paths = ray.data.from_items([{"image": str(p)} for p in sorted(shoot.glob("*.jpg"))]
                                + [{"image": str(shoot / "missing.jpg")}])
    rows = compose_dataset(paths, run, workers=1).take_all()
    assert [r["error"] for r in rows if r["shots"] is None] == [
        f"image not found: {shoot / 'missing.jpg'}. Check the path."]
    assert {Path(r["image"]).name: ShotSetDict(r["shots"]) for r in rows if r["shots"]} == \
        {k: ShotSetDict(json.dumps(v)) for k, v in want.items()}


def ShotSetDict(text: str) -> dict:  # noqa: N802  the shot set without its image's path
    d = json.loads(text)
    d.pop("image", None)
    return d


def test_a_model_that_will_not_load_stops_the_run_with_one_error(tmp_path, capsys):
    """vitpose with no Hub cache, offline: every actor fails to start; one clear error."""
    env_keys = ("HF_HUB_OFFLINE", "HF_HOME")
    old = {k: os.environ.get(k) for k in env_keys}
    os.environ.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    try:
        rc, _, err = _compose(capsys, DATA, "--perception", "vitpose", "--out", tmp_path / "o",
                              "--ray", "local")
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    assert rc == 2 and "Traceback" not in err
    assert err.count("a Ray worker could not start") == 1 and "rtdetr" in err.lower()


def test_without_ray_one_clear_error(tmp_path):
    code = ("import sys; sys.modules['ray'] = sys.modules['pyarrow'] = None\n"
            "from shotcrop_core.cli import main\n"
            f"sys.exit(main(['compose', {str(DATA)!r}, '--ray', 'local', '--out', "
            f"{str(tmp_path / 'o')!r}]))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "scale extra, shotcrop[scale]" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "o").exists()


def test_ray_only_flags_without_ray_are_refused(capsys):
    assert main(["compose", str(DATA), "--no-files", "--records", "parquet"]) == 2
    assert "--records parquet is for runs on Ray" in capsys.readouterr().err
    assert main(["compose", str(DATA), "--no-files", "--column", "x"]) == 2
    assert "--column is for runs on Ray" in capsys.readouterr().err


def test_vlm_engine_on_the_actors_gives_what_compose_gives(tmp_path, capsys):
    """--engine vlm: each actor loads its own copy of the model (a tiny random-weight
    Qwen3-VL, greedy): the same lines as the run in one process."""
    pytest.importorskip("transformers")
    from tiny_vlm import build_tiny_qwen3_vl

    model = build_tiny_qwen3_vl(tmp_path / "vlm")
    shoot = tmp_path / "shoot"
    kp = copies(shoot, 2)
    args = [shoot, "--keypoints", kp, "--engine", "vlm", "--model", model, "--device", "cpu",
            "--max-new-tokens", "8", "--batch-size", "2", "--no-files", "--json"]
    rc, plain, _ = _compose(capsys, *args)
    assert rc == 0 and len(plain) == 4
    rc, on_ray, err = _compose(capsys, *args, "--ray", "local", "--workers", "2")
    assert rc == 0, err
    assert by_image(on_ray) == by_image(plain)
    assert all(any("vlm:" in w for w in r["warnings"]) for r in on_ray)  # random weights


def test_a_record_cut_anywhere_resumes_to_one_line_per_photo(tmp_path):
    """The record after a kill: a whole last line without its newline, a line cut short,
    error lines, a photo twice; --resume keeps the first whole line of each finished photo."""
    import pyarrow.parquet as pq

    from shotcrop_core.scale.journal import Journal

    a = {"image": "a.jpg", "width": 90, "height": 60, "subject": None, "shots": [
        {"shot": n, "box": [0, 0, 90 - 20 * k, 60 - 15 * k], "description": n, "aspect": "original",
         "warnings": []} for k, n in enumerate(("establishing", "medium", "close_up"))]}
    b = {"image": "b.jpg", "error": "broken"}
    c = {**a, "image": "c.jpg"}
    record = tmp_path / "shots.jsonl"
    record.write_text(json.dumps(a) + "\n" + json.dumps(b) + "\n" + json.dumps(a) + "\n"
                      + json.dumps(c))  # c: whole, but the kill took its newline
    journal = Journal(tmp_path, "parquet")
    assert journal.open(resume=True) == {"a.jpg", "c.jpg"}
    journal.write([json.dumps(b | {"error": "again"})])
    journal.close()
    assert lines(record.read_text()) == [a, c, b | {"error": "again"}]
    rows = pq.read_table(tmp_path / "shots.parquet").to_pylist()
    assert [(r["image"], r["error"]) for r in rows] == [("a.jpg", None), ("c.jpg", None),
                                                         ("b.jpg", "again")]
    assert rows[0]["close_up_box"] == [0, 0, 50, 30] and rows[2]["medium_box"] is None
    record.write_text(json.dumps(a) + "\n" + '{"image": "d.jp')  # a run killed mid-line
    journal = Journal(tmp_path, "parquet")
    with pytest.raises(Exception, match="--resume"):
        journal.open()
    journal = Journal(tmp_path, "parquet")
    journal.open(force=True)  # start again: the old record goes once the first line comes
    journal.close()
    assert [r["image"] for r in pq.read_table(tmp_path / "shots.parquet").to_pylist()] == \
        ["a.jpg"]  # the cut line is no row


def test_gpus_asked_of_a_cluster_without_them_is_one_error(tmp_path, capsys):
    rc, _, err = _compose(capsys, DATA, "--perception", "keypoints", "--keypoints",
                          DATA / "person_keypoints.json", "--out", tmp_path / "o", "--ray",
                          "local", "--gpus-per-worker", "1")
    assert rc == 2 and "this cluster has no GPU" in err and "Traceback" not in err


def test_a_dataset_without_an_image_column_is_one_error():
    from shotcrop_core.errors import ShotCropError
    from shotcrop_core.scale import compose_dataset

    with pytest.raises(ShotCropError, match=r"no 'image' column \(it has file\)"):
        compose_dataset(ray.data.from_items([{"file": "a.jpg"}]))


def test_relative_paths_on_a_node_without_the_drivers_folder_say_so():
    import numpy as np

    from shotcrop_core.batch import Outcome
    from shotcrop_core.scale.stage import photos_of

    batch = {"image": np.array(["rel/a.jpg", "/abs/b.jpg", "s3://bucket/c.jpg"], dtype=object),
             "index": np.arange(3)}
    got = list(photos_of(batch, away="/home/me/shoot"))
    assert isinstance(got[0], Outcome) and "has no folder /home/me/shoot" in got[0].error
    assert got[1:] == [(1, "/abs/b.jpg"), (2, "s3://bucket/c.jpg")]
    assert list(photos_of(batch)) == [(0, "rel/a.jpg"), (1, "/abs/b.jpg"),
                                      (2, "s3://bucket/c.jpg")]


def test_vllm_stages_through_ray_data(tmp_path, monkeypatch, capsys):
    """compose_with_llm on the cluster, Ray's vLLM processor replaced by a stage that answers
    as a model would (vLLM needs a GPU): the prompts and answers cross Ray Data's blocks
    (Arrow) and come back as shot-set rows; a failed generation falls back per photo."""
    pytest.importorskip("transformers")
    import numpy as np
    import ray.data.llm as rdl
    from tiny_vlm import build_tiny_qwen3_vl

    from shotcrop_core.batch import ComposeRun
    from shotcrop_core.pipeline import EngineSpec
    from shotcrop_core.errors import ShotCropError
    from shotcrop_core.scale.llm import compose_with_llm
    from shotcrop_core.scale.stage import Pool
    from shotcrop_core.vlm.backend import GenerationOptions

    model = build_tiny_qwen3_vl(tmp_path / "vlm")
    answer = json.dumps({"shots": [
        {"shot": n, "bbox_2d": b, "description": f"the {n} shot"} for n, b in
        (("establishing", [0, 0, 1000, 1000]), ("medium", [250, 100, 750, 800]),
         ("close_up", [400, 100, 600, 400]))]})
    seen = {}

    def fake_processor(config, **_):
        seen["config"] = config

        def generate(ds):
            def answer_rows(batch):  # what Ray's vLLM stages add to each row
                texts = [answer if "000000000790" in str(im) else "" for im in batch["image"]]
                return {**batch, "generated_text": np.array(texts, dtype=object),
                        "__inference_error__": np.array(
                            ["" if t else "CUDA out of memory" for t in texts], dtype=object)}
            return ds.map_batches(answer_rows, batch_format="numpy")
        return generate

    monkeypatch.setattr(rdl, "build_processor", fake_processor)
    kp = DATA / "person_keypoints.json"
    run = ComposeRun(perception="keypoints", keypoints=str(kp), write=False)
    photos = ray.data.from_items([{"image": str(DATA / n), "index": k} for k, n in
                                  enumerate(["000000000790.jpg", "000000234748.jpg",
                                             "missing.jpg"])])
    engine = EngineSpec("vllm", str(model), GenerationOptions())
    with pytest.raises(ShotCropError, match="runs vLLM on GPUs, and this cluster has none"):
        compose_with_llm(photos, run, engine)
    rows = {Path(r["image"]).name: r for r in compose_with_llm(
        photos, run, engine, pool=Pool(1, 1.0)).take_all()}  # as if the cluster had a GPU
    assert set(rows["000000000790.jpg"]) == {"image", "index", "shots", "error", "skipped"}
    good = json.loads(rows["000000000790.jpg"]["shots"])
    assert [s["description"] for s in good["shots"]] == \
        ["the establishing shot", "the medium shot", "the close_up shot"]
    fell = json.loads(rows["000000234748.jpg"]["shots"])
    assert any("generation failed: CUDA out of memory" in w for w in fell["warnings"])
    assert "not found" in rows["missing.jpg"]["error"]
    config = seen["config"]
    assert config.model_source == str(model)
    assert config.engine_kwargs["trust_remote_code"] is False
    assert config.engine_kwargs["load_format"] == "safetensors"
