"""Write example_workflows/photo_outpaint_poster.json: one sheet for framing and layout, an
establishing shot that reaches past the photo, outpainted by an inpainting checkpoint.

    python tools/make_outpaint_workflow.py

The graph (UI format, as the frontend saves it): Load Image -> Load ShotCrop -> Shot Sheet
(poster 1920x1820: its top panel is 16:9) -> Triple-Shot Compose (sheet, beyond_photo when
needed) -> Crop By Shot (establishing, edge padding, a feathered outpaint mask) -> VAE Encode
(for Inpainting) with that mask -> KSampler (denoise 1.0, prompt from Shot Description To Prompt)
-> VAE Decode -> Shot Poster Layout (the same sheet; medium and close-up cut as they are) ->
Save Image. The checkpoint name is a placeholder: the user picks an inpainting checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "example_workflows" / "photo_outpaint_poster.json"
CHECKPOINT = "sd-v1-5-inpainting.safetensors"
SHEET = ["poster", 1920, 1820, 16, 32]
NOTE = ("Needs an inpainting checkpoint (e.g. Stable Diffusion 1.5 inpainting) in "
        "models/checkpoints: pick it in Load Checkpoint (the name saved here is only an "
        "example).\n\nShot Sheet is the one definition of the poster: Compose frames each shot at "
        "its panel's aspect (the top panel is 16:9) and Shot Poster Layout lays them out on the "
        "same panels, so nothing is re-cut. With beyond_photo 'when needed', a 16:9 "
        "establishing shot that the photo cannot hold with room around the subject reaches past "
        "the photo's edges; Crop By Shot pads it with the edge pixels and its outpaint_mask (1 on "
        "the padding, feathered 16 px) tells VAE Encode (for Inpainting) what to fill. A shot "
        "inside the photo gets an empty mask: the sampler then repaints nothing.")


class Workflow:
    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def node(self, kind: str, pos, size, widgets=(), inputs=(), outputs=(), ours=True,
             props=None) -> int:
        nid = len(self.nodes) + 1
        self.nodes.append({
            "id": nid, "type": kind, "pos": list(pos), "size": list(size), "flags": {},
            "order": nid - 1, "mode": 0,
            "inputs": [dict(name=n, type=t, link=None, **({"widget": {"name": n}} if w else {}))
                       for n, t, w in inputs],
            "outputs": [{"name": n, "type": t, "links": None, "slot_index": i}
                        for i, (n, t) in enumerate(outputs)],
            "properties": {"Node name for S&R": kind, **({"cnr_id": "shotcrop"} if ours else {}),
                           **(props or {})},
            "widgets_values": list(widgets)})
        return nid

    def link(self, src: int, out: int, dst: int, inp: str) -> None:
        lid = len(self.links) + 1
        a, b = self.nodes[src - 1], self.nodes[dst - 1]
        slot = next(i for i, x in enumerate(b["inputs"]) if x["name"] == inp)
        kind = a["outputs"][out]["type"]
        b["inputs"][slot]["link"] = lid
        a["outputs"][out]["links"] = (a["outputs"][out]["links"] or []) + [lid]
        self.links.append([lid, src, out, dst, slot, kind])

    def save(self, path: Path, name: str, description: str) -> None:
        data = {"id": "00000000-0000-0000-0000-0000b0e4a7c1", "revision": 0,
                "last_node_id": len(self.nodes), "last_link_id": len(self.links),
                "nodes": self.nodes, "links": self.links, "groups": [], "config": {},
                "extra": {"ds": {"scale": 0.6, "offset": [20, 20]},
                          "info": {"name": name, "description": description}},
                "version": 0.4}
        path.write_text(json.dumps(data, indent=2) + "\n")


CROP_OUT = [("image", "IMAGE"), ("mask", "MASK"), ("box_json", "STRING"),
            ("bbox", "BOUNDING_BOX"), ("outpaint_mask", "MASK")]


def build() -> Workflow:
    w = Workflow()
    photo = w.node("LoadImage", (40, 120), (320, 360), ["photo.jpg", "image"], ours=False,
                   outputs=[("IMAGE", "IMAGE"), ("MASK", "MASK")])
    model = w.node("ShotCropLoadModel", (40, 540), (380, 200),
                   ["framing: NanoDet + MoveNet (built in, no download)", "auto", "auto", "sdpa",
                    "none", "keep"], outputs=[("model", "SHOTCROP_MODEL")])
    sheet = w.node("ShotCropSheet", (40, 800), (320, 180), SHEET,
                   outputs=[("sheet", "SHOTCROP_SHEET")])
    compose = w.node("ShotCropTripleShotCompose", (460, 120), (400, 560),
                     ["16:9", "4:5", "1:1", "", -1, 0, "when needed", 0.5],
                     inputs=[("image", "IMAGE", False), ("model", "SHOTCROP_MODEL", False),
                             ("pose_keypoint", "POSE_KEYPOINT", False),
                             ("sheet", "SHOTCROP_SHEET", False)],
                     outputs=[("shots", "SHOTS"), ("preview", "IMAGE"), ("shots_json", "STRING"),
                              ("images", "IMAGE")])
    crops = {}
    for i, (name, fit, side, snap, feather) in enumerate(
            (("establishing", "long_side", 1024, "64", 16), ("medium", "native", 1024, "1", 0),
             ("close_up", "native", 1024, "1", 0))):
        crops[name] = w.node("ShotCropCropByShot", (900, 40 + 420 * i), (340, 360),
                             [name, fit, 1024, 1024, side, snap, "", "first", "edge", feather],
                             inputs=[("image", "IMAGE", False), ("shots", "SHOTS", False)],
                             outputs=CROP_OUT)
    ckpt = w.node("CheckpointLoaderSimple", (40, 1040), (380, 100), [CHECKPOINT], ours=False,
                  outputs=[("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")])
    prompt = w.node("ShotCropShotToPrompt", (1280, 40), (380, 260),
                    ["establishing", "a cinematic {shot} photograph, {description}, {style}",
                     "35mm film, natural light, sharp focus", "", "", 0],
                    inputs=[("shots", "SHOTS", False)], outputs=[("prompt", "STRING")])
    positive = w.node("CLIPTextEncode", (1700, 40), (360, 120), [""], ours=False,
                      inputs=[("text", "STRING", True), ("clip", "CLIP", False)],
                      outputs=[("CONDITIONING", "CONDITIONING")])
    negative = w.node("CLIPTextEncode", (460, 1040), (400, 160),
                      ["blurry, lowres, deformed, watermark, text, frame, border, seam"],
                      ours=False, inputs=[("clip", "CLIP", False)],
                      outputs=[("CONDITIONING", "CONDITIONING")])
    encode = w.node("VAEEncodeForInpaint", (1700, 220), (300, 100), [6], ours=False,
                    inputs=[("pixels", "IMAGE", False), ("vae", "VAE", False),
                            ("mask", "MASK", False)], outputs=[("LATENT", "LATENT")])
    sampler = w.node("KSampler", (2100, 40), (320, 270),
                     [42, "fixed", 25, 7.0, "euler", "normal", 1.0], ours=False,
                     inputs=[("model", "MODEL", False), ("positive", "CONDITIONING", False),
                             ("negative", "CONDITIONING", False),
                             ("latent_image", "LATENT", False)],
                     outputs=[("LATENT", "LATENT")])
    decode = w.node("VAEDecode", (2460, 40), (220, 50), ours=False,
                    inputs=[("samples", "LATENT", False), ("vae", "VAE", False)],
                    outputs=[("IMAGE", "IMAGE")])
    layout = w.node("ShotCropPosterLayout", (2460, 300), (360, 420), SHEET + ["#ffffff"],
                    inputs=[("establishing", "IMAGE", False), ("medium", "IMAGE", False),
                            ("close_up", "IMAGE", False), ("shots", "SHOTS", False),
                            ("image", "IMAGE", False), ("sheet", "SHOTCROP_SHEET", False)],
                    outputs=[("image", "IMAGE")])
    save = w.node("SaveImage", (2880, 300), (400, 420), ["ShotCrop/outpaint_poster"], ours=False,
                  inputs=[("images", "IMAGE", False)])
    w.node("Note", (40, 1200), (380, 300), [NOTE], ours=False)

    w.link(photo, 0, compose, "image")
    w.link(model, 0, compose, "model")
    w.link(sheet, 0, compose, "sheet")
    for c in crops.values():
        w.link(photo, 0, c, "image")
        w.link(compose, 0, c, "shots")
    w.link(compose, 0, prompt, "shots")
    w.link(prompt, 0, positive, "text")
    w.link(ckpt, 1, positive, "clip")
    w.link(ckpt, 1, negative, "clip")
    w.link(crops["establishing"], 0, encode, "pixels")
    w.link(ckpt, 2, encode, "vae")
    w.link(crops["establishing"], 4, encode, "mask")
    w.link(ckpt, 0, sampler, "model")
    w.link(positive, 0, sampler, "positive")
    w.link(negative, 0, sampler, "negative")
    w.link(encode, 0, sampler, "latent_image")
    w.link(sampler, 0, decode, "samples")
    w.link(ckpt, 2, decode, "vae")
    w.link(decode, 0, layout, "establishing")
    w.link(crops["medium"], 0, layout, "medium")
    w.link(crops["close_up"], 0, layout, "close_up")
    w.link(sheet, 0, layout, "sheet")
    w.link(layout, 0, save, "images")
    return w


def main() -> None:
    build().save(OUT, "Outpainted establishing shot on a poster",
                 "One Shot Sheet (poster 1920x1820) frames the shots at their panels' aspects "
                 "and lays them out. The 16:9 establishing shot may reach past the photo "
                 "(beyond_photo: when needed); Crop By Shot pads it and its outpaint mask drives "
                 "VAE Encode (for Inpainting) and a KSampler with an inpainting checkpoint "
                 "(put one in models/checkpoints and pick it in Load Checkpoint).")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
