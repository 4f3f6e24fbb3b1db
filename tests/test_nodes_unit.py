"""The ComfyUI nodes in-process: schemas, conversions, every node's execute, errors.

Needs a ComfyUI checkout (its comfy_api and comfy packages): COMFYUI_DIR=/path/to/ComfyUI.
The pack is imported the way ComfyUI imports it: the repository root as a package.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from comfy_server import comfyui_dir_or_skip
from conftest import AUDITED

COMFYUI_DIR = comfyui_dir_or_skip("comfy_api", "ComfyUI node tests")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PACK = "shotcrop_pack"
BLAZEPOSE = "framing: BlazePose (built in, no download)"


def _load_pack():
    # ComfyUI first on sys.path: its top-level `nodes` module must win over our nodes/ folder.
    if COMFYUI_DIR not in sys.path:
        sys.path.insert(0, COMFYUI_DIR)
    from comfy.cli_args import args

    args.cpu = True  # before comfy.model_management is imported (no CUDA probing)
    if PACK not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACK, ROOT / "__init__.py",
                                                      submodule_search_locations=[str(ROOT)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACK] = module
        spec.loader.exec_module(module)
    return sys.modules[PACK]


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    module = _load_pack()
    import folder_paths

    tmp = tmp_path_factory.mktemp("comfy")
    folder_paths.set_temp_directory(str(tmp / "temp"))  # PreviewImage writes here
    folder_paths.set_output_directory(str(tmp / "output"))
    return module


@pytest.fixture(scope="module")
def N(pack):
    ext = asyncio.run(pack.comfy_entrypoint())
    return {n.GET_SCHEMA().node_id: n for n in asyncio.run(ext.get_node_list())}


@pytest.fixture(scope="module")
def photo():
    import torch
    from PIL import Image

    a = np.asarray(Image.open(DATA / "000000000790.jpg").convert("RGB"), np.float32) / 255.0
    return torch.from_numpy(a)[None]


@pytest.fixture(scope="module")
def handle(N):
    return N["ShotCropLoadModel"].execute(BLAZEPOSE, "auto", "auto", "sdpa", "none", "keep").args[0]


@pytest.fixture(scope="module")
def composed(N, photo, handle):
    return N["ShotCropTripleShotCompose"].execute(photo, handle, "16:9", "4:5", "1:1", "", -1, 0)


def crop(N, image, shots, shot="medium", fit="native", width=1024, height=1024, long_side=1024,
         snap="1", pad_color="", batch_rule="first"):
    return N["ShotCropCropByShot"].execute(image, shots, shot, fit, width, height, long_side, snap,
                                           pad_color, batch_rule)


# -- schemas -------------------------------------------------------------------------------------
def test_schemas_are_complete(N):
    assert set(N) == {"ShotCropLoadModel", "ShotCropTripleShotCompose", "ShotCropCropByShot",
                      "ShotCropShotToPrompt", "ShotCropSheet", "ShotCropPosterLayout",
                      "ShotCropEditShots"}
    for node_id, node in N.items():
        schema = node.GET_SCHEMA()
        schema.validate()
        assert schema.category == "ShotCrop" and schema.display_name and schema.description
        for i in schema.inputs:
            assert i.tooltip, f"{node_id}.{i.id} has no tooltip"
        for o in schema.outputs:
            assert o.tooltip and o.display_name, f"{node_id} output {o.id} lacks a name/tooltip"
        info = node.INPUT_TYPES()  # what /object_info serves
        listed = set(info["required"]) | set(info.get("optional", {}))
        assert listed == {i.id for i in schema.inputs}


def test_entry_point_is_v3_only(pack):
    assert hasattr(pack, "comfy_entrypoint")
    assert not hasattr(pack, "NODE_CLASS_MAPPINGS")  # it would silently disable comfy_entrypoint
    assert (ROOT / pack.WEB_DIRECTORY / "shotcrop.js").is_file()


def test_locales_cover_every_node_and_input(N):
    for lang in ("en", "zh"):
        defs = json.loads((ROOT / "locales" / lang / "main.json").read_text("utf-8"))["nodeDefs"]
        for node_id, node in N.items():
            schema = node.GET_SCHEMA()
            assert defs[node_id]["display_name"], (lang, node_id)
            assert set(defs[node_id]["inputs"]) == {i.id for i in schema.inputs}, (lang, node_id)
            assert len(defs[node_id]["outputs"]) == len(schema.outputs), (lang, node_id)
    en = json.loads((ROOT / "locales/en/main.json").read_text("utf-8"))["nodeDefs"]
    assert all(en[n]["display_name"] == N[n].GET_SCHEMA().display_name for n in N)


def test_node_docs_exist(N, pack):
    # The frontend's help panel fetches /extensions/<pack>/docs/<node id>.md: WEB_DIRECTORY/docs.
    for node_id in N:
        assert (ROOT / pack.WEB_DIRECTORY / "docs" / f"{node_id}.md").is_file(), node_id


def test_importing_the_pack_loads_no_model_code():
    """...and, loaded as ComfyUI loads it (entry point, every schema), opens no connection and
    runs no command (the Registry flags network calls at import)."""
    code = f"""
