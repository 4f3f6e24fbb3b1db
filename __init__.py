"""ShotCrop as a ComfyUI custom node pack (V3 API).

ComfyUI imports this folder as a package: the nodes live in nodes/, the library in
shotcrop_core/. No NODE_CLASS_MAPPINGS here on purpose: ComfyUI ignores comfy_entrypoint when a
pack also exports it.
"""

import importlib.util

#: Frontend extension (served by ComfyUI); the shot editor will live here.
WEB_DIRECTORY = "./web"

# pytest imports this file as the repository's root package when it runs the library tests,
# where ComfyUI is absent: only wire up the nodes when ComfyUI's API can be imported.
if importlib.util.find_spec("comfy_api") is not None:
    from .nodes import comfy_entrypoint  # noqa: F401

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
