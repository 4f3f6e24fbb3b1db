"""load_vlm on tiny random-weight Qwen3-VL / Qwen2.5-VL, loaded offline through the real Hub-cache path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")  # the Qwen VL processors' video half imports it
pytest.importorskip("transformers")
huggingface_hub = pytest.importorskip("huggingface_hub")

from PIL import Image  # noqa: E402

from shotcrop_core.errors import ModelUnavailableError, ShotCropError  # noqa: E402
from shotcrop_core.models import DEFAULT_VLM, KNOWN_VLMS  # noqa: E402
from shotcrop_core.vlm import family_of, input_sizes, load_vlm, resolve_vlm  # noqa: E402
from tiny_models import save_to_hub_cache  # noqa: E402
from tiny_vlm import build_tiny_qwen3_vl, build_tiny_qwen25_vl  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
from conftest import DEAD_ENDPOINT  # noqa: E402
QWEN25_REPO = "Qwen/Qwen2.5-VL-3B-Instruct"
#: (repo id, family, model input size of a 64x48 photo: patch 16 -> 64x64, patch 14 -> 56x56)
CASES = [(DEFAULT_VLM, "qwen3_vl", (64, 64)), (QWEN25_REPO, "qwen2_5_vl", (56, 56))]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_vlm")
    return {"qwen3_vl": build_tiny_qwen3_vl(root / "qwen3_vl"),
            "qwen2_5_vl": build_tiny_qwen25_vl(root / "qwen2_5_vl")}


def _chat(processor, images: list, questions: list[str]):
    texts = [processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}],
        tokenize=False, add_generation_prompt=True) for q in questions]
    return processor(text=texts, images=images, padding=True, return_tensors="pt")


@pytest.mark.parametrize("repo, family, size", CASES)
def test_hub_repo_offline_loads_and_generates(tiny, offline_hub, repo, family, size):
    snapshot = save_to_hub_cache(tiny[family], offline_hub, repo)
    loaded = load_vlm() if repo == DEFAULT_VLM else load_vlm(repo)
    assert loaded.family == family and loaded.path == snapshot
    assert loaded.device.type == "cpu" or torch.cuda.is_available()
    assert loaded.dtype == (torch.float32 if loaded.device.type == "cpu" else loaded.dtype)
    assert loaded.model.config._attn_implementation == "sdpa"
    assert loaded.processor.tokenizer.padding_side == "left"

    photo = Image.new("RGB", (64, 48), (180, 40, 40))
    inputs = _chat(loaded.processor, [photo], ["Detect the person."]).to(loaded.device)
    assert input_sizes(loaded.processor, inputs["image_grid_thw"]) == [size]
    start = time.perf_counter()
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert time.perf_counter() - start < 5
    new = out[:, inputs["input_ids"].shape[1]:]
    assert 1 <= new.shape[1] <= 4
    assert isinstance(loaded.processor.batch_decode(new, skip_special_tokens=True)[0], str)


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_5_vl"])
def test_local_folder_batch_left_padding_and_sizes(tiny, family):
    loaded = load_vlm(tiny[family], device="cpu", dtype="fp32")
    wide, tall = Image.new("RGB", (100, 60), "white"), Image.new("RGB", (48, 64), "gray")
    inputs = _chat(loaded.processor, [wide, tall], ["Where?", "Detect every person and their faces."])
    # Left padding: every row ends on a real token, so generation continues each prompt directly.
    assert inputs["attention_mask"][:, -1].all() and not inputs["attention_mask"][0, 0]
    patch = 16 if family == "qwen3_vl" else 14
    assert input_sizes(loaded.processor, inputs["image_grid_thw"]) == (
        [(96, 64), (64, 64)] if patch == 16 else [(112, 56), (56, 56)])  # (width, height)
    with torch.inference_mode():
        out = loaded.model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[0] == 2


def test_options(tiny):
    loaded = load_vlm(tiny["qwen3_vl"], dtype="bf16", attention="flash_attention_2")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16  # dtype= honoured, not ignored
    if not torch.cuda.is_available():
        assert loaded.model.config._attn_implementation == "sdpa"  # no flash_attn: silent fallback
    eager = load_vlm(tiny["qwen2_5_vl"], attention="eager")
    assert eager.model.config._attn_implementation == "eager"
    with pytest.raises(ShotCropError, match="attention"):
        load_vlm(tiny["qwen3_vl"], attention="flash")
    with pytest.raises(ShotCropError, match="dtype"):
        load_vlm(tiny["qwen3_vl"], dtype="int3")
    with pytest.raises(ShotCropError, match="CUDA"):
        load_vlm(tiny["qwen3_vl"], device="cpu", quantization="4bit")
    with pytest.raises(ShotCropError, match="quantization"):
        load_vlm(tiny["qwen3_vl"], device="cpu", quantization="3bit")


def test_family_of(tiny):
    assert family_of(tiny["qwen3_vl"]) == "qwen3_vl"
    assert family_of(tiny["qwen2_5_vl"] / "config.json") == "qwen2_5_vl"
    assert family_of({"model_type": "qwen2_5_vl"}) == "qwen2_5_vl"
    with pytest.raises(ShotCropError, match="qwen3_vl, qwen2_5_vl") as info:
        family_of({"model_type": "llava"})  # the repo name never decides the family
    assert "llava" in str(info.value)
    assert DEFAULT_VLM in KNOWN_VLMS and len(set(KNOWN_VLMS)) == 5


def test_tiny_folders_use_hub_layout(tiny):
    # What lets one folder load under transformers 4.57 and 5.x, as real Qwen repos do.
    for folder in tiny.values():
        names = {p.name for p in folder.iterdir()}
        assert {"model.safetensors", "preprocessor_config.json", "video_preprocessor_config.json",
                "tokenizer.json", "chat_template.jinja"} <= names
        assert not any(n.endswith((".bin", ".pt", ".pth", ".pkl")) for n in names)
        text = json.loads((folder / "config.json").read_text())["text_config"]
        assert "rope_parameters" not in text and sum(text["rope_scaling"]["mrope_section"]) == 8


def test_pinned_revision_and_cache_dir(tiny, offline_hub, tmp_path):
    other, rev = tmp_path / "elsewhere", "c" * 40
    snap = save_to_hub_cache(tiny["qwen2_5_vl"], other, QWEN25_REPO, revision_hex=rev)
    assert resolve_vlm(QWEN25_REPO, revision=rev, cache_dir=other) == snap
    with pytest.raises(ModelUnavailableError, match=QWEN25_REPO):  # not in HF_HOME
        resolve_vlm(QWEN25_REPO)


def _cause_chain(e: BaseException | None) -> list[BaseException]:
    out = []
    while e is not None:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def test_empty_cache_offline_names_repo(offline_hub):
    with pytest.raises(ModelUnavailableError) as info:
        load_vlm(DEFAULT_VLM)
    msg = str(info.value)
    assert f"hf download {DEFAULT_VLM}" in msg and "HF_HOME" in msg and str(offline_hub) in msg
    from huggingface_hub.errors import OfflineModeIsEnabled
    assert any(isinstance(e, OfflineModeIsEnabled) for e in _cause_chain(info.value))


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=False)
    return dst


def test_custom_code_is_refused(tiny, tmp_path, offline_hub):
    folder = _copy(tiny["qwen3_vl"], tmp_path / "custom")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForImageTextToText": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ShotCropError, match="trust_remote_code"):
        load_vlm(folder)
    save_to_hub_cache(folder, offline_hub, "someone/custom-vl")  # same from the Hub
    with pytest.raises(ShotCropError, match="trust_remote_code"):
        resolve_vlm("someone/custom-vl")


def test_pickle_only_is_refused(tiny, tmp_path, offline_hub):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(tiny["qwen3_vl"] / "config.json", folder)
    (folder / "pytorch_model.bin").write_bytes(b"never unpickled")
    with pytest.raises(ShotCropError, match="pickle") as info:
        load_vlm(str(folder))
    assert not isinstance(info.value, ModelUnavailableError) and "pytorch_model.bin" in str(info.value)
    save_to_hub_cache(folder, offline_hub, "someone/pickled-vl")
    with pytest.raises(ShotCropError, match="safetensors"):
        resolve_vlm("someone/pickled-vl")


def test_allowed_roots(tiny, tmp_path, offline_hub):
    root, outside = tmp_path / "models" / "LLM", tmp_path / "outside"
    root.mkdir(parents=True)
    _copy(tiny["qwen3_vl"], root / "tiny-qwen3")
    _copy(tiny["qwen2_5_vl"], outside)
    (root / "alias").symlink_to(root / "tiny-qwen3", target_is_directory=True)  # stays inside
    (root / "escape").symlink_to(outside, target_is_directory=True)
    roots = [tmp_path / "empty-root", root]

    assert resolve_vlm("tiny-qwen3", allowed_roots=roots) == (root / "tiny-qwen3").resolve()
    assert resolve_vlm("alias", allowed_roots=roots) == (root / "tiny-qwen3").resolve()
    assert load_vlm("tiny-qwen3", allowed_roots=roots).family == "qwen3_vl"
    for bad in ["../outside", "tiny-qwen3/../../outside", str(outside), str(root / "tiny-qwen3"), "."]:
        with pytest.raises(ShotCropError, match="inside") as info:
            resolve_vlm(bad, allowed_roots=roots)
        assert not isinstance(info.value, ModelUnavailableError)
    with pytest.raises(ShotCropError, match="outside the model folder"):
        resolve_vlm("escape", allowed_roots=roots)
    with pytest.raises(ShotCropError, match="not found"):
        resolve_vlm("no/such/model", allowed_roots=roots)
    # A name in no root is a Hub repo id: from the cache, or the usual download advice.
    snap = save_to_hub_cache(tiny["qwen2_5_vl"], offline_hub, QWEN25_REPO)
    assert resolve_vlm(QWEN25_REPO, allowed_roots=roots) == snap
    with pytest.raises(ModelUnavailableError, match=str(root)):
        resolve_vlm("Qwen/Qwen3-VL-8B-Instruct", allowed_roots=roots)


def test_missing_local_folder():
    with pytest.raises(ShotCropError, match="not found"):
        resolve_vlm("./no/such/vlm")


def test_import_does_not_pull_in_torch():
    code = ("import sys, shotcrop_core.vlm, shotcrop_core.vlm.loading; "
            "heavy = [m for m in ('torch', 'transformers', 'huggingface_hub') if m in sys.modules]; "
            "assert not heavy, heavy")
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, check=True)
