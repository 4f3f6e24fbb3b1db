"""The names a model loader accepts for its dtype, attention kernel and quantization.

Plain data with no imports: the ComfyUI nodes build their menus from these lists without
importing the loaders, and the loaders check their arguments against the same lists.
"""

#: Compute dtypes by name; "auto" lets the loader pick for the device.
DTYPES: tuple[str, ...] = ("auto", "bf16", "fp16", "fp32")
#: Every accepted spelling of a named dtype -> its full name, which is both torch's attribute
#: (torch.bfloat16) and vLLM's dtype string.
DTYPE_NAMES: dict[str, str] = {
    "bf16": "bfloat16", "bfloat16": "bfloat16",
    "fp16": "float16", "float16": "float16", "half": "float16",
    "fp32": "float32", "float32": "float32", "float": "float32",
}
#: Attention kernels of a transformers VLM (flash_attention_2 falls back to sdpa without it).
ATTENTIONS: tuple[str, ...] = ("sdpa", "flash_attention_2", "eager")
#: bitsandbytes weight quantizations of a VLM; no quantization is None (the nodes' "none").
QUANTIZATIONS: tuple[str, ...] = ("8bit", "4bit")

__all__ = ["ATTENTIONS", "DTYPES", "DTYPE_NAMES", "QUANTIZATIONS"]
