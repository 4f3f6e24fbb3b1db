"""Helpers for the tests that drive a real ComfyUI server with API-format prompts built node by
node (test_comfy_bad_inputs.py, test_comfy_vlm_unavailable.py)."""

from __future__ import annotations

import json
import uuid

BLAZEPOSE = "framing: BlazePose (built in, no download)"


# -- graphs ----------------------------------------------------------------------------------------
class Graph:
    """An API-format prompt built node by node; `add` returns the node id for links."""

    def __init__(self, server) -> None:
        self.prompt: dict = {}
        self.photo = self.add("LoadImage", image=server.photo)
        self.model = self.add("ShotCropLoadModel", backend=BLAZEPOSE, device="auto", dtype="auto",
                              attention="sdpa", quantization="none", keep_loaded="keep")

    def add(self, class_type: str, **inputs) -> str:
        node_id = str(len(self.prompt) + 1)
        self.prompt[node_id] = {"class_type": class_type, "inputs": inputs}
        return node_id

    def compose(self, image, **over) -> str:
        inputs = dict(image=image, model=[self.model, 0], establishing_aspect="16:9",
                      medium_aspect="4:5", close_up_aspect="1:1", intent="", subject_index=-1,
                      seed=0)
        return self.add("ShotCropTripleShotCompose", **{**inputs, **over})

    def crop(self, image, shots, **over) -> str:
        inputs = dict(image=image, shots=shots, shot="medium", fit="native", width=1024,
                      height=1024, long_side=1024, snap="1", pad_color="", batch_rule="first")
        return self.add("ShotCropCropByShot", **{**inputs, **over})

    def layout(self, **over) -> str:
        inputs = dict(layout="triptych", width=960, height=320, gutter=8, margin=8,
                      background="#ffffff")
        return self.add("ShotCropPosterLayout", **{**inputs, **over})

    def save(self, image, prefix: str = "bad_inputs") -> str:
        return self.add("SaveImage", images=image, filename_prefix=prefix)

    def show(self, text) -> str:
        return self.add("PreviewAny", source=text)


def run(server, graph: Graph) -> dict:
    return server.run(graph.prompt)


def errors_of(entry: dict) -> list[dict]:
    return [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"]


def serving(server) -> None:
    """ComfyUI still answers, and runs a good prompt for real (a new intent: no cache hit)."""
    assert server.request("/system_stats")[0] == 200
    g = Graph(server)
    c = g.compose([g.photo, 0], intent=f"still serving {uuid.uuid4().hex}")
    g.show([c, 2])
    entry = run(server, g)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
    shots = json.loads(entry["outputs"][c]["shotcrop_shots"][0])
    assert shots[0]["width"] == 640 and not shots[0].get("fallback")


def expect_error(server, graph: Graph, node_type: str, message: str) -> str:
    """The run fails in `node_type` with one ShotCropError whose message is `message` (or starts
    with it when it ends in '...'); then the server must still serve."""
    entry = run(server, graph)
    assert entry["status"]["status_str"] == "error", json.dumps(entry["status"])[:2000]
    (err,) = errors_of(entry)
    text = err["exception_message"].strip()
    assert err["node_type"] == node_type, err
    assert err["exception_type"].endswith("ShotCropError"), (err["exception_type"], text)
    if message.endswith("..."):
        assert text.startswith(message[:-3]), text
    else:
        assert text == message, text
    assert "\n" not in text and "Traceback" not in text
    serving(server)
    return text


def saved_sizes(server, entry, save_id) -> list[tuple[int, int]]:
    from PIL import Image

    out = []
    for img in entry["outputs"][save_id]["images"]:
        with Image.open(server.base / "output" / img["subfolder"] / img["filename"]) as im:
            out.append(im.size)
    return out