import asyncio, sys, importlib.util
sys.path.insert(0, {COMFYUI_DIR!r})
from comfy.cli_args import args; args.cpu = True
import comfy_api.latest, folder_paths
before = set(sys.modules)
events = []
WATCH = {AUDITED!r}
sys.addaudithook(lambda e, a: events.append(f"{{e}} {{a!r:.200}}") if e in WATCH else None)
spec = importlib.util.spec_from_file_location("p", {str(ROOT / '__init__.py')!r},
                                              submodule_search_locations=[{str(ROOT)!r}])
m = importlib.util.module_from_spec(spec); sys.modules["p"] = m; spec.loader.exec_module(m)
ext = asyncio.run(m.comfy_entrypoint())
schemas = [n.GET_SCHEMA() for n in asyncio.run(ext.get_node_list())]
new = set(sys.modules) - before
heavy = sorted(n for n in new if n.split(".")[0] in ("transformers", "scipy", "huggingface_hub")
               or any(k in n for k in ("blaze", "hub_pose", ".vlm")))
print(len(schemas), events)
print(heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-2:] == ["7 []", "[]"], out.stdout[-2000:]


# -- conversions -----------------------------------------------------------------------------
def test_image_tensor_numpy_roundtrip(pack):
    import torch

    t = pack.nodes.types
    x = torch.rand(2, 5, 7, 3)
    arrays = t.image_batch(x)
    assert len(arrays) == 2 and arrays[0].shape == (5, 7, 3) and arrays[0].dtype == np.float32
    assert torch.equal(t.to_tensor(arrays), x)
    assert t.image_batch(torch.rand(1, 4, 4, 1))[0].shape == (4, 4, 3)  # grey -> RGB
    pil = t.to_pil(arrays[0])
    assert pil.size == (7, 5) and np.abs(t.from_pil(pil) - arrays[0]).max() <= 0.5 / 255 + 1e-6
    colour = pack.shotcrop_core.colour  # what the nodes' colour inputs go through
    assert colour.parse_colour("#fff", "c") == (1.0, 1.0, 1.0)
    assert colour.parse_colour("", "c", allow_empty=True) is None
    with pytest.raises(Exception, match="hex"):
        colour.parse_colour("red", "pad_color")


def test_shots_json_roundtrip(composed, pack):
    t = pack.nodes.types
    sets, _, text, _ = composed.args
    data = json.loads(text)
    assert [d["index"] for d in data] == [0] and data[0]["width"] == 640
    again = t.shot_sets(text)
    assert [s.to_dict() for s in again] == [s.to_dict() for s in sets]
    assert t.shot_sets(sets[0])[0] is sets[0]


# -- nodes -------------------------------------------------------------------------------------
def test_compose_outputs(composed, pack, photo):
    sets, preview, text, images = composed.args
    core = pack.shotcrop_core
    assert len(sets) == 1 and isinstance(sets[0], core.ShotSet)
    assert sets[0].people, "landmarks kept for Edit Shots"
    assert sets[0].medium.aspect == "4:5" and sets[0].close_up.aspect == "1:1"
    assert preview.shape == photo.shape and images.shape == photo.shape
    assert composed.ui["images"][0]["type"] == "temp"
    assert json.loads(composed.ui["shotcrop_shots"][0]) == json.loads(composed.args[2])


