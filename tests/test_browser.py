"""The shot editor in the real ComfyUI frontend: headless Chromium driven by playwright-core.

Needs COMFYUI_DIR=/path/to/ComfyUI, a Chromium (`apt-get install chromium`, or SHOTCROP_CHROMIUM
naming another binary) and the npm package playwright-core (`npm install playwright-core` in a
folder given by SHOTCROP_PLAYWRIGHT_DIR, or in this repository's ./node_modules). Nothing is
installed by the test; it skips, saying what is missing. SHOTCROP_VUE_NODES=1 runs the session
with the frontend's Vue node rendering on (default 0: the LiteGraph canvas); the frontend served
is ComfyUI's own unless SHOTCROP_FRONTEND_ROOT names another (see comfy_server.start_server).

tests/browser/drive.mjs loads Image -> Load ShotCrop -> Triple-Shot Compose -> Edit Shots ->
Crop By Shot -> SaveImage into the page and, in one session: loads it with corrupt saved editor
states (and one in the previous version's string format), queues it, checks the overlay and the
compact state saved with the workflow,
resizes the close-up box, queues again, feeds the editor descriptions holding HTML, reloads the
page, queues with nothing changed (Compose answered from ComfyUI's cache, which sends it no UI
output), moves the close-up box and queues once more; this module checks the results through
/history and the files. Screenshots land in the test's tmp folder (printed on failure).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from comfy_server import comfyui_dir_or_skip, skip_or_fail, start_server

ROOT = Path(__file__).resolve().parent.parent
PHOTO = Path(__file__).resolve().parent / "data" / "000000000790.jpg"
DRIVER = Path(__file__).resolve().parent / "browser" / "drive.mjs"
COMFYUI_DIR = comfyui_dir_or_skip("main.py", "browser tests")
CHROMIUM = os.environ.get("SHOTCROP_CHROMIUM", "/usr/bin/chromium")
WAIT_MS = 240_000  # each wait inside the driver
DRIVER_TIMEOUT = 600  # s for the whole driver run
XSS = "<img src=x onerror=alert(1)>"
VUE_NODES = os.environ.get("SHOTCROP_VUE_NODES", "0").strip() == "1"
RUN_MSG = "Run the workflow to edit the shots."


def _playwright_dir() -> Path | None:
    for d in (os.environ.get("SHOTCROP_PLAYWRIGHT_DIR"), ROOT):
        if d and (Path(d) / "node_modules" / "playwright-core" / "package.json").is_file():
            return Path(d)
    return None


def _why_skip() -> str | None:
    if not shutil.which("node"):
        return "browser tests need Node.js (`node` on PATH)"
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"browser tests need Chromium at {CHROMIUM}: `apt-get install chromium`, or set "
                "SHOTCROP_CHROMIUM to the browser binary")
    if _playwright_dir() is None:
        return ("browser tests need the npm package playwright-core: `npm install "
                "playwright-core` in a folder named by SHOTCROP_PLAYWRIGHT_DIR (or in this "
                "repository, giving ./node_modules)")
    return None


if (_reason := _why_skip()) is not None:
    skip_or_fail(_reason)  # fails instead where CI requires ComfyUI



@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    return start_server(COMFYUI_DIR, tmp_path_factory, request)


def _prompt(image_name: str) -> dict:
    """API format: one crop of the close-up, taken after Edit Shots (revalidate off, so the
    crop is exactly the box dragged in the browser)."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image_name}},
        "2": {"class_type": "ShotCropLoadModel",
              "inputs": {"backend": "framing: BlazePose (built in, no download)",
                         "device": "auto", "dtype": "auto", "attention": "sdpa",
                         "quantization": "none", "keep_loaded": "keep"}},
        "3": {"class_type": "ShotCropTripleShotCompose",
              "inputs": {"image": ["1", 0], "model": ["2", 0], "establishing_aspect": "16:9",
                         "medium_aspect": "4:5", "close_up_aspect": "1:1", "intent": "",
                         "subject_index": -1, "seed": 0}},
        "4": {"class_type": "ShotCropEditShots",
              "inputs": {"shots": ["3", 0], "overrides": "", "revalidate": False}},
        "5": {"class_type": "ShotCropCropByShot",
              "inputs": {"image": ["1", 0], "shots": ["4", 0], "shot": "close_up",
                         "fit": "native", "width": 1024, "height": 1024, "long_side": 1024,
                         "snap": "1", "pad_color": "", "batch_rule": "first"}},
        "6": {"class_type": "SaveImage",
              "inputs": {"images": ["5", 0], "filename_prefix": "ShotCrop/browser"}},
    }


