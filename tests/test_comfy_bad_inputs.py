"""Bad input on a real, headless ComfyUI server (issue #13): every case goes through /prompt ->
/history and must end in ONE clear error that names the node and says what to do (a
ShotCropError, never a stray KeyError/IndexError/RuntimeError from deep inside), or in a run that
works; ComfyUI must keep serving afterwards (it answers and runs a good prompt for real).

Tensors of special shapes are made by core nodes where 0.3.64 has one (EmptyImage, ImageScale,
RepeatImageBatch, JoinImageWithAlpha) and otherwise by a tiny test-only custom node that this
module writes into the test server's custom_nodes folder (never shipped in the pack): an empty
IMAGE batch, a 1-/2-channel IMAGE, and a POSE_KEYPOINT from JSON text (0.3.64 has no core pose
node). Also here: /interrupt in the middle of a 64-image batch, and /free after a run with a VLM
(the process's memory is measured before and after).

Needs a ComfyUI checkout with its requirements installed: COMFYUI_DIR=/path/to/ComfyUI.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from pathlib import Path

import pytest

from comfy_graph import (Graph, expect_error, run, saved_sizes,
                         serving)
from comfy_server import comfyui_dir_or_skip, start_server

COMFYUI_DIR = comfyui_dir_or_skip("main.py", "ComfyUI server tests")

DATA = Path(__file__).resolve().parent / "data"
PHOTO = DATA / "000000000790.jpg"  # 640x422, four people (COCO keypoints in person_keypoints.json)
TEST_VLM = "shotcrop-test-vlm"
#: Text MLP width of the random test VLM: about 200 MB of fp32 weights, so that what /free gives
#: back stands out from the server's own memory churn.
TEST_VLM_MLP = 131072

TEST_NODES = '''"""Test-only nodes written by tests/test_comfy_bad_inputs.py (never shipped)."""
import json


class ShotCropTestImageShape:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",),
                             "shape": (["empty batch", "1 channel", "2 channels"],)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, image, shape):
        if shape == "empty batch":
            return (image[:0].clone(),)
        return (image[..., :1 if shape == "1 channel" else 2].clone(),)


class ShotCropTestPoseKeypoint:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"text": ("STRING", {"multiline": True})}}

    RETURN_TYPES = ("POSE_KEYPOINT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, text):
        return (json.loads(text),)


NODE_CLASS_MAPPINGS = {"ShotCropTestImageShape": ShotCropTestImageShape,
                       "ShotCropTestPoseKeypoint": ShotCropTestPoseKeypoint}
'''


def build_test_vlm(folder: Path) -> Path:
    """A random-weight Qwen3-VL (tests/tiny_vlm.py's) with a wide text MLP: ~200 MB of fp32.
    Its final norm is zero, so every logit is 0 and greedy decoding picks token 0,
    <|endoftext|>, an end-of-sequence token: it answers at once (nothing usable, so Compose
    falls back to the framing engine) instead of generating hundreds of tokens on a CPU."""
    import torch
    from tiny_vlm import _save, build_tiny_qwen3_vl
    from transformers import AutoConfig, AutoProcessor, Qwen3VLForConditionalGeneration

    build_tiny_qwen3_vl(folder)
    config = AutoConfig.from_pretrained(folder)
    config.text_config.intermediate_size = TEST_VLM_MLP
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration(config)
    norms = [m for n, m in model.named_modules() if n.endswith("language_model.norm")]
    assert len(norms) == 1
    with torch.no_grad():
        norms[0].weight.zero_()
    processor = AutoProcessor.from_pretrained(folder)
    assert processor.tokenizer.convert_ids_to_tokens(0) == "<|endoftext|>"
    return _save(folder, model, processor)


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    def prepare(base: Path) -> None:
        (base / "custom_nodes" / "shotcrop_test_nodes.py").write_text(TEST_NODES)
        build_test_vlm(base / "models" / "LLM" / "ShotCrop" / TEST_VLM)

    srv = start_server(COMFYUI_DIR, tmp_path_factory, request, prepare=prepare)
    srv.photo = srv.upload(PHOTO)
    return srv


# -- empty batches, tiny images, channel counts ----------------------------------------------------
EMPTY = "the IMAGE batch is empty (0 images): the node that made it produced no image. " \
        "Connect a node that outputs at least one image"


@pytest.mark.parametrize("node", ["compose", "crop", "layout"])
def test_empty_image_batch(server, node):
    g = Graph(server)
    empty = [g.add("ShotCropTestImageShape", image=[g.photo, 0], shape="empty batch"), 0]
    if node == "compose":
        g.save([g.compose(empty), 1])
        expect_error(server, g, "ShotCropTripleShotCompose", f"Triple-Shot Compose: {EMPTY}")
    elif node == "crop":
        g.save([g.crop(empty, [g.compose([g.photo, 0]), 0]), 0])
        expect_error(server, g, "ShotCropCropByShot", f"Crop By Shot: {EMPTY}")
    else:
        g.save([g.layout(establishing=empty, medium=empty, close_up=empty), 0])
        expect_error(server, g, "ShotCropPosterLayout", f"Shot Poster Layout: {EMPTY}")


@pytest.mark.parametrize("side", [1, 4])
def test_tiny_images(server, side):
    g = Graph(server)
    tiny = [g.add("EmptyImage", width=side, height=side, batch_size=3, color=0x808080), 0]
    g.save([g.compose(tiny), 1])
    expect_error(server, g, "ShotCropTripleShotCompose",
                 f"Triple-Shot Compose: image 0: the image is too small ({side}x{side} pixels); "
                 "ShotCrop needs at least 16 px on each side. Use a larger image.")
    # Shots made on the photo, applied to a tiny image: the node's name once, and the fix.
    g = Graph(server)
    tiny = [g.add("EmptyImage", width=side, height=side, batch_size=1, color=0), 0]
    g.save([g.crop(tiny, [g.compose([g.photo, 0]), 0]), 0])
    expect_error(server, g, "ShotCropCropByShot",
                 f"Crop By Shot: image 0 is {side}x{side} but its shots were made for a 640x422 "
                 "image: connect the same IMAGE that went into Triple-Shot Compose (resize after "
                 "cropping, not before)")
    # Tiny crops are still crops: the sheet is laid out at the size asked for.
    g = Graph(server)
    tiny = [g.add("EmptyImage", width=side, height=side, batch_size=1, color=0xff0000), 0]
    save = g.save([g.layout(establishing=tiny, medium=tiny, close_up=tiny), 0])
    entry = run(server, g)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
    assert saved_sizes(server, entry, save) == [(960, 320)]


@pytest.mark.parametrize("channels", [1, 4])
def test_grey_and_rgba_images_work(server, channels):
    g = Graph(server)
    if channels == 4:  # core: alpha from LoadImage's mask
        image = [g.add("JoinImageWithAlpha", image=[g.photo, 0], alpha=[g.photo, 1]), 0]
    else:
        image = [g.add("ShotCropTestImageShape", image=[g.photo, 0], shape="1 channel"), 0]
    c = g.compose(image)
    crop = g.crop(image, [c, 0], shot="close_up")
    padded = g.crop(image, [c, 0], fit="size", width=512, height=512, pad_color="#ff0000")
    saves = [g.save([crop, 0]), g.save([padded, 0]),
             g.save([g.layout(shots=[c, 0], image=image), 0])]
    entry = run(server, g)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
    shots = json.loads(entry["outputs"][c]["shotcrop_shots"][0])[0]
    assert (shots["width"], shots["height"]) == (640, 422) and not shots.get("fallback")
    x0, y0, x1, y1 = next(s["box"] for s in shots["shots"] if s["shot"] == "close_up")
    assert saved_sizes(server, entry, saves[0]) == [(x1 - x0, y1 - y0)]
    assert saved_sizes(server, entry, saves[1]) == [(512, 512)]
    assert saved_sizes(server, entry, saves[2]) == [(960, 320)]
    if channels == 4:  # the crop keeps the alpha channel (SaveImage writes RGBA from 4 channels)
        from PIL import Image

        img = entry["outputs"][saves[0]]["images"][0]
        with Image.open(server.base / "output" / img["subfolder"] / img["filename"]) as im:
            assert im.mode == "RGBA"


def test_two_channel_image_is_refused(server):
    g = Graph(server)
    image = [g.add("ShotCropTestImageShape", image=[g.photo, 0], shape="2 channels"), 0]
    g.save([g.compose(image), 1])
    expect_error(server, g, "ShotCropTripleShotCompose",
                 "Triple-Shot Compose: the IMAGE has 2 channels per pixel; ShotCrop takes grey "
                 "(1), RGB (3) or RGBA (4) images: convert it to RGB first")


# -- big photos, big batches -----------------------------------------------------------------------
def test_4500x3000_photo(server):
    g = Graph(server)
    big = [g.add("ImageScale", image=[g.photo, 0], upscale_method="bilinear", width=4500,
                 height=3000, crop="disabled"), 0]
    c = g.compose(big)
    crop_save = g.save([g.crop(big, [c, 0], shot="close_up"), 0])
    sheet_save = g.save([g.layout(shots=[c, 0], image=big), 0])
    t0 = time.monotonic()
    entry = run(server, g)
    seconds = time.monotonic() - t0
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
    shots = json.loads(entry["outputs"][c]["shotcrop_shots"][0])[0]
    assert (shots["width"], shots["height"]) == (4500, 3000) and not shots.get("fallback")
    x0, y0, x1, y1 = next(s["box"] for s in shots["shots"] if s["shot"] == "close_up")
    assert 0 <= x0 < x1 <= 4500 and 0 <= y0 < y1 <= 3000
    assert saved_sizes(server, entry, crop_save) == [(x1 - x0, y1 - y0)]
    assert saved_sizes(server, entry, sheet_save) == [(960, 320)]
    print(f"\n4500x3000 photo: compose + crop + poster + 2 saves in {seconds:.1f} s")


def test_batch_of_64(server):
    g = Graph(server)
    batch = [g.add("RepeatImageBatch", image=[g.photo, 0], amount=64), 0]
    c = g.compose(batch, intent="batch of 64")
    save = g.save([g.crop([c, 3], [c, 0], shot="close_up", fit="size", width=256, height=256,
                          snap="8"), 0], prefix="batch64")
    t0 = time.monotonic()
    entry = run(server, g)
    seconds = time.monotonic() - t0
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
    shots = json.loads(entry["outputs"][c]["shotcrop_shots"][0])
    assert [s["index"] for s in shots] == list(range(64))
    assert all(s["shots"] == shots[0]["shots"] for s in shots)  # the same photo 64 times
    assert saved_sizes(server, entry, save) == [(256, 256)] * 64
    print(f"\nbatch of 64: compose + crop + 64 saves in {seconds:.1f} s")


# -- POSE_KEYPOINT ---------------------------------------------------------------------------------
OP_FROM_COCO = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)  # None: neck


def _frames(missing: str) -> list[dict]:
    """The photo's four people from its COCO keypoints, as a pose node would hand them over:
    missing points as DWPose writes them ((0, 0) with score 0) or as SDPose does ((-1, -1) with
    a score kept), with SDPose's feet, face and hands all missing too."""
    coco = json.loads((DATA / "person_keypoints.json").read_text())
    img_id = next(i["id"] for i in coco["images"] if i["file_name"] == PHOTO.name)
    people = []
    for a in coco["annotations"]:
        if a["image_id"] != img_id or not any(a["keypoints"][2::3]):
            continue
        kp = [a["keypoints"][3 * i:3 * i + 3] for i in range(17)]
        body = []
        for c in OP_FROM_COCO:
            if c is None:  # neck: the shoulders' midpoint when both are labelled
                ok = kp[5][2] > 0 and kp[6][2] > 0
                p = [(kp[5][0] + kp[6][0]) / 2, (kp[5][1] + kp[6][1]) / 2] if ok else None
            else:
                p = kp[c][:2] if kp[c][2] > 0 else None
            body.append((p, 0.9) if p else None)
        if missing == "dwpose":
            flat = [v for b in body for v in ([*b[0], b[1]] if b else [0.0, 0.0, 0.0])]
            people.append({"pose_keypoints_2d": flat, "face_keypoints_2d": None,
                           "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None})
        else:
            flat = [v for b in body for v in ([*b[0], b[1]] if b else [-1.0, -1.0, 0.85])]
            people.append({"pose_keypoints_2d": flat,
                           "foot_keypoints_2d": [-1.0, -1.0, 0.8] * 6,
                           "face_keypoints_2d": [-1.0, -1.0, 0.7] * 70,
                           "hand_right_keypoints_2d": [-1.0, -1.0, 0.6] * 21,
                           "hand_left_keypoints_2d": [-1.0, -1.0, 0.6] * 21})
    assert len(people) == 4
    return [{"canvas_width": 640, "canvas_height": 422, "people": people}]


def test_pose_keypoint_with_fewer_frames_than_images(server):
    g = Graph(server)
    two = [g.add("RepeatImageBatch", image=[g.photo, 0], amount=2), 0]
    pose = g.add("ShotCropTestPoseKeypoint", text=json.dumps(_frames("dwpose")))
    g.save([g.compose(two, pose_keypoint=[pose, 0]), 1])
    expect_error(server, g, "ShotCropTripleShotCompose",
                 "Triple-Shot Compose: POSE_KEYPOINT has 1 frame(s) but the IMAGE batch has 2: "
                 "connect the pose node that ran on these same images")


def test_sdpose_missing_points_keep_their_score_but_are_not_seen(server):
    """Core's SDPose writes a point it could not place as (-1, -1) with its score: framed from
    those keypoints, the shots must be exactly those framed when the same points are missing the
    DWPose way ((0, 0), score 0). Counted as seen, they dragged every person box to the corner."""
    results = {}
    for style in ("dwpose", "sdpose"):
        g = Graph(server)
        pose = g.add("ShotCropTestPoseKeypoint", text=json.dumps(_frames(style)))
        c = g.compose([g.photo, 0], pose_keypoint=[pose, 0], intent=style)
        g.show([c, 2])
        entry = run(server, g)
        assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
        results[style] = json.loads(entry["outputs"][c]["shotcrop_shots"][0])[0]
    sd, dw = results["sdpose"], results["dwpose"]
    assert not sd.get("fallback") and sd["subject"] == dw["subject"]
    assert [s["box"] for s in sd["shots"]] == [s["box"] for s in dw["shots"]]
    # The subject's box starts near its own labelled points, not at the photo's corner (-1, -1).
    people = _frames("dwpose")[0]["people"]
    pts = people[sd["subject"]["index"]]["pose_keypoints_2d"]
    ys = [pts[i + 1] for i in range(0, len(pts), 3) if pts[i + 2] > 0]
    assert sd["subject"]["box"][1] > min(ys) - 0.5 * (max(ys) - min(ys)) > 0


# -- misspelt names and colours, malformed overrides -----------------------------------------------
@pytest.mark.parametrize("node", ["ShotCropCropByShot", "ShotCropShotToPrompt"])
def test_misspelt_shot_name_is_refused_at_queue_time(server, node):
    g = Graph(server)
    c = g.compose([g.photo, 0])
    if node == "ShotCropCropByShot":
        bad = g.crop([g.photo, 0], [c, 0], shot="clsoe_up")
        g.save([bad, 0])
        typo, label = "clsoe_up", "Crop By Shot"
    else:
        bad = g.add("ShotCropShotToPrompt", shots=[c, 0], shot="meduim", template="{description}",
                    style="", prefix="", suffix="", index=0)
        g.show([bad, 0])
        typo, label = "meduim", "Shot Description To Prompt"
    status, out = server.post_json("/prompt", {"prompt": g.prompt})
    assert status == 400, out  # its only output depends on the bad node
    (err,) = out["node_errors"][bad]["errors"]
    assert err["details"] == (
        f"shot - {label}: unknown shot '{typo}'. Pick one of establishing, medium, close_up in "
        "the 'shot' menu (the saved workflow holds a name this version does not know).")
    serving(server)


@pytest.mark.parametrize("node", ["ShotCropCropByShot", "ShotCropPosterLayout"])
def test_misspelt_colour(server, node):
    g = Graph(server)
    c = g.compose([g.photo, 0])
    if node == "ShotCropCropByShot":
        g.save([g.crop([g.photo, 0], [c, 0], fit="size", width=512, height=512,
                       pad_color="blakc"), 0])
        message = ("Crop By Shot: pad_color 'blakc' is not a colour: write it as hex, e.g. "
                   "#000000 (black) or #ffffff (white) or leave it empty")
    else:
        g.save([g.layout(shots=[c, 0], image=[g.photo, 0], background="whitee"), 0])
        message = ("Shot Poster Layout: background 'whitee' is not a colour: write it as hex, "
                   "e.g. #000000 (black) or #ffffff (white)")
    expect_error(server, g, node, message)


@pytest.mark.parametrize("overrides, message", [
    ('{"0": {"medium": [1, 2, 3, 4]',
     "Edit Shots: overrides is not valid JSON (Expecting ',' delimiter: line 1 column 30 "
     '(char 29)): write {"0": {"medium": [x0, y0, x1, y1]}}'),
    ("medium: 10, 10, 200, 200",
     "Edit Shots: overrides is not valid JSON (Expecting value: line 1 column 1 (char 0)): "
     'write {"0": {"medium": [x0, y0, x1, y1]}}'),
    ('{"0": {"medium": [-50, 0, 300, 400]}}',
     "Edit Shots: image 0: medium box [-50, 0, 300, 400] reaches outside the 640x422 image: "
     "keep 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 422 (source pixels), or redraw it in the "
     "shot editor"),
    ('{"0": {"close_up": [100, 50, 900, 600]}}',
     "Edit Shots: image 0: close_up box [100, 50, 900, 600] reaches outside the 640x422 image: "
     "keep 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 422 (source pixels), or redraw it in the "
     "shot editor"),
    ('{"0": {"medium": [300, 400, 100, 50]}}',
     "Edit Shots: overrides[0].medium: box [300, 400, 100, 50] is empty: need x1 > x0 and "
     "y1 > y0"),
    ('{"1": {"medium": [10, 10, 200, 200]}}',
     "Edit Shots: overrides names image 1, but SHOTS holds 1 shot set(s) (indices 0 to 0)"),
    ('{"0": {"meduim": [10, 10, 200, 200]}}',
     "Edit Shots: unknown shot 'meduim': use one of establishing, medium, close_up (also "
     "accepted: ..."),
])
def test_malformed_edit_overrides(server, overrides, message):
    g = Graph(server)
    edit = g.add("ShotCropEditShots", shots=[g.compose([g.photo, 0]), 0], overrides=overrides,
                 revalidate=True)
    g.show([edit, 1])
    expect_error(server, g, "ShotCropEditShots", message)


# -- /interrupt in the middle of a 64-image batch --------------------------------------------------
def _listen_and_interrupt(server, prompt: dict, after: int) -> dict:
    """Queue `prompt` with a websocket open, POST /interrupt once Compose reports `after`
    images done; return what was seen (progress values with times, the last value seen when the
    interrupt went out, when it went out, the end message)."""
    import aiohttp

    async def go():
        cid = uuid.uuid4().hex
        seen = {"progress": [], "sent_at_value": None, "sent_at": None, "end": None}
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.url}/ws?clientId={cid}") as ws:
                async with session.post(f"{server.url}/prompt",
                                        json={"prompt": prompt, "client_id": cid}) as r:
                    assert r.status == 200, await r.text()
                    seen["prompt_id"] = (await r.json())["prompt_id"]
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline:
                    msg = await ws.receive(timeout=240)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        continue  # binary previews
                    m = json.loads(msg.data)
                    data = m.get("data", {})
                    if m["type"] == "progress" and data.get("prompt_id") == seen["prompt_id"]:
                        seen["progress"].append((time.monotonic(), data["value"], data["max"]))
                        if seen["sent_at"] is None and data["value"] >= after:
                            seen["sent_at_value"] = data["value"]
                            seen["sent_at"] = time.monotonic()
                            async with session.post(f"{server.url}/interrupt", json={}) as r:
                                assert r.status == 200
                    elif m["type"] in ("execution_interrupted", "execution_error",
                                       "execution_success") and \
                            data.get("prompt_id") == seen["prompt_id"]:
                        seen["end"] = (time.monotonic(), m["type"], data)
                        return seen
                raise AssertionError("the prompt neither finished nor stopped in 240 s")

    return asyncio.run(go())


def test_interrupt_in_the_middle_of_a_64_image_batch(server):
    prefix = f"interrupted_{uuid.uuid4().hex[:8]}"
    g = Graph(server)
    batch = [g.add("RepeatImageBatch", image=[g.photo, 0], amount=64), 0]
    c = g.compose(batch, intent=prefix)  # a new intent: Compose really runs
    g.save([g.crop([c, 3], [c, 0], shot="medium"), 0], prefix=prefix)
    seen = _listen_and_interrupt(server, g.prompt, after=8)

    when, kind, data = seen["end"]
    assert kind == "execution_interrupted", data
    assert data["node_type"] == "ShotCropTripleShotCompose", data
    mine = [(t, v) for t, v, m in seen["progress"] if m == 64]
    done = max(v for _, v in mine)
    assert seen["sent_at_value"] >= 8 and done < 64
    # Stopped within one image: at most the image in progress when the interrupt arrived.
    assert done <= seen["sent_at_value"] + 1, (seen["sent_at_value"], done)
    gaps = [b - a for (a, _), (b, _) in zip(mine, mine[1:])]
    per_image = statistics.median(gaps)
    latency = when - seen["sent_at"]
    print(f"\n/interrupt: sent after image {seen['sent_at_value']}/64, stopped after image "
          f"{done}; {latency:.2f} s after the request (median {per_image:.3f} s per image)")
    # Time, too (a node that reported no progress would not be stopped by its progress bar): the
    # image in progress plus ComfyUI's own handling, with room for a busy machine.
    assert latency < 2 * per_image + 3.0, (latency, per_image)
    hist = server.get_json(f"/history/{seen['prompt_id']}")[seen["prompt_id"]]
    assert hist["status"]["status_str"] == "error"
    assert [m[0] for m in hist["status"]["messages"]][-1] == "execution_interrupted"
    # Nothing half-written: SaveImage never ran, no file of this prompt exists anywhere.
    assert not hist["outputs"]
    written = [p for p in server.base.rglob(f"{prefix}*")]
    assert written == [], written
    serving(server)


# -- /free after a run -----------------------------------------------------------------------------
def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _settled_rss(pid: int, seconds: float = 3.0) -> float:
    """RSS once it stops moving (ComfyUI frees and collects on its own schedule)."""
    last, stable_since, deadline = _rss_mib(pid), time.monotonic(), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _rss_mib(pid)
        if abs(now - last) > 2:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= seconds:
            return now
    return _rss_mib(pid)


def test_free_after_a_vlm_run_gives_the_memory_back(server):
    """The VLM is held outside ComfyUI's node cache only through it (weak slots + ModelPatcher):
    /free (unload models, free memory) must give its weights back to the system, and the next
    run must load it again and work."""
    weights = sum(p.stat().st_size for p in
                  (server.base / "models" / "LLM" / "ShotCrop" / TEST_VLM).glob("*.safetensors"))
    pid = server.proc.pid

    def vlm_run(tag: str) -> dict:
        g = Graph(server)
        g.prompt[g.model]["inputs"].update(backend=f"vlm: {TEST_VLM}", device="cpu", dtype="fp32")
        c = g.compose([g.photo, 0], intent=tag)
        g.show([c, 2])
        entry = run(server, g)
        assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
        return json.loads(entry["outputs"][c]["shotcrop_shots"][0])[0]

    def free(drop_mib: float = 0.0) -> float:
        """/free, then the RSS once settled; with `drop_mib`, first wait (bounded) for it to
        fall that far: ComfyUI's prompt worker acts on the flag on its own schedule."""
        high = _rss_mib(pid)
        status, _ = server.post_json("/free", {"unload_models": True, "free_memory": True})
        assert status == 200
        deadline = time.monotonic() + 60
        while drop_mib and high - _rss_mib(pid) < drop_mib and time.monotonic() < deadline:
            time.sleep(0.5)
        return _settled_rss(pid)

    # The default framing backend first (13 MB of BlazePose weights: reported, not asserted).
    start = free()
    serving(server)
    blaze = _settled_rss(pid)
    blaze_freed = free()
    print(f"\n/free, BlazePose: server RSS {start:.0f} MiB, {blaze:.0f} MiB after a run, "
          f"{blaze_freed:.0f} MiB after /free")

    before = blaze_freed
    vlm_run("free 1")
    loaded = _settled_rss(pid)
    freed = free(drop_mib=0.8 * weights / 2**20)
    print(f"/free, VLM: weights {weights / 2**20:.0f} MiB; server RSS {before:.0f} MiB before the "
          f"run, {loaded:.0f} MiB after it, {freed:.0f} MiB after /free "
          f"({loaded - freed:.0f} MiB given back)")
    assert loaded - before > 0.8 * weights / 2**20, "the VLM was not loaded by the run"
    assert loaded - freed > 0.8 * weights / 2**20, "/free did not give the VLM's memory back"
    # Loads again on the next run, and ComfyUI goes on serving.
    assert vlm_run("free 2")["width"] == 640
    serving(server)