def test_crop_matches_the_shots(N, composed, photo):
    sets = composed.args[0]
    for name in ("establishing", "medium", "close_up"):
        image, mask, info, bbox, marks = crop(N, photo, sets, name).args
        b = sets[0][name].box
        assert tuple(image.shape) == (1, b.h, b.w, 3)
        assert tuple(mask.shape) == (1, 422, 640) and float(mask.sum()) == b.area
        assert json.loads(info)[0]["box"] == b.to_list()
        assert np.allclose(image[0].numpy(), photo[0, b.y0:b.y1, b.x0:b.x1].numpy())
        assert bbox == [{"x": b.x0, "y": b.y0, "width": b.w, "height": b.h}]
        assert tuple(marks.shape) == (1, b.h, b.w) and float(marks.sum()) == 0  # all the photo


def test_crop_size_snap_and_pad(N, composed, photo):
    image, _, info, _, marks = crop(N, photo, composed.args[0], "medium", "size", 500, 700, 0,
                                    "64", "#ff0000").args
    assert tuple(image.shape) == (1, 704, 512, 3)  # snapped to 64
    content = json.loads(info)[0]["content"]
    assert content[2] - content[0] == 512 or content[3] - content[1] == 704
    corner = image[0, 0, 0] if content[1] > 0 or content[0] > 0 else None
    if corner is not None:
        assert np.allclose(corner.numpy(), [1, 0, 0])
    # The outpaint mask marks the letterbox bars (not the photo's pixels), nothing else.
    x0, y0, x1, y1 = content
    bars = np.ones((704, 512), np.float32)
    bars[y0:y1, x0:x1] = 0
    assert np.array_equal(marks[0].numpy(), bars)


def test_crop_batch_with_one_shot_set_per_image(N, handle):
    import torch

    batch = torch.rand(3, 120, 160, 3)
    sets = N["ShotCropTripleShotCompose"].execute(batch, handle, "original", "free", "1:1", "",
                                                  -1, 0).args[0]
    assert len(sets) == 3 and all(s.fallback for s in sets)  # noise: no person -> flagged
    image, mask, info, _, _ = crop(N, batch, sets, "close_up", "long_side", long_side=64).args
    assert image.shape[0] == 3 and mask.shape == (3, 120, 160) and len(json.loads(info)) == 3


def test_prompt(N, composed):
    (text,) = N["ShotCropShotToPrompt"].execute(composed.args[0], "close_up",
                                                "{shot}, {description}", "film still", "", "",
                                                0).args
    assert text.startswith("close-up, ") and text.endswith("film still")


def test_layout_from_shots_and_from_crops(N, composed, photo):
    L = N["ShotCropPosterLayout"]
    (sheet,) = L.execute("poster", 800, 600, 8, 16, "#000000", shots=composed.args[0],
                         image=photo).args
    assert tuple(sheet.shape) == (1, 600, 800, 3) and float(sheet[0, 0, 0].sum()) == 0.0
    crops = {n: crop(N, photo, composed.args[0], n).args[0]
             for n in ("establishing", "medium", "close_up")}
    (sheet,) = L.execute("triptych", 900, 300, 8, 0, "#fff", **crops).args
    assert tuple(sheet.shape) == (1, 300, 900, 3)


def test_edit_shots_override_and_revalidate(N, composed):
    sets = composed.args[0]
    box = sets[0].medium.box
    moved = [box.x0 - 10, box.y0, box.x1 - 10, box.y1]
    E = N["ShotCropEditShots"]
    raw, _ = E.execute(sets, json.dumps({"0": {"medium": moved}}), False).args
    assert raw[0].medium.box.to_list() == moved and raw[0].close_up == sets[0].close_up
    fixed, text = E.execute(sets, json.dumps({"0": {"medium": moved}}), True).args
    assert fixed[0].people and json.loads(text)[0]["shots"][1]["shot"] == "medium"
    assert E.execute(sets, "", True).args[0] == sets


