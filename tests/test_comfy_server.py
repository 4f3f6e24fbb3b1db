"""The pack inside a real, headless ComfyUI server on CPU, driven over its HTTP API.

Needs a ComfyUI checkout with its requirements installed: COMFYUI_DIR=/path/to/ComfyUI.
The server runs from a temporary base directory with this repository linked in as
custom_nodes/shotcrop, and is always killed at the end of the module.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
if not COMFYUI_DIR:
    pytest.skip("ComfyUI server tests need a ComfyUI checkout: run with "
                "COMFYUI_DIR=/path/to/ComfyUI", allow_module_level=True)
if not (Path(COMFYUI_DIR) / "main.py").is_file():
    pytest.skip(f"COMFYUI_DIR={COMFYUI_DIR} is not a ComfyUI checkout (no main.py in it)",
                allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
PHOTO = Path(__file__).resolve().parent / "data" / "000000000790.jpg"
WORKFLOW = ROOT / "example_workflows" / "photo_to_three_crops.json"
NODE_IDS = {"ShotCropLoadModel", "ShotCropTripleShotCompose", "ShotCropCropByShot",
            "ShotCropShotToPrompt", "ShotCropPosterLayout", "ShotCropEditShots"}
START_TIMEOUT = 180  # s; ~10 s on a 2-core machine
RUN_TIMEOUT = 240  # s for one prompt


class Server:
    def __init__(self, base: Path, port: int, proc: subprocess.Popen, log: Path) -> None:
        self.base, self.port, self.proc, self.log_path = base, port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None,
                timeout: float = 30):
        req = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get_json(self, path: str):
        status, body = self.request(path)
        assert status == 200, f"GET {path} -> {status}: {body[:500]!r}"
        return json.loads(body)

    def post_json(self, path: str, payload) -> tuple[int, dict]:
        status, body = self.request(path, json.dumps(payload).encode(),
                                    {"Content-Type": "application/json"})
        return status, json.loads(body) if body else {}

    def upload(self, path: Path) -> str:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
                f"filename=\"{path.name}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
        body += path.read_bytes() + f"\r\n--{boundary}\r\nContent-Disposition: form-data; " \
                                    f"name=\"overwrite\"\r\n\r\ntrue\r\n--{boundary}--\r\n".encode()
        status, out = self.request("/upload/image", body,
                                   {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert status == 200, out
        return json.loads(out)["name"]

    def run(self, prompt: dict) -> dict:
        """Queue an API-format prompt and wait for its history entry (bounded)."""
        status, out = self.post_json("/prompt", {"prompt": prompt, "client_id": "shotcrop-test"})
        assert status == 200, f"/prompt refused the graph: {json.dumps(out)[:2000]}"
        pid = out["prompt_id"]
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            hist = self.get_json(f"/history/{pid}")
            if pid in hist and hist[pid].get("status", {}).get("completed") is not None:
                if hist[pid]["status"].get("status_str") in ("success", "error"):
                    return hist[pid]
            assert self.proc.poll() is None, "ComfyUI exited:\n" + self.log()[-3000:]
            time.sleep(0.5)
        raise AssertionError(f"prompt {pid} did not finish in {RUN_TIMEOUT} s:\n"
                             + self.log()[-3000:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "shotcrop").symlink_to(ROOT, target_is_directory=True)
    port = _free_port()
    log = base / "server.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1")
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
             "--base-directory", str(base)],
            cwd=COMFYUI_DIR, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)  # own process group: the finalizer kills its children too

    def stop() -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(15)

    request.addfinalizer(stop)
    srv = Server(base, port, proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ComfyUI exited with {proc.returncode} while starting:\n"
                        + srv.log()[-3000:])
        try:
            if srv.request("/system_stats", timeout=2)[0] == 200:
                return srv
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"ComfyUI did not answer within {START_TIMEOUT} s:\n" + srv.log()[-3000:])


@pytest.fixture(scope="module")
def object_info(server):
    return server.get_json("/object_info")


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """The API-format prompt the frontend would queue for a UI-format workflow: linked inputs
    become [node id, slot], widget values are matched to the node's widget inputs in order."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node.get("mode", 0) != 0:
            continue
        info = object_info[node["type"]]
        specs = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
        order = info["input_order"].get("required", []) + info["input_order"].get("optional", [])
        inputs = {}
        for inp in node.get("inputs", []):
            if inp.get("link") is not None:
                link = links[inp["link"]]
                inputs[inp["name"]] = [str(link[1]), link[2]]
        values = list(node.get("widgets_values") or [])
        for name in order:
            kind, opts = specs[name][0], (specs[name][1] if len(specs[name]) > 1 else {})
            widget = isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN",
                                                        "COMBO")
            if not widget or opts.get("forceInput") or name in inputs:
                continue
            inputs[name] = values.pop(0)
            control = opts.get("control_after_generate")
            if control or (control is None and kind == "INT" and name in ("seed", "noise_seed")):
                values.pop(0)  # the frontend's "control after generate" widget
            if opts.get("image_upload"):
                values.pop(0)  # LoadImage's upload button
        prompt[str(node["id"])] = {"class_type": node["type"], "inputs": inputs}
    return prompt


