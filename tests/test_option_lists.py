"""The name lists users choose from (dtype, attention, quantization, perception): one home each,
read by the loaders, the CLI and the training configs."""

import pytest

from shotcrop_core.errors import ShotCropError
from shotcrop_core.model_options import ATTENTIONS, DTYPE_NAMES, DTYPES, QUANTIZATIONS


def test_lists():
    assert DTYPES == ("auto", "bf16", "fp16", "fp32")
    assert ATTENTIONS == ("sdpa", "flash_attention_2", "eager")
    assert QUANTIZATIONS == ("8bit", "4bit")
    assert set(DTYPES[1:]) <= set(DTYPE_NAMES)  # every menu entry but auto names a dtype


@pytest.mark.parametrize("spelling, attr", [
    ("bf16", "bfloat16"), ("bfloat16", "bfloat16"), ("fp16", "float16"), ("float16", "float16"),
    ("half", "float16"), ("fp32", "float32"), ("float32", "float32"), ("float", "float32"),
])
def test_every_dtype_spelling_names_its_torch_dtype(spelling, attr):
    torch = pytest.importorskip("torch")
    from shotcrop_core.model_files import named_dtype

    assert named_dtype(spelling) is getattr(torch, attr)


@pytest.mark.parametrize("bad", ["fp8", "auto", "", None, 16])
def test_unknown_dtype_lists_the_names(bad):
    pytest.importorskip("torch")
    from shotcrop_core.model_files import named_dtype

    with pytest.raises(ShotCropError, match=r"Unknown dtype .*; use auto, bf16, fp16 or fp32\."):
        named_dtype(bad)


def test_loaders_check_against_the_same_lists():
    from shotcrop_core.vlm import loading

    assert loading.ATTENTIONS is ATTENTIONS and loading.QUANTIZATIONS is QUANTIZATIONS
    with pytest.raises(ShotCropError, match="use one of sdpa, flash_attention_2, eager"):
        loading._pick_attention("xformers", None)
    with pytest.raises(ShotCropError, match="use 8bit or 4bit, or none"):
        loading._quantization_config("2bit", None, None)


def test_perception_lists():
    from shotcrop_core.perception import BACKENDS, PERCEPTIONS
    from shotcrop_core.perception import PERCEPTIONS_OR_NONE as TRAIN_PERCEPTIONS

    assert BACKENDS == ("movenet", "blazepose", "vitpose")
    assert PERCEPTIONS == ("auto", "keypoints", "movenet", "blazepose", "vitpose")
    assert TRAIN_PERCEPTIONS == ("auto", "keypoints", "movenet", "blazepose", "vitpose", "none")
