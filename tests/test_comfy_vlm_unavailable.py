"""A VLM chosen where transformers cannot give ShotCrop its model classes, on a real ComfyUI server.

ComfyUI itself cannot start without transformers (comfy/sd1_clip.py imports it at start-up), so
"transformers missing" is simulated the one way a running ComfyUI can meet it: a sitecustomize
shim on PYTHONPATH makes `transformers.models.auto.modeling_auto` fail to import, as a broken or
half-upgraded install does. `from transformers import AutoModelForImageTextToText` then raises
ModuleNotFoundError exactly as it would without the package, while ComfyUI's own tokenizers still
import. A model folder is in place, so nothing but transformers stands in the way.

Needs a ComfyUI checkout with its requirements installed: COMFYUI_DIR=/path/to/ComfyUI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from comfy_graph import Graph, expect_error, serving
from comfy_server import comfyui_dir_or_skip, start_server

COMFYUI_DIR = comfyui_dir_or_skip("main.py", "ComfyUI server tests")

PHOTO = Path(__file__).resolve().parent / "data" / "000000000790.jpg"
MODEL = "tiny-qwen3-vl"
BLOCKED = "transformers.models.auto.modeling_auto"
SHIM = f'''"""Test shim (tests/test_comfy_vlm_unavailable.py): transformers' model classes
fail to import."""
import sys


class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name == {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Blocked())
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    from tiny_vlm import build_tiny_qwen3_vl

    shim = tmp_path_factory.mktemp("shim")
    (shim / "sitecustomize.py").write_text(SHIM)

    def prepare(base: Path) -> None:
        build_tiny_qwen3_vl(base / "models" / "LLM" / "ShotCrop" / MODEL)

    srv = start_server(COMFYUI_DIR, tmp_path_factory, request, prepare=prepare,
                       env={"PYTHONPATH": str(shim)})
    srv.photo = srv.upload(PHOTO)
    return srv


def test_the_shim_is_active_and_comfyui_serves(server):
    assert f"No module named '{BLOCKED}'" not in server.log()  # nothing of ComfyUI's needs it
    serving(server)  # BlazePose: no transformers model classes involved


@pytest.mark.parametrize("backend", [f"vlm: {MODEL}", "vlm: Qwen/Qwen3-VL-4B-Instruct"])
def test_vlm_without_transformers_is_one_clear_error(server, backend):
    """A placed model folder and a Hub id (offline here) alike: the transformers problem is
    reported first, before any model is looked up or downloaded, and names the way out."""
    g = Graph(server)
    g.prompt[g.model]["inputs"].update(backend=backend, device="cpu", dtype="fp32")
    c = g.compose([g.photo, 0])
    g.show([c, 2])
    text = expect_error(server, g, "ShotCropTripleShotCompose",
                        "Triple-Shot Compose: The vision-language models need the transformers "
                        "package (4.57 or newer), which cannot be imported in this Python "
                        "environment (Could not import module 'AutoModelForImageTextToText'...")
    assert text.endswith("Install or repair it there, or use a framing backend "
                                  "(BlazePose) instead of a VLM."), text