@pytest.fixture(scope="module")
def example_prompt(server, object_info):
    name = server.upload(PHOTO)
    prompt = ui_to_api(json.loads(WORKFLOW.read_text()), object_info)
    loaders = [k for k, v in prompt.items() if v["class_type"] == "LoadImage"]
    assert len(loaders) == 1
    prompt[loaders[0]]["inputs"]["image"] = name
    return prompt


# -- tests ------------------------------------------------------------------------------------
def test_all_nodes_registered(object_info, server):
    assert NODE_IDS <= set(object_info), sorted(n for n in object_info if "ShotCrop" in n)
    for node_id in NODE_IDS:
        info = object_info[node_id]
        assert info["category"] == "ShotCrop" and info["display_name"]
        assert info["python_module"] == "custom_nodes.shotcrop"
    backend = object_info["ShotCropLoadModel"]["input"]["required"]["backend"]
    assert "framing: BlazePose (built in, no download)" in backend[1]["options"]
    # The pack's web folder and locales are served.
    status, body = server.request("/extensions/shotcrop/shotcrop.js")
    assert status == 200 and b"registerExtension" in body
    assert server.request("/extensions/shotcrop/docs/ShotCropCropByShot.md")[0] == 200
    i18n = server.get_json("/i18n")
    assert i18n["zh"]["nodeDefs"]["ShotCropCropByShot"]["display_name"] == "按镜头裁剪"


def test_example_workflow_runs_and_crops_match_the_shots(server, example_prompt):
    from PIL import Image

    entry = server.run(example_prompt)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000]
    outputs = entry["outputs"]
    compose_id = next(k for k, v in example_prompt.items()
                      if v["class_type"] == "ShotCropTripleShotCompose")
    shots = json.loads(outputs[compose_id]["shotcrop_shots"][0])
    assert len(shots) == 1 and shots[0]["width"] == 640 and not shots[0].get("fallback")
    boxes = {s["shot"]: s["box"] for s in shots[0]["shots"]}
    assert outputs[compose_id]["images"][0]["type"] == "temp"  # the preview on the node
    crop_of = {k: v["inputs"]["shot"] for k, v in example_prompt.items()
               if v["class_type"] == "ShotCropCropByShot"}
    saved = 0
    for node_id, node in example_prompt.items():
        if node["class_type"] != "SaveImage":
            continue
        shot = crop_of[node["inputs"]["images"][0]]
        (img,) = outputs[node_id]["images"]
        path = server.base / "output" / img["subfolder"] / img["filename"]
        x0, y0, x1, y1 = boxes[shot]
        with Image.open(path) as im:
            assert im.size == (x1 - x0, y1 - y0), (shot, im.size, boxes[shot])
        saved += 1
    assert saved == 3


def test_server_log_is_clean(server, example_prompt):
    """Our pack imported, and nothing about it went wrong (other packs' and comfy_extras'
    missing optional dependencies are not ours to judge)."""
    lines = server.log().splitlines()
    ours = [line for line in lines if line.rstrip().endswith("custom_nodes/shotcrop")]
    assert ours and "IMPORT FAILED" not in ours[0], "\n".join(lines[-60:])
    blocks, block = [], None  # each traceback with the lines that follow it
    for line in lines:
        if line.startswith("Traceback"):
            block = [line]
            blocks.append(block)
        elif block is not None and (line.startswith(" ") or not blocks[-1][-1].strip()):
            block.append(line)
        elif block is not None:
            block.append(line)  # the exception line itself
            block = None
    for b in blocks:
        assert "shotcrop" not in "\n".join(b).lower(), "\n".join(b)
    for bad in ("Cannot import", "comfy_entrypoint", "Skip "):
        hits = [line for line in lines if bad in line and "shotcrop" in line.lower()]
        assert not hits, "\n".join(hits)


def test_shot_typo_in_a_saved_graph_is_refused_naming_the_node(server, example_prompt):
    prompt = json.loads(json.dumps(example_prompt))
    crop_id = next(k for k, v in prompt.items() if v["class_type"] == "ShotCropCropByShot")
    prompt[crop_id]["inputs"]["shot"] = "clsoe_up"
    status, out = server.post_json("/prompt", {"prompt": prompt})
    # ComfyUI still queues the outputs that do not depend on the bad node (200), or refuses
    # the whole graph when none is left (400); either way node_errors names the node.
    assert status in (200, 400), out
    err = out["node_errors"][crop_id]
    assert err["dependent_outputs"] and all(prompt[o]["class_type"] == "SaveImage"
                                            for o in err["dependent_outputs"])
    assert err["class_type"] == "ShotCropCropByShot"
    details = " ".join(e["details"] for e in err["errors"])
    assert "Crop By Shot: unknown shot 'clsoe_up'" in details and "'shot' menu" in details


def test_bad_value_at_run_time_names_the_node_and_the_fix(server, example_prompt):
    prompt = json.loads(json.dumps(example_prompt))
    crop_id = next(k for k, v in prompt.items() if v["class_type"] == "ShotCropCropByShot")
    prompt[crop_id]["inputs"]["pad_color"] = "blue"
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "error"
    msgs = [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"]
    assert msgs and msgs[0]["node_type"] == "ShotCropCropByShot"
    assert msgs[0]["exception_message"].startswith("Crop By Shot: pad_color 'blue' is not a colour")