def test_pose_keypoint_input_skips_estimation(N, photo, pack):
    """A POSE_KEYPOINT frame (as controlnet_aux's DWPose makes it) drives the framing."""
    coco = json.loads((DATA / "person_keypoints.json").read_text())
    img_id = next(i["id"] for i in coco["images"] if i["file_name"] == "000000000790.jpg")
    op_from_coco = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
    people = []
    for a in coco["annotations"]:
        if a["image_id"] != img_id or not any(a["keypoints"][2::3]):
            continue
        kp = np.asarray(a["keypoints"], float).reshape(17, 3)
        pts = []
        for c in op_from_coco:  # OpenPose-18 order; the neck is the shoulders' midpoint
            p = kp[[5, 6]].mean(0) if c is None else kp[c]
            pts += [float(p[0]), float(p[1]), 1.0] if p[2] > 0 else [0.0, 0.0, 0.0]
        people.append({"pose_keypoints_2d": pts, "face_keypoints_2d": None,
                       "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None})
    frame = [{"people": people, "canvas_width": 640, "canvas_height": 422}]

    class NoPose:  # fails the test if the pose model were asked
        is_vlm = False

        def pose(self):
            raise AssertionError("pose estimation should be skipped")

        def after_run(self):
            pass

    out = N["ShotCropTripleShotCompose"].execute(photo, NoPose(), "original", "4:5", "1:1", "",
                                                 -1, 0, pose_keypoint=frame)
    assert not out.args[0][0].fallback and len(out.args[0][0].people) == len(people)


# -- errors ----------------------------------------------------------------------------------------
def test_errors_name_the_node_and_the_fix(N, composed, photo, pack):
    import torch

    Err = pack.shotcrop_core.ShotCropError
    with pytest.raises(Err, match=r"^Crop By Shot: shots is empty: connect the SHOTS output"):
        crop(N, photo, [])
    with pytest.raises(Err, match=r"^Crop By Shot: .*made for a 640x422 image.*same IMAGE"):
        crop(N, torch.rand(1, 100, 100, 3), composed.args[0])
    with pytest.raises(Err, match=r"^Crop By Shot: pad_color 'blue' is not a colour"):
        crop(N, photo, composed.args[0], pad_color="blue")
    with pytest.raises(Err, match=r"^Shot Description To Prompt: index 3 is out of range"):
        N["ShotCropShotToPrompt"].execute(composed.args[0], "medium", "{description}", "", "",
                                          "", 3)
    with pytest.raises(Err, match=r"^Edit Shots: overrides is not valid JSON"):
        N["ShotCropEditShots"].execute(composed.args[0], "{medium: 1}", True)
    with pytest.raises(Err, match=r"^Edit Shots: .*unknown shot 'wide shot'"):
        N["ShotCropEditShots"].execute(composed.args[0], '{"0": {"wide shot": [0, 0, 9, 9]}}', True)
    with pytest.raises(Err, match=r"^Shot Poster Layout: connect all three crops"):
        N["ShotCropPosterLayout"].execute("poster", 800, 600, 8, 16, "#000", medium=photo)
    with pytest.raises(Err, match=r"^Triple-Shot Compose: image 1: subject index 3 is out of"):
        N["ShotCropTripleShotCompose"].execute(photo.repeat(2, 1, 1, 1), _FewerPeopleLater(pack),
                                               "original", "original", "original", "", 3, 0)
    # Issue #12 drift 6: a 4x4 photo is refused by the same check as a file (it used to fail
    # inside PIL's ImageDraw); in a batch, the message says which image.
    with pytest.raises(Err, match=r"^Triple-Shot Compose: image 0: the image is too small "
                                  r"\(4x4 pixels\)"):
        N["ShotCropTripleShotCompose"].execute(torch.rand(1, 4, 4, 3), _FewerPeopleLater(pack),
                                               "original", "original", "original", "", -1, 0)
    with pytest.raises(Err, match=r"^Triple-Shot Compose: image 0: the image is too small"):
        N["ShotCropTripleShotCompose"].execute(torch.rand(3, 4, 4, 3), _FewerPeopleLater(pack),
                                               "original", "original", "original", "", -1, 0)
    # One alias table for every shot name ('cu' now works in a node as in --aspect).
    for alias in ("close-up", "Close Up", "cu", "CU"):
        assert N["ShotCropCropByShot"].validate_inputs(alias) is True
    msg = N["ShotCropCropByShot"].validate_inputs("closeupp")
    assert msg.startswith("Crop By Shot: unknown shot 'closeupp'") and "'shot' menu" in msg


class _FewerPeopleLater:
    """Pose stand-in: the photo's 4 labelled people in image 0, only one in image 1."""

    is_vlm = False

    def __init__(self, pack):
        given = pack.shotcrop_core.perception.given
        self.people = given.load_keypoints(DATA / "person_keypoints.json").people_for(
            "000000000790.jpg")
        self.calls = 0

    def pose(self):
        return self

    def estimate(self, pil):
        self.calls += 1
        return self.people if self.calls == 1 else self.people[:1]

    def after_run(self):
        pass


# -- models ----------------------------------------------------------------------------------------
def test_model_folders_and_backend_menu(pack, tmp_path):
    import folder_paths

    m = pack.nodes.model
    (tmp_path / "my-vlm").mkdir()
    (tmp_path / "my-vlm" / "config.json").write_text("{}")
    (tmp_path / "Qwen" / "Qwen3-VL-2B-Instruct").mkdir(parents=True)
    (tmp_path / "Qwen" / "Qwen3-VL-2B-Instruct" / "config.json").write_text("{}")
    (tmp_path / "not-a-model").mkdir()
    folder_paths.add_model_folder_path("shotcrop", str(tmp_path))
    assert tmp_path in m.model_roots()
    opts = m.backend_options()
    assert opts[:3] == [m.MOVENET, m.BLAZEPOSE, m.VITPOSE] and "vlm: my-vlm" in opts
    assert "vlm: Qwen/Qwen3-VL-4B-Instruct" in opts and "vlm: not-a-model" not in opts
    assert opts.count("vlm: Qwen/Qwen3-VL-2B-Instruct") == 1  # known id placed locally: once
    assert m._local_ref("Qwen/Qwen3-VL-2B-Instruct") == "Qwen/Qwen3-VL-2B-Instruct"
    assert m._local_ref("Qwen/Qwen3-VL-8B-Instruct") == "Qwen/Qwen3-VL-8B-Instruct"  # -> Hub
    h = pack.nodes.model.LoadShotCrop.execute("vlm: my-vlm", "cpu", "fp32", "sdpa", "8bit",
                                              "unload").args[0]
    assert (h.backend, h.model, h.quantization, h.keep_loaded) == ("vlm", "my-vlm", "8bit",
                                                                   "unload")


def test_vlm_is_loaded_lazily_through_comfy_model_management(N, pack, tmp_path, photo):
    """A tiny random Qwen3-VL in the model folder: loads on first Compose, is registered with
    ComfyUI's model management, and its unusable answers fall back to the framing engine."""
    pytest.importorskip("transformers")
    import comfy.model_management as mm
    import folder_paths
    from tiny_vlm import build_tiny_qwen3_vl

    build_tiny_qwen3_vl(tmp_path / "tiny-qwen3")
    folder_paths.add_model_folder_path("shotcrop", str(tmp_path))
    assert "vlm: tiny-qwen3" in pack.nodes.model.backend_options()
    h = N["ShotCropLoadModel"].execute("vlm: tiny-qwen3", "cpu", "fp32", "sdpa", "none",
                                       "keep").args[0]
    assert h._vlm is None  # nothing loaded by the loader node
    small = photo[:, ::4, ::4, :].contiguous()
    out = N["ShotCropTripleShotCompose"].execute(small, h, "original", "original", "original",
                                                 "", -1, 0)
    assert h._vlm is not None and any(lm.model is h._vlm.patcher for lm in mm.current_loaded_models)
    assert len(out.args[0]) == 1
    h2 = N["ShotCropLoadModel"].execute("vlm: tiny-qwen3", "cpu", "fp32", "sdpa", "none",
                                        "unload").args[0]
    h2.vlm()
    assert h2._vlm is h._vlm  # one shared copy per (model, device, dtype, ...)
    h2.after_run()
    assert not any(lm.model is h._vlm.patcher for lm in mm.current_loaded_models)
    assert h2._vlm is None


def test_every_person_gives_one_shot_set_each(N, photo, handle):
    """subject_index -2: one shot set per person, and the photos repeated to line up with them."""
    import torch

    out = N["ShotCropTripleShotCompose"].execute(photo, handle, "original", "original",
                                                 "original", "", -2, 0).args
    sets, images = out[0], out[3]
    assert len(sets) >= 2 and images.shape[0] == len(sets)
    assert len({s.subject.index for s in sets}) == len(sets)       # a different person each
    assert torch.equal(images[0], images[1])                         # the same photo repeated
    cu, *_ = crop(N, images, sets, "close_up", fit="size", width=256, height=256).args
    assert cu.shape[0] == len(sets)
    # the default mode keeps one set per photo and passes the photos through
    one = N["ShotCropTripleShotCompose"].execute(photo, handle, "original", "original",
                                                 "original", "", -1, 0).args
    assert len(one[0]) == 1 and torch.equal(one[3], photo)


def test_offload_and_unload_leave_the_node_usable(N, photo):
    for keep in ("offload to CPU", "unload"):
        h = N["ShotCropLoadModel"].execute(BLAZEPOSE, "auto", "auto", "sdpa", "none", keep).args[0]
        for _ in range(2):  # the second run brings the pose model back from where it was put
            sets = N["ShotCropTripleShotCompose"].execute(photo, h, "original", "original",
                                                          "original", "", -1, 0).args[0]
            assert sets[0].subject is not None


# -- bad inputs (issue #13): one message that names the node and the fix ------------------------
def test_bad_image_tensors_give_one_clear_message(N, composed, photo, pack):
    import torch

    Err = pack.shotcrop_core.ShotCropError
    compose = N["ShotCropTripleShotCompose"]
    args = ("original", "original", "original", "", -1, 0)
    with pytest.raises(Err, match=r"^Triple-Shot Compose: the IMAGE batch is empty \(0 images\)"):
        compose.execute(photo[:0], _FewerPeopleLater(pack), *args)
    with pytest.raises(Err, match=r"^Crop By Shot: the IMAGE batch is empty \(0 images\)"):
        crop(N, photo[:0], composed.args[0])
    with pytest.raises(Err, match=r"^Shot Poster Layout: the IMAGE batch is empty"):
        N["ShotCropPosterLayout"].execute("poster", 800, 600, 8, 16, "#000", establishing=photo,
                                          medium=photo[:0], close_up=photo)
    with pytest.raises(Err, match=r"^Triple-Shot Compose: the IMAGE has 2 channels per pixel; "
                                  r"ShotCrop takes grey \(1\), RGB \(3\) or RGBA \(4\)"):
        compose.execute(photo[..., :2], _FewerPeopleLater(pack), *args)
    # The node's name once (pair_with_images used to add it a second time).
    with pytest.raises(Err) as e:
        crop(N, torch.rand(1, 4, 4, 3), composed.args[0])
    assert str(e.value).startswith("Crop By Shot: image 0 is 4x4 but its shots were made for a "
                                   "640x422 image")
    with pytest.raises(Err) as e:
        N["ShotCropPosterLayout"].execute("poster", 800, 600, 8, 16, "#000",
                                          shots=composed.args[0], image=torch.rand(2, 9, 9, 3))
    assert str(e.value).startswith("Shot Poster Layout: image 0 is 9x9 but its shots")
    # Grey and RGBA tensors are images too: one shot set each, for the same 640x422 photo.
    for t in (photo[..., :1], torch.cat([photo, torch.ones_like(photo[..., :1])], -1)):
        sets = compose.execute(t, _FewerPeopleLater(pack), *args).args[0]
        assert (sets[0].width, sets[0].height) == (640, 422) and not sets[0].fallback
        image, mask, *_ = crop(N, t, sets, "close_up").args
        b = sets[0].close_up.box
        assert tuple(image.shape[1:3]) == (b.h, b.w) and tuple(mask.shape) == (1, 422, 640)


def test_edit_box_outside_the_photo_says_the_valid_range(N, composed):
    with pytest.raises(Exception) as e:
        N["ShotCropEditShots"].execute(composed.args[0], '{"0": {"medium": [-50, 0, 300, 400]}}',
                                       True)
    assert str(e.value) == ("Edit Shots: image 0: medium box [-50, 0, 300, 400] reaches outside "
                            "the 640x422 image: keep 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 422 "
                            "(source pixels), or redraw it in the shot editor")


# -- schema fields of newer ComfyUI versions, feature-detected ---------------------------------
def _with_newer_schema_fields(monkeypatch):
    """io.Schema as ComfyUI 0.19+ has it: search_aliases (0.11) and has_intermediate_output."""
    import dataclasses

    from comfy_api.latest import io

    base = io.Schema
    assert dataclasses.is_dataclass(base)

    @dataclasses.dataclass
    class NewerSchema(base):
        search_aliases: list = dataclasses.field(default_factory=list)
        has_intermediate_output: bool = False

    monkeypatch.setattr(io, "Schema", NewerSchema)
    return NewerSchema


def test_newer_schema_fields_are_left_out_where_comfyui_lacks_them(N, pack):
    from comfy_api.latest import io

    known = pack.nodes.types.schema_fields()
    assert known == frozenset(inspect.signature(io.Schema).parameters)
    assert {"node_id", "inputs", "outputs"} <= known
    if "search_aliases" in known:
        return  # a newer ComfyUI: test_newer_schema_fields_are_set_where_comfyui_has_them covers it
    assert pack.nodes.types.newer_schema_fields(search_aliases=["x"],
                                                has_intermediate_output=True) == {}
    for node in N.values():  # builds on this version, without the newer fields
        schema = node.define_schema()
        assert not hasattr(schema, "search_aliases")
        assert not hasattr(schema, "has_intermediate_output")


def test_newer_schema_fields_are_set_where_comfyui_has_them(N, pack, monkeypatch):
    NewerSchema = _with_newer_schema_fields(monkeypatch)
    t = pack.nodes.types
    assert t.newer_schema_fields(search_aliases=["crop"], has_intermediate_output=True,
                                 not_a_field=1) == {"search_aliases": ["crop"],
                                                    "has_intermediate_output": True}
    schemas = {node_id: node.define_schema() for node_id, node in N.items()}
    for node_id, schema in schemas.items():
        assert isinstance(schema, NewerSchema)
        assert schema.search_aliases and all(isinstance(a, str) and a == a.lower()
                                             for a in schema.search_aliases), node_id
        # Only Compose sends UI output worth re-sending on a cache hit (preview + shot sets).
        assert schema.has_intermediate_output is (node_id == "ShotCropTripleShotCompose")
    compose = schemas["ShotCropTripleShotCompose"].search_aliases
    assert {"crop", "shot", "framing", "cinematic", "close-up", "establishing shot",
            "medium shot"} <= set(compose)
    assert "crop" in schemas["ShotCropCropByShot"].search_aliases
    assert "triptych" in schemas["ShotCropPosterLayout"].search_aliases


# -- shots past the photo, sheets (issue #16) ------------------------------------------------------
def test_compose_reaches_past_the_photo_only_when_asked_and_crop_pads_with_a_mask(N, photo,
                                                                                  handle):
    compose = N["ShotCropTripleShotCompose"]
    args = (photo, handle, "21:9", "4:5", "1:1", "", -1, 0, None)  # too wide to hold the group
    inside = compose.execute(*args).args[0][0]
    assert inside.establishing.box.inside(640, 422) and inside.beyond == 0
    out = compose.execute(*args, "when needed", 0.5).args
    s = out[0][0]
    est = s.establishing.box
    left, top, right, bottom = past = s.past("establishing")
    assert s.beyond == 0.5 and any(past)
    assert max(left, right) <= 320 and max(top, bottom) <= 211  # half the photo per side
    assert s.medium.box.inside(640, 422) and s.close_up.box.inside(640, 422)
    assert any("outpaint" in w for w in s.establishing.warnings)
    assert "to be outpainted" in s.establishing.description
    assert json.loads(out[2])[0]["shots"][0]["outpaint"] == dict(
        zip(("left", "top", "right", "bottom"), past))
    # Crop By Shot: the whole box, the photo's edge pixels repeated, a mask exactly on the
    # padding; the stitch mask is the box's part of the photo.
    image, mask, info, bbox, marks = N["ShotCropCropByShot"].execute(
        photo, out[0], "establishing", "native", 0, 0, 0, "1", "", "first", "edge", 0).args
    assert tuple(image.shape) == (1, est.h, est.w, 3)
    on = (max(est.x0, 0), max(est.y0, 0), min(est.x1, 640), min(est.y1, 422))
    want = np.ones((est.h, est.w), np.float32)
    want[on[1] - est.y0:on[3] - est.y0, on[0] - est.x0:on[2] - est.x0] = 0
    assert np.array_equal(marks[0].numpy(), want)
    inner = photo[0, on[1]:on[3], on[0]:on[2]].numpy()
    padded = np.pad(inner, ((top, bottom), (left, right), (0, 0)), mode="edge")
    assert np.allclose(image[0].numpy(), padded)
    assert float(mask.sum()) == (on[2] - on[0]) * (on[3] - on[1])
    assert bbox == [{"x": est.x0, "y": est.y0, "width": est.w, "height": est.h}]
    # A colour fill, a feathered seam.
    image, _, _, _, marks = N["ShotCropCropByShot"].execute(
        photo, out[0], "establishing", "native", 0, 0, 0, "1", "", "first", "#ff0000", 4).args
    side = np.argmax(past)  # the widest padding: left, top, right or bottom
    y, x = {0: (est.h // 2, 0), 1: (0, est.w // 2), 2: (est.h // 2, est.w - 1),
            3: (est.h - 1, est.w // 2)}[side]
    assert np.allclose(image[0, y, x].numpy(), [1, 0, 0]) and float(marks[0, y, x]) == 1
    seam = {0: (est.h // 2, left + 1), 1: (top + 1, est.w // 2),
            2: (est.h // 2, est.w - right - 2), 3: (est.h - bottom - 2, est.w // 2)}[side]
    assert 0 < float(marks[0][seam]) < 1


def test_sheet_frames_each_shot_at_its_panel_and_the_layout_cuts_nothing(N, photo, handle):
    (sheet,) = N["ShotCropSheet"].execute("triptych", 1920, 832, 16, 32).args
    sets = N["ShotCropTripleShotCompose"].execute(photo, handle, "16:9", "4:5", "1:1", "", -1, 0,
                                                  None, "never", 0.5, sheet).args[0]
    panels = sheet.panels()
    for shot in sets[0]:
        x0, y0, x1, y1 = panels[shot.name]
        assert abs(shot.box.w / shot.box.h - (x1 - x0) / (y1 - y0)) < 0.01, shot
    L = N["ShotCropPosterLayout"]
    (out,) = L.execute("poster", 64, 64, 0, 0, "#000000", shots=sets, image=photo,
                       sheet=sheet).args  # the sheet replaces the widgets
    assert tuple(out.shape) == (1, 832, 1920, 3)


def test_layout_reframes_shots_of_another_aspect_by_the_grammar(N, composed, photo):
    from shotcrop_core import grammar as G
    from shotcrop_core.anatomy import measure
    from shotcrop_core.layout import Sheet, fit_to_sheet

    sets = composed.args[0]  # 16:9 / 4:5 / 1:1: none fits a 19:24 triptych panel
    s = sets[0]
    sheet = Sheet("triptych", 1920, 832, 16, 32)
    fitted = fit_to_sheet(s, sheet, s.people, s.framing)
    a = measure(s.people[s.subject.index])
    faces = G.bystander_faces(list(s.people), s.subject.index)
    rep = G.check_set({x.name: x.box.rect for x in fitted}, a, 640, 422, faces)
    for shot in fitted:
        x0, y0, x1, y1 = sheet.panels()[shot.name]
        assert abs(shot.box.w / shot.box.h - (x1 - x0) / (y1 - y0)) < 0.01
    # A centre cut of the 16:9 establishing shot would lose the grammar's framing; the
    # re-frame keeps every rule the 16:9 shot kept.
    before = G.check_set({x.name: x.box.rect for x in s}, a, 640, 422, faces)
    assert set(rep.failures["establishing"]) <= set(before.failures["establishing"]) | {"room"}
    (out,) = N["ShotCropPosterLayout"].execute("triptych", 1920, 832, 16, 32, "#000000",
                                               shots=sets, image=photo).args
    assert tuple(out.shape) == (1, 832, 1920, 3)


def test_edit_shots_allows_boxes_past_the_photo_only_as_far_as_the_set_allows(N, photo, handle):
    sets = N["ShotCropTripleShotCompose"].execute(photo, handle, "21:9", "4:5", "1:1", "", -1, 0,
                                                  None, "when needed", 0.25).args[0]
    E = N["ShotCropEditShots"]
    ok, _ = E.execute(sets, '{"0": {"establishing": [-100, -100, 600, 400]}}', False).args
    assert ok[0].establishing.box.to_list() == [-100, -100, 600, 400]
    with pytest.raises(Exception) as e:
        E.execute(sets, '{"0": {"establishing": [-200, 0, 600, 400]}}', False)
    assert "the 160 x 105 px it may reach past it" in str(e.value)


def test_compose_weaves_captions_one_for_the_batch_or_one_per_image(N, photo, handle):
    import torch

    compose = N["ShotCropTripleShotCompose"]
    batch = torch.cat([photo, photo])
    args = [batch, handle, "16:9", "4:5", "1:1", "", -1, 0, None, "never", 0.5, None]
    one = compose.execute(*args, "A woman in a blue top sits at a dinner table.").args[0]
    assert all(s.establishing.description.startswith("A wide establishing shot of a dinner "
                                                     "table") for s in one)
    two = compose.execute(*args, "A woman at a dinner table.\nA woman in a kitchen.").args[0]
    assert "dinner table" in two[0].establishing.description
    assert "a kitchen" in two[1].establishing.description
    plain = compose.execute(*args).args[0]  # no caption: the template, no place named
    assert "the main subject" in plain[0].establishing.description
    assert "table" not in plain[0].establishing.description