@pytest.fixture(scope="module")
def drive(server, tmp_path_factory):
    """Run the browser session once; the tests below read its result."""
    out = tmp_path_factory.mktemp("browser")
    prompt_path = out / "prompt.json"
    prompt_path.write_text(json.dumps(_prompt(server.upload(PHOTO))))
    env = dict(os.environ, SHOTCROP_URL=server.url, SHOTCROP_PROMPT=str(prompt_path),
               SHOTCROP_OUT=str(out), SHOTCROP_PW_DIR=str(_playwright_dir()),
               SHOTCROP_CHROMIUM=CHROMIUM, SHOTCROP_TIMEOUT=str(WAIT_MS),
               SHOTCROP_VUE_NODES="1" if VUE_NODES else "0")
    # Own process group, so a timeout kills Chromium along with Node.
    proc = subprocess.Popen(["node", str(DRIVER)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        stdout, stderr = proc.communicate()
        pytest.fail(f"drive.mjs ran past {DRIVER_TIMEOUT} s:\n{stderr[-3000:]}\n"
                    + server.log()[-3000:])
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    assert proc.returncode == 0, (f"drive.mjs failed ({proc.returncode}); artefacts in {out}:\n"
                                  f"{stderr[-4000:]}\nserver log:\n{server.log()[-3000:]}")
    result = json.loads((out / "result.json").read_text())
    result["out"] = out
    return result


def _history(server) -> list[dict]:
    """Finished prompts, oldest first."""
    entries = list(server.get_json("/history").values())
    return sorted(entries, key=lambda e: e["prompt"][0])


def _runs(server) -> list[dict]:
    return [e for e in _history(server)
            if any(n["class_type"] == "ShotCropEditShots" for n in e["prompt"][2].values())]


def _node_id(run: dict, class_type: str) -> str:
    return next(k for k, n in run["prompt"][2].items() if n["class_type"] == class_type)


def _close_up(sets: list) -> list[int]:
    (s,) = sets
    return next(x["box"] for x in s["shots"] if x["shot"] == "close_up")


def _shows_editor(state: dict, where: str) -> None:
    """The editor shows the shot set with its overlay on screen, not the empty-editor hint."""
    assert state["sets"] and len(state["sets"]) == 1, (where, state)
    assert state["drawn"] == "1", (where, state)
    assert state["status"] != RUN_MSG and "Drag a box" in state["status"], (where, state)
    assert state["image_loaded"], (where, state)
    assert state["on_top"], (where, "the overlay is hidden or covered", state["rect"])
    r = state["rect"]
    assert r["x1"] - r["x0"] > 20 and r["y1"] - r["y0"] > 20, (where, r)


def _overrides_shown(state: dict, where: str) -> None:
    """The Edit Shots overrides text on the page (not only the widget value) is the new one."""
    assert state["overrides_shown"], (where, "no visible overrides text box")
    assert set(state["overrides_shown"]) == {state["overrides"]}, (where, state["overrides"],
                                                                  state["overrides_shown"])


def test_the_session_ran_in_the_requested_mode(drive):
    assert drive["vue_nodes"] is VUE_NODES
    if drive.get("vue_setting") is not None:
        assert drive["vue_setting"] is VUE_NODES, drive["vue_setting"]
    assert drive["vue_dom_nodes"] == VUE_NODES, drive["vue_dom_nodes"]


def test_overlay_shows_the_three_boxes_and_descriptions(drive):
    before = drive["before"]
    _shows_editor(before, "first run")
    assert before["source"] == "executed"
    (s,) = before["sets"]
    assert [x["shot"] for x in s["shots"]] == ["establishing", "medium", "close_up"]
    assert len(before["descriptions"]) == 3
    assert before["overrides"] == ""
    colours = {"establishing": "#56B4E9", "medium": "#E69F00", "close_up": "#CC79A7"}
    for shot, hex_ in colours.items():  # render.py's SHOT_COLORS, on the canvas
        want = [int(hex_[i:i + 2], 16) for i in (1, 3, 5)]
        best = min(sum(abs(a - b) for a, b in zip(px, want)) for px in before["edge_rgb"][shot])
        assert best <= 40, (shot, before["edge_rgb"][shot], want)
    assert (drive["out"] / "overlay.png").stat().st_size > 10_000


def _boxes(sets: list) -> list:
    return [[[x["shot"], x["box"]] for x in s["shots"]] for s in sets]


def test_the_saved_state_is_a_small_object_with_the_boxes_of_the_run(drive):
    saved = drive["before"]["saved"]
    assert saved["type"] == "object", saved
    assert 0 < saved["bytes"] < 64 * 1024, saved
    assert saved["boxes"] == _boxes(drive["before"]["sets"]), saved
    assert all(set(k) <= {"width", "height", "fallback", "shots"} for k in saved["keys"]), saved
    assert set(saved["shot_keys"]) <= {"shot", "box", "description"}, saved
    assert drive["reloaded"]["saved"]["boxes"] == saved["boxes"]


def test_a_corrupt_saved_state_is_ignored_without_errors(drive):
    assert len(drive["corrupt"]) >= 10
    for name, state in drive["corrupt"].items():
        assert state["editor"] and state["sets"] == 0 and state["source"] == "none", (name, state)
        assert state["status"] == RUN_MSG and state["drawn"] == "0", (name, state)
    # Errors and uncaught exceptions while those loaded; the frontend's own background fetches
    # failing offline (templates, model downloads, release check) are not about this.
    errors = [e for e in drive["corrupt_console_errors"]
              if not e.startswith("Failed to load resource") or "shotcrop" in e.lower()]
    assert errors == [], drive["corrupt_console_errors"]
    # restore() is guarded: a warning that it threw would mean the validation missed a case.
    assert not [w for w in drive["shotcrop_warnings"] if "could not" in w], \
        drive["shotcrop_warnings"]


def test_shots_over_the_cap_are_not_saved_and_the_editor_says_so(drive):
    state = drive["too_big"]
    assert state["sets"] == 1 and not state["saved"], state
    assert "will not survive a reload" in state["status"], state


def test_the_previous_string_format_is_read_and_converted(drive):
    state = drive["old_format"]
    assert state["source"] == "saved" and state["sets"] == 1, state
    assert state["status"] != RUN_MSG, state
    assert state["saved_type"] == "object", state
    assert state["saved"]["boxes"] == [[["medium", [10, 10, 200, 300]]]], state


def test_resizing_the_close_up_writes_edit_shots_overrides(drive):
    orig = _close_up(drive["before"]["sets"])
    after = drive["after"]
    assert after["revision"] >= 1
    overrides = json.loads(after["overrides"])
    assert set(overrides) == {"0"} and set(overrides["0"]) == {"close_up"}
    box = overrides["0"]["close_up"]
    assert all(isinstance(v, int) for v in box)
    assert box[:2] == orig[:2], (box, orig)  # the corner dragged was the bottom-right one
    assert box[2] < orig[2] and box[3] < orig[3], (box, orig)
    assert after["boxes"]["close_up"] == box
    _overrides_shown(after, "after the resize")
    # After the re-run the overlay still shows the edit, and the workflow saves it.
    assert drive["after_rerun"]["boxes"]["close_up"] == box
    assert after["overrides"] in drive["after_rerun"]["saved_widgets"]


def test_reload_keeps_the_shot_sets_and_the_edit(drive):
    state = drive["reloaded"]
    _shows_editor(state, "after the reload")
    assert state["source"] == "saved" and state["saved"]["type"] == "object", state
    assert state["overrides"] == drive["after"]["overrides"]
    assert state["boxes"]["close_up"] == json.loads(drive["after"]["overrides"])["0"]["close_up"]
    (s,), (s0,) = state["sets"], drive["before"]["sets"]
    assert [x["box"] for x in s["shots"]] == [x["box"] for x in s0["shots"]]


def test_a_cached_run_after_the_reload_still_shows_the_editor(drive):
    compose = next(k for k, v in json.loads((drive["out"] / "prompt.json").read_text()).items()
                   if v["class_type"] == "ShotCropTripleShotCompose")
    run3 = drive["run3"]
    assert run3["end"] == ["execution_success"], run3
    # The situation of issue #13: ComfyUI answered Compose from its cache. (A ComfyUI whose
    # Compose sets has_intermediate_output re-sends its UI output; the editor must not need it.)
    assert compose in run3["cached"], run3
    state = drive["after_cached"]
    _shows_editor(state, "after the cached run")
    assert state["boxes"] == drive["reloaded"]["boxes"]


def test_moving_the_box_after_the_reload_writes_overrides(drive):
    edited = json.loads(drive["after"]["overrides"])["0"]["close_up"]
    moved_state = drive["after_move"]
    assert moved_state["revision"] >= 1
    moved = json.loads(moved_state["overrides"])["0"]["close_up"]
    assert moved != edited
    assert [moved[2] - moved[0], moved[3] - moved[1]] == [edited[2] - edited[0],
                                                         edited[3] - edited[1]], (moved, edited)
    assert moved[0] > edited[0] and moved[1] > edited[1], (moved, edited)
    assert moved_state["boxes"]["close_up"] == moved
    _overrides_shown(moved_state, "after the move")


def test_no_errors_from_the_extension(drive):
    ours = [e for e in drive["console_errors"] if "extensions/shotcrop" in e]
    assert not ours, ours


def test_each_run_crops_the_box_shown(drive, server):
    from PIL import Image, ImageChops, ImageOps

    runs = _runs(server)
    assert len(runs) == 6, [e["status"] for e in runs]
    assert all(e["status"]["status_str"] == "success" for e in runs), [e["status"] for e in runs]
    runs = runs[:4]  # the last two: shots past the photo (below)
    orig = _close_up(drive["before"]["sets"])
    edited = json.loads(drive["after"]["overrides"])["0"]["close_up"]
    moved = json.loads(drive["after_move"]["overrides"])["0"]["close_up"]
    for run, want in zip(runs[1:], (drive["after"], drive["after"], drive["after_move"])):
        edit_id = _node_id(run, "ShotCropEditShots")
        assert json.loads(run["prompt"][2][edit_id]["inputs"]["overrides"]) == \
            json.loads(want["overrides"])
    with Image.open(PHOTO) as im:
        photo = ImageOps.exif_transpose(im).convert("RGB")
    # Run 3 was answered from the cache, SaveImage too (its history may hold no output).
    for run, box in zip((runs[0], runs[1], runs[3]), (orig, edited, moved)):
        save_id = _node_id(run, "SaveImage")
        (img,) = run["outputs"][save_id]["images"]
        with Image.open(server.base / "output" / img["subfolder"] / img["filename"]) as im:
            crop = im.convert("RGB")
        assert crop.size == (box[2] - box[0], box[3] - box[1]), (crop.size, box)
        diff = ImageChops.difference(crop, photo.crop(tuple(box)))
        assert max(hi for _, hi in diff.getextrema()) <= 8, (box, diff.getextrema())


def test_the_editor_drags_a_box_past_the_photo_when_the_set_allows_it(drive, server):
    (s,) = drive["beyond"]["sets"]
    assert s["beyond_photo"] == 0.5 and (s["width"], s["height"]) == (640, 422)
    before = next(x["box"] for x in s["shots"] if x["shot"] == "establishing")
    after = json.loads(drive["after_beyond_drag"]["overrides"])["0"]["establishing"]
    # The left edge went past the photo's, stopped at half the photo (320 px) at most.
    assert -320 <= after[0] < min(before[0], 0) and after[1:] == before[1:], (before, after)
    assert drive["after_beyond_drag"]["boxes"]["establishing"] == after
    runs = _runs(server)
    edit_id = _node_id(runs[-1], "ShotCropEditShots")
    assert json.loads(runs[-1]["prompt"][2][edit_id]["inputs"]["overrides"])["0"][
        "establishing"] == after
    assert runs[-1]["status"]["status_str"] == "success"


def test_descriptions_are_text_never_markup(drive):
    for xss in (drive["xss"], drive["reloaded"]["xss"]):
        assert xss["imgs"] == 0 and xss["scripts"] == 0 and xss["bolds_in_text"] == 1  # the label
        assert xss["pwned"] is None
    assert drive["xss"]["text"] == "close-up: " + XSS
    (s,) = drive["reloaded"]["sets"]
    assert s["shots"][2]["description"] == XSS
    assert "close-up: " + XSS in drive["reloaded"]["descriptions"]
    assert drive["dialogs_after_xss"] == [] and drive["dialogs_end"] == []
